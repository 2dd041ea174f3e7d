/** What the post-switch watch decides from the access log, as a pure function of the figures. */

export interface WatchPolicy {
  /** Roll back when the new slot's 5xx ratio is above the old one's by more than this (0–1). */
  threshold: number;
  /** …and only once at least this many requests reached the new slot. */
  minRequests: number;
}

export const DEFAULT_WATCH: WatchPolicy = { threshold: 0.1, minRequests: 20 };

export interface Tally {
  requests: number;
  errors: number;
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
  return { rollback: false, before: b, after: a, reason: figures };
}

/** Counts requests and 5xx answers in JSON access-log lines (one object per line; others skipped). */
export function tallyAccessLog(text: string, since?: number): Tally {
  let requests = 0;
  let errors = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    let entry: { status?: number; msec?: number };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof entry.status !== "number") continue;
    if (since !== undefined && typeof entry.msec === "number" && entry.msec * 1000 < since) continue;
    requests++;
    if (entry.status >= 500) errors++;
  }
  return { requests, errors };
}
