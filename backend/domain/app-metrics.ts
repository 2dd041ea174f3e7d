/** An app's metrics as the API answers them, built from stored rows (pure: no database here). */
import type {
  AppMetricPoint,
  AppMetrics,
  DailySummary,
  MetricStep,
  ReleaseMetrics,
  ReleasePeriod,
  TrafficMarker,
} from "../contract/api.ts";
import {
  addAggregate,
  decodeInto,
  emptyAggregate,
  floorTo,
  newSketch,
  quantile,
  RESOLUTION_MS,
  type RequestAggregate,
  rollUpResources,
  STEP_MS,
} from "./metrics.ts";

export interface StatRowIn {
  bucket: Date;
  slot: string;
  releaseId: string | null;
  requests: number;
  s1xx: number;
  s2xx: number;
  s3xx: number;
  s4xx: number;
  s5xx: number;
  bytesIn: number;
  bytesOut: number;
  timed: number;
  latencySumMs: number;
  sketch: Uint8Array | null;
}

export interface SlotRowIn {
  bucket: Date;
  slot: string | null;
  samples: number;
  values: Record<string, unknown>;
}

export interface SwitchIn {
  at: Date;
  kind: TrafficMarker["kind"];
  color: "blue" | "green" | null;
  releaseId: string | null;
  releaseNumber: number | null;
  jobId: string | null;
}

/** Before and after each switch, this long (cut at the range's end). */
export const SWITCH_WINDOW_MS = 15 * 60_000;

const NO_SKETCH = newSketch();
/** A stored row added into `agg`: its counters, and its sketch decoded straight into agg's. */
const addRow = (agg: RequestAggregate, r: StatRowIn): void => {
  addAggregate(agg, { ...r, sketch: NO_SKETCH });
  decodeInto(agg.sketch, r.sketch);
};
const errorRate = (a: RequestAggregate) => (a.requests === 0 ? 0 : a.s5xx / a.requests);
const summary = (a: RequestAggregate) => ({ requests: a.requests, errorRate: errorRate(a), p95: quantile(a.sketch, 0.95) });
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function sum(rows: readonly StatRowIn[], keep: (r: StatRowIn) => boolean = () => true): RequestAggregate {
  const agg = emptyAggregate();
  for (const r of rows) if (keep(r)) addRow(agg, r);
  return agg;
}

/** Each period a release was live, overlapping [from, to). */
export function livePeriods(switches: readonly SwitchIn[], from: number, to: number): ReleasePeriod[] {
  const out: ReleasePeriod[] = [];
  switches.forEach((s, i) => {
    if (!s.color || !s.releaseId || s.releaseNumber === null) return;
    const end = switches[i + 1]?.at.getTime() ?? null;
    if (s.at.getTime() >= to || (end !== null && end <= from)) return;
    out.push({ id: s.releaseId, number: s.releaseNumber, from: s.at.toISOString(), to: end === null ? null : new Date(end).toISOString() });
  });
  return out;
}

export function buildAppMetrics(input: {
  from: number;
  to: number;
  step: MetricStep;
  stats: readonly StatRowIn[];
  slots: readonly SlotRowIn[];
  switches: readonly SwitchIn[];
  /** Minute rows around the switches in range (for before/after). */
  around: readonly StatRowIn[];
  releaseNumbers: ReadonlyMap<string, number>;
}): AppMetrics {
  const stepMs = STEP_MS[input.step];
  const start = floorTo(input.from, stepMs);
  const byStep = new Map<number, RequestAggregate>();
  for (const r of input.stats) {
    const t = floorTo(r.bucket.getTime(), stepMs);
    const agg = byStep.get(t) ?? emptyAggregate();
    addRow(agg, r);
    byStep.set(t, agg);
  }
  const resources = new Map<number, SlotRowIn[]>();
  for (const r of input.slots) {
    const t = floorTo(r.bucket.getTime(), stepMs);
    const list = resources.get(t);
    if (list) list.push(r);
    else resources.set(t, [r]);
  }
  const series: AppMetricPoint[] = [];
  const total = emptyAggregate();
  for (let t = start; t < input.to; t += stepMs) {
    const agg = byStep.get(t) ?? emptyAggregate();
    addAggregate(total, agg);
    const slots: AppMetricPoint["slots"] = {};
    let cpu: number | null = null;
    let memory: number | null = null;
    for (const row of rollUpResources((resources.get(t) ?? []).map((r) => ({ ...r, subject: "slot" as const, appId: null })))) {
      if (row.slot !== "blue" && row.slot !== "green") continue;
      const c = num(row.values.cpu);
      const m = num(row.values.memory);
      slots[row.slot] = { cpu: c, memory: m, restarts: num(row.values.restarts) ?? 0 };
      if (c !== null) cpu = (cpu ?? 0) + c;
      if (m !== null) memory = (memory ?? 0) + m;
    }
    const q = (p: number) => quantile(agg.sketch, p);
    series.push({
      t: new Date(t).toISOString(),
      requests: agg.requests,
      status: { "2xx": agg.s2xx, "3xx": agg.s3xx, "4xx": agg.s4xx, "5xx": agg.s5xx },
      p50: q(0.5),
      p90: q(0.9),
      p95: q(0.95),
      p99: q(0.99),
      bytesIn: agg.bytesIn,
      bytesOut: agg.bytesOut,
      cpu,
      memory,
      slots,
    });
  }

  const inRange = input.switches.filter((s) => s.at.getTime() >= input.from && s.at.getTime() < input.to);
  const markers: TrafficMarker[] = inRange.map((s) => ({
    at: s.at.toISOString(),
    kind: s.kind,
    color: s.color,
    releaseId: s.releaseId,
    releaseNumber: s.releaseNumber,
    jobId: s.jobId,
  }));

  const perRelease = new Map<string, ReleaseMetrics>();
  const releaseIds = new Set(input.stats.map((r) => r.releaseId).filter((id): id is string => id !== null));
  for (const s of inRange) if (s.releaseId && s.color) releaseIds.add(s.releaseId);
  for (const id of releaseIds) {
    const number = input.releaseNumbers.get(id);
    if (number === undefined) continue;
    perRelease.set(id, { id, number, ...summary(sum(input.stats, (r) => r.releaseId === id)), switches: [] });
  }
  for (const s of inRange) {
    const release = s.releaseId ? perRelease.get(s.releaseId) : undefined;
    if (!release || !s.color) continue;
    const at = s.at.getTime();
    const minute = floorTo(at, RESOLUTION_MS.minute);
    const end = Math.min(at + SWITCH_WINDOW_MS, input.to);
    const window = Math.max(0, end - at);
    const before = sum(input.around, (r) => r.bucket.getTime() < minute && r.bucket.getTime() >= minute - window);
    const after = sum(
      input.around,
      (r) => r.releaseId === s.releaseId && r.slot === s.color && r.bucket.getTime() >= minute && r.bucket.getTime() < end,
    );
    release.switches.push({
      at: s.at.toISOString(),
      kind: s.kind,
      windowSeconds: Math.round(window / 1000),
      before: summary(before),
      after: summary(after),
    });
  }

  return {
    from: new Date(input.from).toISOString(),
    to: new Date(input.to).toISOString(),
    step: input.step,
    series,
    releases: livePeriods(input.switches, input.from, input.to),
    markers,
    perRelease: [...perRelease.values()].sort((a, b) => b.number - a.number),
    totals: { requests: total.requests, errorRate: errorRate(total), p95: quantile(total.sketch, 0.95), bytesOut: total.bytesOut },
  };
}

/**
 * Each UTC day in [from, to): requests, 5xx share and p95, uptime (the share of samples in which
 * the slot meant to be live was up: the sum over slots of up × live, over the sum of live), and
 * the switches that were deploys and rollbacks.
 */
export function buildDaily(input: {
  from: number;
  to: number;
  stats: readonly StatRowIn[];
  slots: readonly SlotRowIn[];
  switches: ReadonlyArray<{ at: Date; kind: TrafficMarker["kind"] }>;
}): DailySummary[] {
  const day = RESOLUTION_MS.day;
  const days: DailySummary[] = [];
  for (let t = floorTo(input.from, day); t < input.to; t += day) {
    const inDay = (d: Date) => d.getTime() >= t && d.getTime() < t + day;
    const agg = sum(input.stats, (r) => inDay(r.bucket));
    let upLive = 0;
    let live = 0;
    for (const r of input.slots) {
      if (!inDay(r.bucket)) continue;
      const weight = Math.max(1, r.samples);
      const l = num(r.values.live) ?? 0;
      upLive += (num(r.values.up) ?? 0) * l * weight;
      live += l * weight;
    }
    const switches = input.switches.filter((s) => inDay(s.at));
    days.push({
      day: new Date(t).toISOString().slice(0, 10),
      requests: agg.requests,
      errorRate: errorRate(agg),
      p95: quantile(agg.sketch, 0.95),
      uptime: live > 0 ? Math.min(1, upLive / live) : null,
      deploys: switches.filter((s) => s.kind === "deploy").length,
      rollbacks: switches.filter((s) => s.kind === "rollback" || s.kind === "auto-rollback").length,
    });
  }
  return days;
}
