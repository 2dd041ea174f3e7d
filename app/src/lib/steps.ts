/** A job's steps as the GUI shows them: the server's rows moved on by step events, and each step's own time. */
// Relative, not $contract: the unit tests load this file without SvelteKit's aliases.
import type { JobStep, StepStatus } from "../../../backend/contract/api.ts";

/** The latest `job.step` event of one step, and when it arrived. */
export interface StepEvent {
  step: string;
  status: StepStatus;
  position: number;
  at: string;
}

function rank(status: StepStatus): number {
  return status === "pending" ? 0 : status === "running" ? 1 : 2;
}

/**
 * The server's steps, each moved on to what a later step event says (an answer may be older than
 * the stream). Timings stay the server's; a step seen running before the server listed it keeps
 * the event's time as its start, only to count its elapsed time.
 */
export function mergeSteps(listed: readonly JobStep[], events: readonly StepEvent[]): JobStep[] {
  const steps = listed.map((s) => {
    const event = events.find((e) => e.step === s.name);
    if (!event || rank(event.status) <= rank(s.status)) return s;
    return { ...s, status: event.status, startedAt: s.startedAt ?? (event.status === "running" ? event.at : null) };
  });
  const unlisted = events.filter((e) => !listed.some((s) => s.name === e.step)).sort((a, b) => a.position - b.position);
  for (const e of unlisted) {
    const step: JobStep = {
      name: e.step,
      status: e.status,
      message: null,
      startedAt: e.status === "running" ? e.at : null,
      finishedAt: null,
      durationMs: null,
    };
    steps.splice(Math.min(e.position, steps.length), 0, step);
  }
  return steps;
}

/**
 * What a step took in ms, from its own start and end: "skipped" for a skipped step, the time so
 * far for the running one (`current`), null for a step not started or not timed yet.
 */
export function stepTime(step: JobStep, current: string | null, now: number): number | "skipped" | null {
  if (step.status === "skipped") return "skipped";
  if (!step.startedAt) return null;
  const started = Date.parse(step.startedAt);
  if (step.finishedAt) return Math.max(0, Date.parse(step.finishedAt) - started);
  if (step.name === current && step.status === "running") return Math.max(0, now - started);
  return null;
}
