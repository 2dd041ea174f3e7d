import type { Step } from "../runner.ts";
import type { GoLive } from "../targets/types.ts";

/** Keeps the last good releases (and whatever a slot runs); older ones are removed from disk. */
export const retainStep: Step<GoLive> = {
  name: "retain",
  async run(ctx, g) {
    await g.target.retain(ctx, g);
    await ctx.intend(null);
  },
};
