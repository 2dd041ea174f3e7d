import { productionEnvironment } from "../../db/queries/apps.ts";
import { readEnvVars } from "../../db/queries/env.ts";
import { releaseCommandInfo } from "../../db/queries/release-command.ts";
import type { App, Release } from "../../db/schema/index.ts";
import { createMasker } from "../../domain/masking.ts";
import { JobFailed, type JobHandler } from "../orchestrator.ts";
import { runSteps, type Step } from "../runner.ts";
import { knownSecrets } from "../secrets.ts";
import { RELEASE_COMMAND_STEP, runReleaseCommand } from "../steps/release-command.ts";
import { requireApp } from "./app-job.ts";

interface RerunState {
  app: App;
  release: Release;
  command: string;
}

const rerunStep: Step<RerunState> = {
  name: RELEASE_COMMAND_STEP,
  run: (ctx, s) => runReleaseCommand(ctx, s.app, s.release, s.command),
};

/**
 * Runs the live release's release command again, in its directory with its env snapshot; nothing
 * is started or switched. The app's jobs run one at a time, so it never overlaps a deploy.
 */
export const releaseCommandHandler: JobHandler = {
  steps: () => [RELEASE_COMMAND_STEP],
  async run(ctx) {
    const app = requireApp(ctx);
    const { command, live } = await releaseCommandInfo(ctx.services.db, app);
    if (!live) throw new JobFailed("The app has no live release to run the release command in; deploy it first.");
    if (live.pruned) throw new JobFailed(`The files of v${live.number} are no longer on disk; deploy again.`);
    if (!command) throw new JobFailed("The app has no release command: set one in its settings, or add a release: line to the Procfile.");
    const current = await readEnvVars(ctx.services.db, ctx.services.masterKey, (await productionEnvironment(ctx.services.db, app.id)).id);
    ctx.maskWith(createMasker(await knownSecrets(ctx.services, app.id, current)));
    await runSteps(ctx, [rerunStep], { app, release: live, command });
    return { releaseId: live.id, releaseNumber: live.number, command };
  },
};
