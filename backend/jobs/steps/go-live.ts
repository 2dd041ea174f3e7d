import type { Step } from "../runner.ts";
import type { GoLive } from "../targets/types.ts";
import { drainStep } from "./drain.ts";
import { healthStep } from "./health.ts";
import { retainStep } from "./retain.ts";
import { startStep } from "./start.ts";
import { switchStep } from "./switch.ts";
import { watchStep } from "./watch.ts";
import { workersStep } from "./workers.ts";

/** start → health → switch → workers → drain → watch → retain: how an app's release goes live. */
export const GO_LIVE: readonly Step<GoLive>[] = [startStep, healthStep, switchStep, workersStep, drainStep, watchStep, retainStep];

/** The panel's own release goes live the same way; it has no worker processes. */
export const PANEL_GO_LIVE: readonly Step<GoLive>[] = GO_LIVE.filter((step) => step !== workersStep);

/** The go-live steps over a larger state that carries its GoLive (a deploy's, once released). */
export function goLiveOver<S>(pick: (state: S) => GoLive | undefined, steps: readonly Step<GoLive>[] = GO_LIVE): Step<S>[] {
  const of = (state: S): GoLive => {
    const g = pick(state);
    if (!g) throw new Error("go-live step before the release was planned");
    return g;
  };
  return steps.map((step) => ({
    name: step.name,
    ...(step.skip ? { skip: (ctx, state: S) => step.skip?.(ctx, of(state)) ?? null } : {}),
    run: (ctx, state: S) => step.run(ctx, of(state)),
    ...(step.undo ? { undo: (ctx, state: S) => step.undo?.(ctx, of(state)) ?? Promise.resolve() } : {}),
  }));
}
