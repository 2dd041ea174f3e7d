import { appSlots, productionEnvironment } from "../../db/queries/apps.ts";
import { readEnvVars } from "../../db/queries/env.ts";
import { lastLiveReleaseId } from "../../db/queries/processes.ts";
import { findRelease } from "../../db/queries/releases.ts";
import { createMasker } from "../../domain/masking.ts";
import { JobFailed, type JobHandler } from "../orchestrator.ts";
import { runSteps } from "../runner.ts";
import { knownSecrets } from "../secrets.ts";
import { GO_LIVE } from "../steps/go-live.ts";
import { planGoLive } from "../targets/app.ts";
import { requireApp } from "./app-job.ts";

/**
 * Restarts the live release with no downtime: it boots again in the idle slot and takes the
 * traffic blue-green. After a stop, the release that was live last comes back.
 */
export const restartHandler: JobHandler = {
  steps: () => GO_LIVE.map((s) => s.name),
  async run(ctx) {
    const app = requireApp(ctx);
    const rows = await appSlots(ctx.services.db, app.id);
    // After a stop both slots keep a release: the one that took the traffic last comes back, not the standby's.
    const last = await lastLiveReleaseId(ctx.services.db, app.id);
    const slot =
      rows.find((s) => s.state === "live") ??
      rows.find((s) => last !== null && s.releaseId === last) ??
      rows.find((s) => s.releaseId && s.state !== "empty");
    if (!slot?.releaseId) throw new JobFailed("Nothing to restart: the app has no release running or stopped.");
    const release = await findRelease(ctx.services.db, app.id, slot.releaseId);
    if (!release || release.pruned) throw new JobFailed("The release of that slot is no longer on disk; deploy again.");
    // What the slot prints on a failed start is shown in the log: masked with every kept release's secrets.
    const current = await readEnvVars(ctx.services.db, ctx.services.masterKey, (await productionEnvironment(ctx.services.db, app.id)).id);
    ctx.maskWith(createMasker(await knownSecrets(ctx.services, app.id, current)));
    const g = await planGoLive(ctx.services, app, release);
    // The same release in the standby slot is not a fresh start: restart means new processes.
    g.warm = false;
    await runSteps(ctx, GO_LIVE, g);
    return { releaseId: release.id, color: g.to };
  },
};
