/**
 * A job is a list of steps. Each step is a small unit in its own file: `run` does its work,
 * `undo` takes back what a completed step did when a later one fails or the job is cancelled,
 * and `skip` says why a step is not needed this time. One runner runs every list.
 */
import type { JobContext } from "./orchestrator.ts";

export interface Step<S> {
  readonly name: string;
  /** A reason not to run this time (shown on the step), or null to run it. */
  skip?(ctx: JobContext, state: S): string | null | Promise<string | null>;
  run(ctx: JobContext, state: S): Promise<void>;
  undo?(ctx: JobContext, state: S): Promise<void>;
}

/** Runs the steps in order; on failure or cancel, undoes the completed ones in reverse, then re-throws. */
export async function runSteps<S>(ctx: JobContext, steps: readonly Step<S>[], state: S): Promise<void> {
  const done: Step<S>[] = [];
  try {
    for (const step of steps) {
      ctx.throwIfCancelled();
      const why = step.skip ? await step.skip(ctx, state) : null;
      if (why) {
        await ctx.skip(step.name, why);
        continue;
      }
      await ctx.step(step.name, () => step.run(ctx, state));
      done.push(step);
    }
  } catch (error) {
    for (const step of done.reverse()) {
      if (!step.undo) continue;
      try {
        await step.undo(ctx, state);
      } catch (undoError) {
        ctx.log(`Undoing ${step.name} failed: ${(undoError as Error).message}`);
      }
    }
    throw error;
  }
}
