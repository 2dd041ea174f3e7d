import { describe, expect, test } from "bun:test";
import { mergeSteps, type StepEvent, stepTime } from "../../app/src/lib/steps.ts";
import type { JobStep } from "../../backend/contract/api.ts";

const step = (name: string, overrides: Partial<JobStep> = {}): JobStep => ({
  name,
  status: "pending",
  message: null,
  startedAt: null,
  finishedAt: null,
  durationMs: null,
  ...overrides,
});
const event = (step: string, status: StepEvent["status"], position: number, at = "2026-01-01T00:10:00.000Z"): StepEvent => ({
  step,
  status,
  position,
  at,
});

describe("job steps in the GUI", () => {
  test("a later step event moves an older server answer on; the server's timings stay", () => {
    const listed = [
      step("fetch", { status: "running", startedAt: "2026-01-01T00:00:00.000Z" }),
      step("start", { status: "running", startedAt: "2026-01-01T00:00:01.000Z" }),
      step("health"),
    ];
    const merged = mergeSteps(listed, [event("fetch", "succeeded", 0), event("start", "succeeded", 1), event("health", "running", 2)]);
    expect(merged.map((s) => s.status)).toEqual(["succeeded", "succeeded", "running"]);
    expect(merged[0]?.startedAt).toBe("2026-01-01T00:00:00.000Z");
    expect(merged[0]?.finishedAt).toBeNull();
    expect(merged[2]?.startedAt).toBe("2026-01-01T00:10:00.000Z");
  });

  test("an event never moves a step back", () => {
    const listed = [step("fetch", { status: "succeeded", startedAt: "2026-01-01T00:00:00.000Z", finishedAt: "2026-01-01T00:00:02.000Z" })];
    expect(mergeSteps(listed, [event("fetch", "running", 0)])).toEqual(listed);
  });

  test("a step the server has not listed yet goes in at its position", () => {
    const merged = mergeSteps([step("fetch"), step("build")], [event("detect", "running", 1)]);
    expect(merged.map((s) => s.name)).toEqual(["fetch", "detect", "build"]);
  });

  test("each step's time is its own start to its own end", () => {
    const start = step("start", { status: "succeeded", startedAt: "2026-01-01T00:00:00.000Z", finishedAt: "2026-01-01T00:00:01.500Z" });
    const health = step("health", { status: "succeeded", startedAt: "2026-01-01T00:00:01.500Z", finishedAt: "2026-01-01T00:01:01.500Z" });
    expect(stepTime(start, "switch", 0)).toBe(1_500);
    expect(stepTime(health, "switch", 0)).toBe(60_000);
  });

  test("a skipped step shows as skipped, a finished step not timed yet has no time", () => {
    expect(stepTime(step("build", { status: "skipped", startedAt: "2026-01-01T00:00:00.000Z" }), null, 0)).toBe("skipped");
    expect(stepTime(step("drain", { status: "succeeded", startedAt: "2026-01-01T00:00:00.000Z" }), null, 0)).toBeNull();
  });

  test("only the current step counts its time so far", () => {
    const running = step("health", { status: "running", startedAt: "2026-01-01T00:00:00.000Z" });
    const now = Date.parse("2026-01-01T00:00:12.000Z");
    expect(stepTime(running, "health", now)).toBe(12_000);
    expect(stepTime({ ...running, name: "fetch" }, "health", now)).toBeNull();
  });
});
