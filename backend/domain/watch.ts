/** What the post-switch watch decides from the ingested request figures, as a pure function of them. */

export interface WatchPolicy {
  /** Roll back when the new slot's 5xx ratio is above the old one's by more than this (0–1). */
  threshold: number;
  /** …and only once at least this many requests reached the new slot. */
  minRequests: number;
  /** Roll back when the new slot's p95 is above this many times the old one's (null: latency is not judged)… */
  latencyFactor?: number | null;
  /** …with at least this many timed requests on each side… */
  minTimed?: number;
  /** …and by at least this many ms: a p95 of 1 ms becoming 3 ms is no regression anyone feels. */
  latencyFloorMs?: number;
}

export const DEFAULT_WATCH: WatchPolicy = { threshold: 0.1, minRequests: 20, latencyFactor: null, minTimed: 20, latencyFloorMs: 50 };

export interface Tally {
  requests: number;
  errors: number;
  /** Requests an upstream answered, and their p95 in ms (null: none). */
  timed?: number;
  p95?: number | null;
}

export interface WatchVerdict {
  rollback: boolean;
  before: Tally & { ratio: number };
  after: Tally & { ratio: number };
  reason: string;
}

export function ratio(t: Tally): number {
  return t.requests === 0 ? 0 : t.errors / t.requests;
}

/** The p95 regression, when the policy judges latency and both sides have enough timed requests. */
function latencyRegression(before: Tally, after: Tally, policy: WatchPolicy): string | null {
  const factor = policy.latencyFactor;
  if (!factor || before.p95 == null || after.p95 == null) return null;
  const min = policy.minTimed ?? DEFAULT_WATCH.minTimed ?? 20;
  if ((before.timed ?? 0) < min || (after.timed ?? 0) < min) return null;
  const floor = policy.latencyFloorMs ?? DEFAULT_WATCH.latencyFloorMs ?? 50;
  if (after.p95 > before.p95 * factor && after.p95 - before.p95 >= floor) {
    return `p95 ${after.p95} ms (${after.timed} timed) after the switch vs ${before.p95} ms (${before.timed}) before, more than ${factor}×`;
  }
  return null;
}

export function judge(before: Tally, after: Tally, policy: WatchPolicy = DEFAULT_WATCH): WatchVerdict {
  const b = { ...before, ratio: ratio(before) };
  const a = { ...after, ratio: ratio(after) };
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const figures = `5xx ${pct(a.ratio)} (${a.errors}/${a.requests}) after the switch vs ${pct(b.ratio)} (${b.errors}/${b.requests}) before`;
  if (a.requests < policy.minRequests)
    return {
      rollback: false,
      before: b,
      after: a,
      reason: `too few requests to judge (${a.requests} < ${policy.minRequests}); ${figures}`,
    };
  if (a.ratio - b.ratio > policy.threshold) return { rollback: true, before: b, after: a, reason: figures };
  const slow = latencyRegression(before, after, policy);
  if (slow) return { rollback: true, before: b, after: a, reason: slow };
  const latency = policy.latencyFactor && a.p95 != null ? `; p95 ${a.p95} ms vs ${b.p95 ?? "–"} ms` : "";
  return { rollback: false, before: b, after: a, reason: `${figures}${latency}` };
}
