import { productionEnvironment } from "../../db/queries/apps.ts";
import { readEnvVars } from "../../db/queries/env.ts";
import { findRelease } from "../../db/queries/releases.ts";
import { createMasker } from "../../domain/masking.ts";
import { JobFailed, type JobHandler } from "../orchestrator.ts";
import { runSteps } from "../runner.ts";
import { knownSecrets } from "../secrets.ts";
import { GO_LIVE } from "../steps/go-live.ts";
import { planGoLive } from "../targets/app.ts";
import { requireApp } from "./app-job.ts";

/**
 * Puts a kept release back. When it is the warm standby this is only the switch; otherwise it
 * boots in the idle slot first (start → health → switch), as a deploy does.
 */
export const rollbackHandler: JobHandler = {
  steps: () => GO_LIVE.map((s) => s.name),
  async run(ctx) {
    const app = requireApp(ctx);
    const release = await findRelease(ctx.services.db, app.id, String(ctx.job.params.releaseId ?? ""));
    if (!release) throw new JobFailed("That release does not belong to this app.");
    if (release.pruned) throw new JobFailed(`v${release.number} was pruned; only the last kept releases can be put back.`);
    ctx.log(`Rolling back to v${release.number} (${release.commitSha.slice(0, 12)}).`);
    // What the slot prints on a failed start is shown in the log: masked with every kept release's secrets.
    const current = await readEnvVars(ctx.services.db, ctx.services.masterKey, (await productionEnvironment(ctx.services.db, app.id)).id);
    ctx.maskWith(createMasker(await knownSecrets(ctx.services, app.id, current)));
    const g = await planGoLive(ctx.services, app, release);
    await runSteps(ctx, GO_LIVE, g);
    return { releaseId: release.id, color: g.to, warm: g.warm, switchMs: g.switchMs ?? 0 };
  },
};
