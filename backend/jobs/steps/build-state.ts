import { join } from "node:path";
import { machineCaBundle } from "../../adapters/npm-registry.ts";
import type { EnvVarValue } from "../../db/queries/env.ts";
import type { App, Environment, Release } from "../../db/schema/index.ts";
import type { DetectResult } from "../../domain/detect.ts";
import type { AppPaths } from "../paths.ts";
import type { ReleaseRuntimes, ResolvedRuntimes } from "../runtimes.ts";
import type { GoLive } from "../targets/types.ts";

/** What a deploy's steps hand each other. */
export interface DeployState {
  app: App;
  environment: Environment;
  vars: EnvVarValue[];
  paths: AppPaths;
  buildId: string;
  buildDir: string;
  commit?: { sha: string; author: string; message: string };
  detected?: DetectResult;
  /** The exact runtime versions the app asks for (detect), then installed (install). */
  resolved?: ResolvedRuntimes;
  runtimes?: ReleaseRuntimes;
  /** Bin directories of package managers installed from npm for this build. */
  toolBins?: string[];
  release?: Release;
  /** Set by the release step: where and how the new release goes live. */
  golive?: GoLive;
}

/** The machine's TLS trust and proxy for the build's downloads, unless the app sets its own. */
function trust(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const ca = machineCaBundle();
  if (ca && !env.NODE_EXTRA_CA_CERTS) out.NODE_EXTRA_CA_CERTS = ca;
  for (const key of ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"]) {
    const value = process.env[key];
    if (value && env[key] === undefined) out[key] = value;
  }
  return out;
}

/** The environment build commands see: the app's variables plus what tooling needs. */
export function buildEnv(state: DeployState): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of state.vars) env[v.key] = v.value;
  return {
    ...env,
    PATH: `${state.buildDir}/node_modules/.bin:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`,
    HOME: process.env.HOME ?? "/tmp",
    CI: "1",
    BUN_INSTALL_CACHE_DIR: state.paths.bunCache,
    npm_config_cache: `${state.paths.bunCache}/../npm`,
    ...trust(env),
    NO_COLOR: env.NO_COLOR ?? "",
    FORCE_COLOR: env.FORCE_COLOR ?? "1",
  };
}

/** Where the app's own commands run in the build dir: its root directory in a monorepo. */
export function appDir(state: DeployState): string {
  return state.detected?.rootDir ? join(state.buildDir, state.detected.rootDir) : state.buildDir;
}

/** PATH entries of the build's commands after the directory's own node_modules/.bin: the workspace root's bins, package managers, pinned runtimes. */
export function buildBinDirs(state: DeployState): string[] {
  const root = state.detected?.rootDir ? [join(state.buildDir, "node_modules", ".bin")] : [];
  return [...root, ...(state.toolBins ?? []), ...(state.runtimes?.binDirs ?? [])];
}
