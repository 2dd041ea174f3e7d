import { z } from "zod";
import { PROCESS_TYPE_PATTERN } from "../../contract/api.ts";
import { stopGraceSeconds } from "../../domain/formation.ts";
import { createMasker } from "../../domain/masking.ts";
import { applySlotWorkers, currentSecrets, liveSlot, workersLine } from "../formation.ts";
import { JobFailed, type JobHandler } from "../orchestrator.ts";
import { runSteps, type Step } from "../runner.ts";
import { requireApp } from "./app-job.ts";

const params = z.discriminatedUnion("action", [
  z.object({ action: z.literal("apply") }),
  z.object({ action: z.enum(["restart", "stop", "start"]), type: z.string().regex(PROCESS_TYPE_PATTERN) }),
]);

/**
 * Changes the live slot's workers in place (web changes go blue-green through the restart job):
 * `apply` runs them as the formation now says, `restart` replaces one type instance by instance,
 * `stop` and `start` follow the type's stopped flag, which the route has already saved.
 */
const workersStep: Step<z.infer<typeof params>> = {
  name: "workers",
  async run(ctx, what) {
    const app = requireApp(ctx);
    const { slot, release } = await liveSlot(ctx.services, app);
    if (!slot || !release) {
      ctx.log("The app is not live: the formation is saved and applies at its next deploy or start.");
      return;
    }
    ctx.maskWith(createMasker(await currentSecrets(ctx.services, app)));
    if (what.action === "restart") {
      ctx.log(`Restarting ${what.type} in the ${slot.color} slot, one instance at a time.`);
      await ctx.services.runtime.restartWorkers(app.name, slot.color, what.type);
      ctx.log(`${what.type} restarted.`);
      return;
    }
    if (what.action === "stop") {
      await ctx.services.runtime.stopWorkers(app.name, slot.color, { types: [what.type], graceMs: stopGraceSeconds(app) * 1000 });
      ctx.log(`Stopped ${what.type} in the ${slot.color} slot; it stays stopped across deploys until started.`);
      return;
    }
    const running = await applySlotWorkers(ctx.services, app, slot.color, release, ctx.log);
    ctx.log(
      running.length > 0
        ? `The ${slot.color} slot (v${release.number}) runs ${workersLine(running)}.`
        : `The ${slot.color} slot (v${release.number}) runs no workers.`,
    );
  },
};

export const scaleHandler: JobHandler = {
  steps: () => [workersStep.name],
  async run(ctx) {
    const parsed = params.safeParse(ctx.job.params);
    if (!parsed.success) throw new JobFailed("This job does not say what to change.");
    await runSteps(ctx, [workersStep], parsed.data);
  },
};
