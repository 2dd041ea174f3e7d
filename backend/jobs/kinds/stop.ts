import { appSlots } from "../../db/queries/apps.ts";
import { stopGraceSeconds } from "../../domain/formation.ts";
import type { JobHandler } from "../orchestrator.ts";
import { runSteps, type Step } from "../runner.ts";
import * as store from "../store.ts";
import { requireApp } from "./app-job.ts";

const stopSlots: Step<null> = {
  name: "stop",
  async run(ctx) {
    const app = requireApp(ctx);
    // The app's drain seconds, as for every stop of its processes.
    const graceMs = stopGraceSeconds(app) * 1000;
    for (const slot of await appSlots(ctx.services.db, app.id)) {
      // Workers first, so none keeps working against a stopped web; stop then ends the web instances.
      await ctx.services.runtime.stopWorkers(app.name, slot.color, { graceMs });
      await ctx.services.runtime.stop(app.name, slot.color, { graceMs });
      if (slot.state !== "empty" && slot.state !== "stopped") await store.moveSlot(ctx.services, app, slot.color, "stop");
      ctx.log(`Stopped the ${slot.color} slot.`);
    }
    await store.recordStop(ctx.services, app, { at: new Date(), jobId: ctx.job.id });
    await store.setAppStatus(ctx.services, app, "stopped");
  },
};

/** Stops both slots, web and workers; the app stays configured and can be deployed or started again. */
export const stopHandler: JobHandler = {
  steps: () => [stopSlots.name],
  async run(ctx) {
    await runSteps(ctx, [stopSlots], null);
  },
};
