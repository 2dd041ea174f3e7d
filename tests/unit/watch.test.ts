import { describe, expect, test } from "bun:test";
import { judge } from "../../backend/domain/watch.ts";

describe("post-switch watch", () => {
  test("rolls back when the new slot's 5xx ratio rises past the threshold", () => {
    const v = judge({ requests: 100, errors: 1 }, { requests: 50, errors: 20 }, { threshold: 0.1, minRequests: 20 });
    expect(v.rollback).toBe(true);
    expect(v.reason).toBe("5xx 40.0% (20/50) after the switch vs 1.0% (1/100) before");
  });

  test("keeps a release whose errors were there before too", () => {
    expect(judge({ requests: 100, errors: 30 }, { requests: 100, errors: 35 }).rollback).toBe(false);
  });

  test("does not judge on too few requests", () => {
    const v = judge({ requests: 0, errors: 0 }, { requests: 5, errors: 5 }, { threshold: 0.1, minRequests: 20 });
    expect(v.rollback).toBe(false);
    expect(v.reason).toStartWith("too few requests to judge (5 < 20)");
  });

  describe("p95 regression", () => {
    const policy = { threshold: 0.1, minRequests: 20, latencyFactor: 2, minTimed: 20, latencyFloorMs: 50 };
    const side = (p95: number, timed = 100) => ({ requests: timed, errors: 0, timed, p95 });

    test("rolls back when p95 grows past the factor and the floor", () => {
      const v = judge(side(40), side(400), policy);
      expect(v.rollback).toBe(true);
      expect(v.reason).toBe("p95 400 ms (100 timed) after the switch vs 40 ms (100) before, more than 2×");
    });

    test("a few ms more is no regression, however many times slower", () => {
      expect(judge(side(1), side(3), policy).rollback).toBe(false);
      expect(judge(side(10), side(55), policy).rollback).toBe(false);
    });

    test("within the factor, without the setting, or on too few timed requests: kept", () => {
      expect(judge(side(100), side(190), policy).rollback).toBe(false);
      expect(judge(side(40), side(400), { ...policy, latencyFactor: null }).rollback).toBe(false);
      expect(judge(side(40, 5), side(400), policy).rollback).toBe(false);
      expect(judge(side(40), { ...side(400, 10), requests: 100 }, policy).rollback).toBe(false);
      expect(judge({ requests: 100, errors: 0, timed: 0, p95: null }, side(400), policy).rollback).toBe(false);
    });
  });
});
