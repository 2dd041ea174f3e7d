import { JobFailed } from "../orchestrator.ts";
import type { Step } from "../runner.ts";
import type { GoLive } from "../targets/types.ts";

/**
 * For a window after the switch the target judges the new slot (5xx share, process health);
 * past its threshold the traffic goes back to the standby (intent first), and the job says why.
 */
export const watchStep: Step<GoLive> = {
  name: "watch",
  skip: (_ctx, g) => (!g.from ? "nothing to compare with or fall back to" : g.target.watchMs <= 0 ? "the watch is turned off" : null),
  async run(ctx, g) {
    const from = g.from;
    if (!from) return;
    const until = (g.switchedAt ?? Date.now()) + g.target.watchMs;
    let summary = "";
    while (Date.now() < until) {
      ctx.throwIfCancelled();
      await Bun.sleep(Math.min(g.target.watchTickMs, Math.max(0, until - Date.now())));
      const look = await g.target.look(ctx, g);
      summary = look.summary;
      if (look.revert) {
        await ctx.intend(g.target.intent("revert", g));
        await g.target.route(ctx, from);
        await g.target.recordRevert(ctx, g, look.revert);
        g.switchedAt = undefined;
        await ctx.intend(null);
        throw new JobFailed(`Rolled back automatically to the ${from} slot: ${look.revert.reason}.`, look.revert.details);
      }
      if (look.stop) {
        ctx.log(look.stop);
        return;
      }
    }
    ctx.log(`Watch passed${summary ? `: ${summary}` : ""}.`);
  },
};
