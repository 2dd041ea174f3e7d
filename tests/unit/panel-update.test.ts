import { describe, expect, test } from "bun:test";
import { LOG_FORMAT, otherSlot, panelReleasesToPrune, parseLog, watchVerdict } from "../../backend/domain/panel-update.ts";

describe("panel self-update decisions", () => {
  test("the idle slot is the other one", () => {
    expect(otherSlot("blue")).toBe("green");
    expect(otherSlot("green")).toBe("blue");
  });

  test("git log records parse with tags, and subjects keep any punctuation", () => {
    expect(LOG_FORMAT).toContain("%x1e");
    const sha1 = "a".repeat(40);
    const sha2 = "b".repeat(40);
    const text = `${sha1}\x1fAda\x1f2026-11-01T10:00:00+00:00\x1fHEAD -> main, tag: v1.2.0, tag: stable\x1fFix: a | b "c"\x1e\n${sha2}\x1fBob\x1f2026-10-01T10:00:00+00:00\x1f\x1fFirst\x1e\n`;
    expect(parseLog(text)).toEqual([
      {
        revision: "a".repeat(12),
        sha: sha1,
        author: "Ada",
        date: "2026-11-01T10:00:00+00:00",
        tags: ["v1.2.0", "stable"],
        subject: 'Fix: a | b "c"',
      },
      { revision: "b".repeat(12), sha: sha2, author: "Bob", date: "2026-10-01T10:00:00+00:00", tags: [], subject: "First" },
    ]);
    expect(parseLog("")).toEqual([]);
  });

  test("the slots' versions and the newest three others are kept; older ones go", () => {
    const day = (n: number) => new Date(Date.UTC(2026, 10, n));
    const releases = ["r1", "r2", "r3", "r4", "r5", "r6"].map((revision, i) => ({ revision, installedAt: day(i + 1) }));
    expect(panelReleasesToPrune(releases, ["r6", "r1"]).sort()).toEqual(["r2"]);
    expect(panelReleasesToPrune(releases, ["r6"]).sort()).toEqual(["r1", "r2"]);
    expect(panelReleasesToPrune(releases.slice(0, 3), ["r3"])).toEqual([]);
  });

  test("the watch fails a stopped, restarted or repeatedly unhealthy panel", () => {
    expect(watchVerdict({ active: true, restarts: 0, failedChecks: 0 })).toBeNull();
    expect(watchVerdict({ active: true, restarts: 0, failedChecks: 2 })).toBeNull();
    expect(watchVerdict({ active: true, restarts: 0, failedChecks: 3 })).toContain("health check failed 3 times");
    expect(watchVerdict({ active: false, restarts: 0, failedChecks: 0 })).toContain("stopped");
    expect(watchVerdict({ active: true, restarts: 1, failedChecks: 0 })).toContain("restarted");
  });
});
