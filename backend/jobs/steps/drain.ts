import type { Step } from "../runner.ts";
import type { GoLive } from "../targets/types.ts";

/** The old slot lets its kept-alive connections go and finishes what is in flight; it stays warm. */
export const drainStep: Step<GoLive> = {
  name: "drain",
  skip: (_ctx, g) => (g.from ? null : "there was no previous slot"),
  run: (ctx, g) => g.target.drain(ctx, g),
};
