import { describe, expect, test } from "bun:test";
import { judge, tallyAccessLog } from "../../backend/domain/watch.ts";

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

  test("tallies JSON access-log lines, skipping junk and lines before `since`", () => {
    const text = [
      '{"msec":100.000,"status":200}',
      '{"msec":200.000,"status":502}',
      "not json",
      '{"msec":300.500,"status":503}',
      '{"msec":301.000,"status":404}',
      "",
    ].join("\n");
    expect(tallyAccessLog(text)).toEqual({ requests: 4, errors: 2 });
    expect(tallyAccessLog(text, 300_000)).toEqual({ requests: 2, errors: 1 });
  });
});
