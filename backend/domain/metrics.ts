/** Request metrics as pure figures: status classes, buckets, attribution, latency sketches and histograms. */
import { DDSketch } from "@datadog/sketches-js";
import type { MetricStep } from "../contract/api.ts";

/**
 * Upper bounds (ms) of the upstream-time histogram kept for Prometheus in `request_totals`
 * (`latency_buckets` holds one cumulative count per bound, then +Inf).
 */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** Percentiles are true to within this share of the value (2%: 100 ms is reported as 98–102 ms). */
export const SKETCH_ACCURACY = 0.02;

export type StatusClass = "1xx" | "2xx" | "3xx" | "4xx" | "5xx";
export type Resolution = "minute" | "hour" | "day";

export const RESOLUTION_MS: Record<Resolution, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
export const STEP_MS: Record<MetricStep, number> = {
  "1m": 60_000,
  "5m": 300_000,
  "15m": 900_000,
  "1h": 3_600_000,
  "6h": 21_600_000,
  "1d": 86_400_000,
};

/** The status class of an HTTP status, or null for what is not one (nginx's 499 is a 4xx). */
export function statusClass(status: number): StatusClass | null {
  if (!Number.isInteger(status) || status < 100 || status > 599) return null;
  return `${Math.floor(status / 100)}xx` as StatusClass;
}

/** The start of the UTC minute, hour or day (or of any step that divides a day) holding `ms`. */
export function floorTo(ms: number, size: number): number {
  return Math.floor(ms / size) * size;
}

export function bucketOf(ms: number, resolution: Resolution): number {
  return floorTo(ms, RESOLUTION_MS[resolution]);
}

/**
 * The stored resolution a series with this step is read from: the coarsest whose buckets add up
 * to whole steps (fewest rows; hours and days are kept longest). Buckets not rolled up yet are
 * read from the next finer one (see `finerThan`).
 */
export function resolutionFor(step: MetricStep): Resolution {
  const ms = STEP_MS[step];
  if (ms % RESOLUTION_MS.day === 0) return "day";
  if (ms % RESOLUTION_MS.hour === 0) return "hour";
  return "minute";
}

export function finerThan(resolution: Resolution): Resolution | null {
  return resolution === "day" ? "hour" : resolution === "hour" ? "minute" : null;
}

/** At most this many points in one series. */
export const MAX_POINTS = 2000;

/** The finest step that draws the range in at most `target` points (the coarsest step past that). */
export function defaultStep(rangeMs: number, target = 400): MetricStep {
  const steps = Object.keys(STEP_MS) as MetricStep[];
  return steps.find((s) => rangeMs / STEP_MS[s] <= target) ?? "1d";
}

// ── attribution ─────────────────────────────────────────────────────────────────────────────

/** A change of the live slot: from `at` on, `color` (running `releaseId`) took the traffic (null: none). */
export interface LivePeriodStart {
  at: number;
  color: "blue" | "green" | null;
  releaseId: string | null;
}

/**
 * The slot and release a request belongs to: the one live when it started (nginx logs the end;
 * the start is the end minus the request time), from the app's switches sorted by time. A
 * preview-host request names its own slot; its release is that slot's when it was last live then,
 * else `slotReleases` (what each slot runs now). "none": no slot was live.
 */
export function attribute(
  switches: readonly LivePeriodStart[],
  request: { at: number; requestMs: number | null; slot?: "blue" | "green" },
  slotReleases: Partial<Record<"blue" | "green", string | null>> = {},
): { slot: "blue" | "green" | "none"; releaseId: string | null } {
  const started = request.at - (request.requestMs ?? 0);
  const live = liveAt(switches, started);
  if (request.slot) {
    if (live && live.color === request.slot) return { slot: request.slot, releaseId: live.releaseId };
    return { slot: request.slot, releaseId: slotReleases[request.slot] ?? null };
  }
  if (!live || live.color === null) return { slot: "none", releaseId: null };
  return { slot: live.color, releaseId: live.releaseId };
}

/** The last switch at or before `t` (binary search over switches sorted by `at`), or null. */
export function liveAt(switches: readonly LivePeriodStart[], t: number): LivePeriodStart | null {
  let lo = 0;
  let hi = switches.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((switches[mid] as LivePeriodStart).at <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found >= 0 ? (switches[found] as LivePeriodStart) : null;
}

// ── sketches ────────────────────────────────────────────────────────────────────────────────

export function newSketch(): DDSketch {
  return new DDSketch({ relativeAccuracy: SKETCH_ACCURACY });
}

const FORMAT = 1;

function pushVarint(out: number[], n: number): void {
  let v = Math.max(0, Math.round(n));
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

const zigzag = (n: number) => (n >= 0 ? n * 2 : -n * 2 - 1);
const unzigzag = (n: number) => (n % 2 === 0 ? n / 2 : -(n + 1) / 2);

/**
 * A sketch as bytes: a format byte, the zero count, then each non-empty bin of the log mapping
 * (key delta, count) as varints. Only values ≥ 0 are kept (times). A minute of traffic fits in a
 * few dozen bytes.
 */
export function encodeSketch(sketch: DDSketch): Uint8Array {
  const out: number[] = [FORMAT];
  pushVarint(out, sketch.zeroCount);
  const store = sketch.store;
  const bins: Array<[number, number]> = [];
  if (store.count > 0) {
    for (let key = store.minKey; key <= store.maxKey; key++) {
      const count = store.bins[key - store.offset] ?? 0;
      if (count > 0) bins.push([key, count]);
    }
  }
  pushVarint(out, bins.length);
  let previous = 0;
  for (const [key, count] of bins) {
    pushVarint(out, zigzag(key - previous));
    pushVarint(out, count);
    previous = key;
  }
  return Uint8Array.from(out);
}

export class SketchFormatError extends Error {
  override name = "SketchFormatError";
}

/** The sketch `encodeSketch` wrote (an empty one for null). */
export function decodeSketch(bytes: Uint8Array | null | undefined): DDSketch {
  return decodeInto(newSketch(), bytes);
}

/**
 * Adds what `encodeSketch` wrote into `sketch` (merging without a sketch per row: a new sketch
 * allocates and centres its bins, which costs more than the bins themselves).
 */
export function decodeInto(sketch: DDSketch, bytes: Uint8Array | null | undefined): DDSketch {
  if (!bytes || bytes.length === 0) return sketch;
  let at = 0;
  const next = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new SketchFormatError("latency sketch is cut short");
      const byte = bytes[at++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
  };
  if (next() !== FORMAT) throw new SketchFormatError("latency sketch has an unknown format");
  const zeros = next();
  const n = next();
  let key = 0;
  let total = zeros;
  for (let i = 0; i < n; i++) {
    key += unzigzag(next());
    const count = next();
    sketch.store.add(key, count);
    total += count;
  }
  sketch.zeroCount += zeros;
  sketch.count += total;
  return sketch;
}

/** All the sketches as one (the encoded ones decoded first). */
export function mergeSketches(parts: Iterable<DDSketch | Uint8Array | null | undefined>): DDSketch {
  const merged = newSketch();
  for (const part of parts) {
    if (!part) continue;
    if (part instanceof Uint8Array) decodeInto(merged, part);
    else if (part.count > 0) merged.merge(part);
  }
  return merged;
}

/** A percentile in ms (0.1 ms resolution), or null when the sketch holds nothing. */
export function quantile(sketch: DDSketch, q: number): number | null {
  if (sketch.count === 0) return null;
  const value = sketch.getValueAtQuantile(q);
  return Number.isFinite(value) ? Math.round(value * 10) / 10 : null;
}

export function percentiles(sketch: DDSketch): { p50: number | null; p90: number | null; p95: number | null; p99: number | null } {
  return { p50: quantile(sketch, 0.5), p90: quantile(sketch, 0.9), p95: quantile(sketch, 0.95), p99: quantile(sketch, 0.99) };
}

// ── aggregates ──────────────────────────────────────────────────────────────────────────────

/** Requests of one app × slot × release × bucket, as they add up. */
export interface RequestAggregate {
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
  sketch: DDSketch;
}

export function emptyAggregate(): RequestAggregate {
  return {
    requests: 0,
    s1xx: 0,
    s2xx: 0,
    s3xx: 0,
    s4xx: 0,
    s5xx: 0,
    bytesIn: 0,
    bytesOut: 0,
    timed: 0,
    latencySumMs: 0,
    sketch: newSketch(),
  };
}

const CLASS_FIELD = { "1xx": "s1xx", "2xx": "s2xx", "3xx": "s3xx", "4xx": "s4xx", "5xx": "s5xx" } as const;

/** One request added: its status class, bytes, and (when an upstream answered) its time. */
export function addRequest(
  agg: RequestAggregate,
  request: { status: number; bytesIn: number; bytesOut: number; upstreamMs: number | null },
): void {
  agg.requests++;
  const cls = statusClass(request.status);
  if (cls) agg[CLASS_FIELD[cls]]++;
  agg.bytesIn += request.bytesIn;
  agg.bytesOut += request.bytesOut;
  if (request.upstreamMs !== null && request.upstreamMs >= 0) {
    agg.timed++;
    agg.latencySumMs += request.upstreamMs;
    agg.sketch.accept(request.upstreamMs);
  }
}

/** `from` added into `into` (sketches merged). */
export function addAggregate(into: RequestAggregate, from: RequestAggregate): void {
  into.requests += from.requests;
  into.s1xx += from.s1xx;
  into.s2xx += from.s2xx;
  into.s3xx += from.s3xx;
  into.s4xx += from.s4xx;
  into.s5xx += from.s5xx;
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
  into.timed += from.timed;
  into.latencySumMs += from.latencySumMs;
  if (from.sketch.count > 0) into.sketch.merge(from.sketch);
}

// ── the Prometheus histogram ────────────────────────────────────────────────────────────────

/** Cumulative counts per bound of LATENCY_BUCKETS_MS, then +Inf: all zero. */
export function emptyHistogram(): number[] {
  return new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
}

/** One time (ms) added to a cumulative histogram (in place): every bucket whose bound it is within, and +Inf. */
export function addToHistogram(buckets: number[], ms: number): number[] {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= (LATENCY_BUCKETS_MS[i] as number)) buckets[i] = (buckets[i] ?? 0) + 1;
  const inf = LATENCY_BUCKETS_MS.length;
  buckets[inf] = (buckets[inf] ?? 0) + 1;
  return buckets;
}

/** Two cumulative histograms added bucket by bucket (a stored one may be shorter or empty). */
export function addHistograms(a: readonly number[], b: readonly number[]): number[] {
  const out = emptyHistogram();
  for (let i = 0; i < out.length; i++) out[i] = (a[i] ?? 0) + (b[i] ?? 0);
  return out;
}

// ── resource rollups ────────────────────────────────────────────────────────────────────────

/** A resource_stats row as rollups see it. */
export interface ResourceRowIn {
  bucket: Date;
  subject: "system" | "slot" | "app";
  appId: string | null;
  slot: string | null;
  samples: number;
  values: Record<string, unknown>;
}

/**
 * Resource rows of finer buckets as one row per subject: numbers are the mean weighted by
 * samples (a bucket with no samples weighs 1), `restarts` the highest (a counter), and anything
 * else (`disks`) the value of the latest bucket.
 */
export function rollUpResources(rows: readonly ResourceRowIn[]): Array<Omit<ResourceRowIn, "bucket">> {
  const groups = new Map<string, ResourceRowIn[]>();
  for (const row of rows) {
    const k = `${row.subject}|${row.appId ?? ""}|${row.slot ?? ""}`;
    const list = groups.get(k);
    if (list) list.push(row);
    else groups.set(k, [row]);
  }
  const out: Array<Omit<ResourceRowIn, "bucket">> = [];
  for (const list of groups.values()) {
    list.sort((a, b) => a.bucket.getTime() - b.bucket.getTime());
    const first = list[0] as ResourceRowIn;
    const sums = new Map<string, { sum: number; weight: number }>();
    const values: Record<string, unknown> = {};
    let samples = 0;
    for (const row of list) {
      const weight = row.samples > 0 ? row.samples : 1;
      samples += row.samples;
      for (const [name, value] of Object.entries(row.values)) {
        if (name === "restarts" && typeof value === "number") {
          values.restarts = Math.max(typeof values.restarts === "number" ? values.restarts : value, value);
        } else if (typeof value === "number" && Number.isFinite(value)) {
          const s = sums.get(name) ?? { sum: 0, weight: 0 };
          s.sum += value * weight;
          s.weight += weight;
          sums.set(name, s);
        } else if (value !== null && value !== undefined) {
          values[name] = value;
        }
      }
    }
    for (const [name, s] of sums) values[name] = s.weight > 0 ? s.sum / s.weight : null;
    out.push({ subject: first.subject, appId: first.appId, slot: first.slot, samples, values });
  }
  return out;
}
