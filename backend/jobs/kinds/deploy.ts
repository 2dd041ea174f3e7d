import { removeDir } from "../../adapters/release-store.ts";
import { isFullSha } from "../../commands/git.ts";
import { findAppById, productionEnvironment } from "../../db/queries/apps.ts";
import { readEnvVars } from "../../db/queries/env.ts";
import { createMasker } from "../../domain/masking.ts";
import { type BuildSlot, holdBuildSlot } from "../build-slots.ts";
import { reportCommitStatus } from "../commit-status.ts";
import { notifyDeployFinished } from "../notification-sources.ts";
import { JobFailed, type JobHandler } from "../orchestrator.ts";
import { appPaths } from "../paths.ts";
import { runSteps, type Step } from "../runner.ts";
import { knownSecrets } from "../secrets.ts";
import { buildStep } from "../steps/build.ts";
import type { DeployState } from "../steps/build-state.ts";
import { detectStep } from "../steps/detect.ts";
import { fetchStep } from "../steps/fetch.ts";
import { goLiveOver } from "../steps/go-live.ts";
import { installStep } from "../steps/install.ts";
import { releaseStep } from "../steps/release.ts";
import { releaseCommandStep } from "../steps/release-command.ts";
import * as store from "../store.ts";

/** fetch → detect → install → build → release → release-command, then the release goes live. */
export const DEPLOY: readonly Step<DeployState>[] = [
  fetchStep,
  detectStep,
  installStep,
  buildStep,
  releaseStep,
  releaseCommandStep,
  ...goLiveOver<DeployState>((s) => s.golive),
];

/**
 * The steps, with the build slot given back once the release step is done and recorded: as the
 * step after it begins, so the next build's fetch never starts before this release has finished.
 */
function releasingAfterBuild(steps: readonly Step<DeployState>[], slot: BuildSlot): Step<DeployState>[] {
  const after = steps.indexOf(releaseStep) + 1;
  return steps.map((step, i) => {
    if (i !== after || after === 0) return step;
    const skip = step.skip?.bind(step);
    return {
      name: step.name,
      run: step.run.bind(step),
      ...(step.undo ? { undo: step.undo.bind(step) } : {}),
      async skip(ctx, state) {
        await slot.release();
        return skip ? skip(ctx, state) : null;
      },
    };
  });
}

export const deployHandler: JobHandler = {
  steps: () => DEPLOY.map((s) => s.name),
  async run(ctx) {
    const { db, config, masterKey } = ctx.services;
    const app = ctx.app;
    if (!app) throw new JobFailed("The app no longer exists.");
    const environment = await productionEnvironment(db, app.id);
    const vars = await readEnvVars(db, masterKey, environment.id);
    ctx.maskWith(createMasker(await knownSecrets(ctx.services, app.id, vars)));
    const paths = appPaths(config.dataDir, app.name);
    const buildId = await store.createBuild(ctx.services, app.id, ctx.job.id);
    const state: DeployState = { app, environment, vars, paths, buildId, buildDir: paths.build(ctx.job.id) };
    await store.setAppStatus(ctx.services, app, "building");
    try {
      // Fetch to release runs inside a build slot (the build concurrency); going live does not wait for one.
      const slot = await holdBuildSlot(ctx);
      try {
        await runSteps(ctx, releasingAfterBuild(DEPLOY, slot), state);
      } finally {
        await slot.release();
      }
    } catch (error) {
      const cancelled = ctx.signal.aborted;
      const ref = typeof ctx.job.params.ref === "string" ? ctx.job.params.ref : null;
      // A branch or tag name is no commit to report on.
      const sha = state.commit?.sha ?? (ref && isFullSha(ref) ? ref : null);
      if (sha) {
        const why = cancelled ? "Deploy cancelled" : `Deploy failed: ${(error as Error).message}`;
        await reportCommitStatus(ctx, app, sha, cancelled ? "error" : "failure", why);
      }
      removeDir(state.buildDir);
      await store.updateBuild(ctx.services, buildId, { status: cancelled ? "cancelled" : "failed", finishedAt: new Date() });
      await store.settleAppStatus(ctx.services, app.id);
      throw error;
    }
    await store.updateBuild(ctx.services, buildId, { status: "succeeded", finishedAt: new Date() });
    const release = state.release;
    const g = state.golive;
    if (!release || !g) throw new Error("deploy finished without a release");
    await reportCommitStatus(ctx, app, release.commitSha, "success", `Live as v${release.number} (${g.to} slot)`);
    return { releaseId: release.id, releaseNumber: release.number, commitSha: release.commitSha, color: g.to, switchMs: g.switchMs ?? 0 };
  },
  /** Tells the channels how it ended, from the panel that ran it. */
  async finished(job, services) {
    const app = job.appId ? await findAppById(services.db, job.appId) : null;
    if (app) await notifyDeployFinished(services, job, app);
  },
};
