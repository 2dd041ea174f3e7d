import { JobFailed } from "../orchestrator.ts";
import type { Step } from "../runner.ts";
import type { GoLive } from "../targets/types.ts";

/**
 * Probes the new slot until it answers healthy `successes` times in a row (from its own process),
 * its process dies, or the timeout passes. Each kind of refusal is logged once, so the log says
 * why it never became healthy.
 */
export const healthStep: Step<GoLive> = {
  name: "health",
  skip: (_ctx, g) => (g.warm ? "the warm standby was healthy when it was live" : null),
  async run(ctx, g) {
    const { timeoutMs, intervalMs, successes } = g.target.health;
    const started = performance.now();
    const deadline = Date.now() + timeoutMs;
    let streak = 0;
    let last = "";
    while (Date.now() < deadline) {
      ctx.throwIfCancelled();
      const probe = await g.target.probe(ctx, g);
      if (probe.ok) {
        if (++streak >= successes) {
          ctx.log(`Healthy: ${probe.detail} after ${Math.round(performance.now() - started)} ms`);
          return;
        }
      } else {
        if (probe.dead) throw new JobFailed(probe.dead);
        streak = 0;
        if (probe.problem !== last) ctx.log(probe.problem);
        last = probe.problem;
      }
      await Bun.sleep(intervalMs);
    }
    throw new JobFailed(
      `${g.target.label} did not become healthy within ${Math.round(timeoutMs / 1000)} s (last: ${last || "no answer"}).`,
    );
  },
};
