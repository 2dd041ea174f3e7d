import type { Step } from "../runner.ts";
import type { GoLive } from "../targets/types.ts";

/** The release boots in the idle slot; on a later failure the slot is stopped again. */
export const startStep: Step<GoLive> = {
  name: "start",
  skip: (_ctx, g) => (g.warm ? `${g.target.label} is already running warm in the ${g.to} slot` : null),
  async run(ctx, g) {
    await ctx.intend(g.target.intent("start", g));
    g.started = true;
    await g.target.start(ctx, g);
  },
  async undo(ctx, g) {
    // Once traffic is on it, the slot is the live one: never stopped from here.
    if (!g.started || g.switchedAt !== undefined) return;
    ctx.log(`Stopping the ${g.to} slot; ${g.from ? `the ${g.from} slot keeps serving` : "nothing was serving before"}.`);
    await g.target.unstart(ctx, g);
    await ctx.intend(null);
  },
};
