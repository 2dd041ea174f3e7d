import { describe, expect, test } from "bun:test";
import type { Release } from "../../backend/db/schema/releases.ts";
import { RETAINED_RELEASES, rollbackEligible } from "../../backend/domain/retention.ts";

let n = 0;
function release(o: Partial<Release> = {}): Release {
  n += 1;
  return { id: `r${n}`, number: n, healthy: true, pruned: false, pinned: false, status: "retired", ...o } as Release;
}

describe("rollback eligibility and retention", () => {
  test("the newest five good releases, newest first", () => {
    const rows = Array.from({ length: 8 }, () => release()).reverse();
    expect(rollbackEligible(rows).map((r) => r.number)).toEqual(rows.slice(0, RETAINED_RELEASES).map((r) => r.number));
  });

  test("never healthy, pruned, or taken back by the watch: not eligible and not counted", () => {
    const good = [release(), release(), release()];
    const rows = [release({ healthy: false, status: "failed" }), release({ status: "rolled_back" }), release({ pruned: true }), ...good];
    expect(rollbackEligible(rows)).toEqual(good);
  });

  test("a pinned release stays eligible past the five", () => {
    const pinned = release({ pinned: true });
    const rows = [...Array.from({ length: 6 }, () => release()).reverse(), pinned];
    const eligible = rollbackEligible(rows);
    expect(eligible).toHaveLength(RETAINED_RELEASES + 1);
    expect(eligible.at(-1)).toBe(pinned);
  });

  test("the warm standby stays eligible however old it is", () => {
    const standby = release({ status: "standby" });
    const rows = [...Array.from({ length: 6 }, () => release()).reverse(), standby];
    expect(rollbackEligible(rows)).toContain(standby);
  });
});
