import { faultPoint } from "../fault.ts";
import { JobFailed } from "../orchestrator.ts";
import type { Step } from "../runner.ts";
import type { GoLive } from "../targets/types.ts";

/**
 * Traffic moves to the new slot (one symlink, no reload), a request through the proxy on a fresh
 * connection confirms the new slot answers, then the rows record it. The intent is written first:
 * a panel that dies in between is finished or undone by reconciliation.
 */
export const switchStep: Step<GoLive> = {
  name: "switch",
  async run(ctx, g) {
    await ctx.intend(g.target.intent("switch", g));
    const started = performance.now();
    await g.target.route(ctx, g.to);
    faultPoint("switch:routed");
    const problem = await g.target.confirm(ctx, g);
    if (problem) {
      if (g.from) await g.target.route(ctx, g.from);
      throw new JobFailed(`${problem}; traffic was moved back.`);
    }
    g.switchMs = performance.now() - started;
    g.switchedAt = Date.now();
    await g.target.recordSwitch(ctx, g);
    await ctx.intend(null);
    ctx.log(
      `Traffic moved to the ${g.to} slot (${g.target.label}) in ${g.switchMs.toFixed(1)} ms` +
        (g.from ? `; ${g.from} is the warm standby.` : "."),
    );
  },
  async undo(ctx, g) {
    if (g.switchedAt === undefined || !g.target.takeBack) return;
    await g.target.takeBack(ctx, g);
    g.switchedAt = undefined;
  },
};
