import { ensureDir, readEnvSnapshot } from "../../adapters/release-store.ts";
import type { App, Release } from "../../db/schema/index.ts";
import { parseEnvFile } from "../../domain/env.ts";
import { type JobContext, JobFailed } from "../orchestrator.ts";
import { appPaths } from "../paths.ts";
import type { Step } from "../runner.ts";
import * as store from "../store.ts";
import { volumeEnv, volumeMounts } from "../volumes.ts";
import type { DeployState } from "./build-state.ts";
import { runAppCommand } from "./user-command.ts";

export const RELEASE_COMMAND_STEP = "release-command";

/**
 * Runs the app's release command (migrations) in the release's directory, with the env snapshot
 * its slot gets (without PORT: nothing listens yet), within the app's build timeout.
 */
export async function runReleaseCommand(ctx: JobContext, app: App, release: Release, command: string): Promise<void> {
  const paths = appPaths(ctx.services.config.dataDir, app.name);
  let snapshot: Record<string, string>;
  try {
    snapshot = parseEnvFile(readEnvSnapshot(release.envFile));
  } catch (error) {
    throw new JobFailed(`The env snapshot of v${release.number} cannot be read (${(error as Error).message}); deploy again.`);
  }
  ensureDir(paths.builds);
  ctx.log(`Running the release command of v${release.number} in ${release.dir}`);
  await runAppCommand(ctx, {
    argv: ["/bin/sh", "-c", command],
    cwd: release.dir,
    env: { HOME: process.env.HOME ?? "/tmp", NODE_ENV: "production", ...snapshot, ...volumeEnv(ctx.services, app) },
    timeoutSec: app.buildTimeoutSec,
    // A migration may write the app's data (an SQLite file in a volume).
    writes: [release.dir, ...volumeMounts(ctx.services, app, release.dir).map((m) => m.dir)],
    // A build dir's pid file: reconciliation after a crash stops what is left of the command.
    pidFile: `${paths.build(ctx.job.id)}.pid`,
  });
}

/** Between release and start: a failure fails the deploy before anything is started or switched. */
export const releaseCommandStep: Step<DeployState> = {
  name: RELEASE_COMMAND_STEP,
  skip: (_ctx, state) =>
    state.detected?.release ? null : "No release command (set one in the app's settings, or add a release: line to the Procfile).",
  async run(ctx, state) {
    const { release, detected } = state;
    if (!release || !detected?.release) throw new Error("release-command step without a release");
    try {
      await runReleaseCommand(ctx, state.app, release, detected.release);
    } catch (error) {
      // The release never went live: it is no rollback target.
      await store.failRelease(ctx.services, release.id);
      throw error;
    }
  },
};
