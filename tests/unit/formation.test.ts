import { describe, expect, test } from "bun:test";
import {
  checkFormation,
  desiredFormation,
  formationChange,
  limitsReport,
  releaseProcessTypes,
  releaseWorkers,
  runnableWorkers,
  stopGraceSeconds,
  webInstances,
} from "../../backend/domain/formation.ts";

const details = { processes: { worker: "bun worker.ts", clock: "bun clock.ts" }, secretKeys: [] };

describe("process types of a release", () => {
  test("web first, then the Procfile's workers by name", () => {
    expect(releaseProcessTypes(details)).toEqual(["web", "clock", "worker"]);
  });
  test("no processes recorded: web alone", () => {
    expect(releaseProcessTypes(null)).toEqual(["web"]);
    expect(releaseProcessTypes({ processes: "nonsense" })).toEqual(["web"]);
  });
  test("web, release, malformed names and empty commands are not workers", () => {
    expect(releaseWorkers({ processes: { web: "x", release: "y", Worker: "z", "9x": "a", ok: " ", good: "run" } })).toEqual({
      good: "run",
    });
  });
});

describe("desired formation", () => {
  const release = { details, webCommand: "bun server.ts" };
  test("one instance of each type without rows", () => {
    expect(desiredFormation(release, [])).toEqual([
      { type: "web", command: "bun server.ts", instances: 1, stopped: false },
      { type: "clock", command: "bun clock.ts", instances: 1, stopped: false },
      { type: "worker", command: "bun worker.ts", instances: 1, stopped: false },
    ]);
  });
  test("rows set counts and stopped workers; rows of types the release lacks are ignored", () => {
    const rows = [
      { type: "web", instances: 3, stopped: false },
      { type: "worker", instances: 2, stopped: true },
      { type: "gone", instances: 4, stopped: false },
    ];
    const desired = desiredFormation(release, rows);
    expect(desired.map((d) => [d.type, d.instances, d.stopped])).toEqual([
      ["web", 3, false],
      ["clock", 1, false],
      ["worker", 2, true],
    ]);
    expect(runnableWorkers(desired)).toEqual([{ type: "clock", command: "bun clock.ts", instances: 1 }]);
  });
  test("a worker scaled to 0 does not run", () => {
    const desired = desiredFormation(release, [{ type: "clock", instances: 0, stopped: false }]);
    expect(runnableWorkers(desired).map((w) => w.type)).toEqual(["worker"]);
  });
  test("web starts at least one instance, at most 32", () => {
    expect(webInstances([])).toBe(1);
    expect(webInstances([{ type: "web", instances: 0, stopped: false }])).toBe(1);
    expect(webInstances([{ type: "web", instances: 3, stopped: false }])).toBe(3);
  });
});

describe("checking a formation", () => {
  const known = ["web", "worker"];
  const fields = (r: ReturnType<typeof checkFormation>) => (r.ok ? [] : r.issues.map((i) => i.field));
  test("valid counts pass", () => {
    expect(checkFormation({ web: 2, worker: 0 }, { known })).toEqual({ ok: true, counts: { web: 2, worker: 0 } });
  });
  test("an unknown type is named", () => {
    expect(fields(checkFormation({ mailer: 1 }, { known }))).toEqual(["mailer"]);
  });
  test("a malformed type is named", () => {
    expect(fields(checkFormation({ "Bad Type": 1 }, { known: null }))).toEqual(["Bad Type"]);
  });
  test("not whole numbers, below 0 or above 32 are named", () => {
    expect(fields(checkFormation({ web: "x" }, { known }))).toEqual(["web"]);
    expect(fields(checkFormation({ web: 1.5 }, { known }))).toEqual(["web"]);
    expect(fields(checkFormation({ worker: -1 }, { known }))).toEqual(["worker"]);
    expect(fields(checkFormation({ worker: 33 }, { known }))).toEqual(["worker"]);
  });
  test("web 0 is refused whether the app is live or not: the app is taken offline with stop", () => {
    const refused = checkFormation({ web: 0 }, { known });
    expect(fields(refused)).toEqual(["web"]);
    expect(refused.ok ? "" : refused.issues[0]?.message).toContain("a web process type needs at least one instance");
    expect(refused.ok ? "" : refused.issues[0]?.message).toContain("stop");
    expect(fields(checkFormation({ web: 0 }, { known: null }))).toEqual(["web"]);
  });
  test("before any release any well-formed type may be set ahead", () => {
    expect(checkFormation({ worker: 2, clock: 1 }, { known: null })).toEqual({ ok: true, counts: { worker: 2, clock: 1 } });
  });
  test("a body that is not an object, or is empty, is named as the body", () => {
    expect(fields(checkFormation([1], { known }))).toEqual(["body"]);
    expect(fields(checkFormation({}, { known }))).toEqual(["body"]);
  });
});

describe("what a change needs", () => {
  test("web's count change goes blue-green, workers in place, unchanged counts need nothing", () => {
    const rows = [{ type: "worker", instances: 2, stopped: false }];
    expect(formationChange(rows, { web: 3, worker: 2 })).toEqual({ web: { from: 1, to: 3 }, workers: [] });
    expect(formationChange(rows, { web: 1, worker: 1, clock: 2 })).toEqual({ web: null, workers: ["clock", "worker"] });
    expect(formationChange(rows, { web: 1 })).toEqual({ web: null, workers: [] });
  });
  test("the same counts as the rows are applied again when the live slot runs something else (a failed job)", () => {
    const rows = [
      { type: "web", instances: 3, stopped: false },
      { type: "worker", instances: 2, stopped: false },
      { type: "mailer", instances: 1, stopped: true },
    ];
    const body = { web: 3, worker: 2, mailer: 1 };
    expect(formationChange(rows, body, { web: 3, worker: 2 })).toEqual({ web: null, workers: [] });
    expect(formationChange(rows, body, { web: 1, worker: 2 })).toEqual({ web: { from: 3, to: 3 }, workers: [] });
    expect(formationChange(rows, body, { web: 3, worker: 1 })).toEqual({ web: null, workers: ["worker"] });
    // A worker stopped by hand runs nothing, and that is no change to apply.
    expect(formationChange(rows, body, { web: 3, worker: 2, mailer: 0 })).toEqual({ web: null, workers: [] });
  });
  test("the stop grace is the app's drain seconds, 1 s to an hour", () => {
    expect(stopGraceSeconds({ drainSeconds: 30 })).toBe(30);
    expect(stopGraceSeconds({ drainSeconds: 0 })).toBe(1);
    expect(stopGraceSeconds({ drainSeconds: 100_000 })).toBe(3600);
  });
});

describe("limits", () => {
  const app = { memoryMax: "512M", cpuQuota: "50%", ioWeight: 100 };
  test("systemd applies them all", () => {
    expect(limitsReport(app, "systemd")).toEqual({ ...app, applied: true, notApplied: [] });
  });
  test("local mode says which it cannot apply and why", () => {
    const report = limitsReport(app, "process");
    expect(report.applied).toBe(false);
    expect(report.notApplied).toHaveLength(3);
    expect(report.notApplied[0]).toContain("512M");
    expect(report.notApplied[0]).toContain("local mode");
  });
  test("local mode with no limits set has nothing to excuse", () => {
    expect(limitsReport({ memoryMax: null, cpuQuota: null, ioWeight: null }, "process").notApplied).toEqual([]);
  });
});
