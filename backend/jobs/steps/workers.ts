import type { Step } from "../runner.ts";
import type { GoLive } from "../targets/types.ts";

/**
 * Workers follow the traffic: once the new slot is live its workers start, then the old slot's
 * stop gracefully. When the traffic goes back (the watch's revert), so do the workers.
 */
export const workersStep: Step<GoLive> = {
  name: "workers",
  skip: async (ctx, g) =>
    g.target.startWorkers ? ((await g.target.workersIdle?.(ctx, g)) ?? null) : "this release runs no worker processes",
  async run(ctx, g) {
    g.workersMoved = true;
    await g.target.startWorkers?.(ctx, g);
  },
  async undo(ctx, g) {
    // The switch stands (the new release stays live): so do its workers.
    if (!g.workersMoved || g.switchedAt !== undefined || !g.target.restoreWorkers) return;
    await g.target.restoreWorkers(ctx, g);
    g.workersMoved = false;
  },
};
