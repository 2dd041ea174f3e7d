import { join } from "node:path";
import { readEnvSnapshot } from "../adapters/release-store.ts";
import type { App, Release } from "../db/schema/index.ts";
import { parseEnvFile } from "../domain/env.ts";
import type { Services } from "../services.ts";
import { runtimeBinDirs } from "./runtimes.ts";
import { toolsPath } from "./tools.ts";
import { volumeEnv } from "./volumes.ts";

/**
 * The environment every process of a release runs with (web instances, workers, cron runs): the
 * release's env snapshot, the volumes' paths, its pinned runtimes and the tools on PATH. The web
 * adds PORT and HOST; the rest run without a port.
 */
export function releaseProcessEnv(services: Services, app: App, release: Release): Record<string, string> {
  const snapshot = parseEnvFile(readEnvSnapshot(release.envFile));
  const bins = [...runtimeBinDirs(release.details), `${release.dir}/node_modules/.bin`];
  return {
    PATH: `${bins.join(":")}:${toolsPath(services.config.dataDir)}`,
    NODE_ENV: "production",
    ...snapshot,
    ...volumeEnv(services, app),
  };
}

/** Where a release's own commands run: its root directory within the checkout (a monorepo's package), else the checkout. */
export function releaseWorkDir(release: Pick<Release, "dir" | "details">): string {
  const rootDir = release.details?.rootDir;
  return typeof rootDir === "string" && rootDir !== "" ? join(release.dir, rootDir) : release.dir;
}
