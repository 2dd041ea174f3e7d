/**
 * Resource figures as pure values: a minute of 10 s samples folded into one `resource_stats` row,
 * stored rows folded into the steps of a series, and the system row shaped for the API.
 */
import type { SystemMetricPoint } from "../contract/api.ts";

export type ResourceValues = Record<string, unknown>;

/** Keys whose value is the bucket's last, not its mean: counters and slow-moving sizes. */
const LAST = new Set(["restarts", "disks", "dbBytes", "releases", "logs", "buildCache"]);

/**
 * One subject's samples within a minute. Numbers are averaged over the samples that had them
 * (a null is "not measured", not zero); `LAST` keys keep the latest; booleans (`up`, `live`)
 * become the share of samples in which they were true.
 */
export class MinuteAccumulator {
  samples = 0;
  private readonly sums = new Map<string, { sum: number; n: number }>();
  private readonly last = new Map<string, unknown>();

  add(values: ResourceValues): void {
    this.samples++;
    for (const [key, value] of Object.entries(values)) {
      if (LAST.has(key)) {
        if (value !== null && value !== undefined) this.last.set(key, value);
        continue;
      }
      const n = typeof value === "boolean" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isFinite(n)) {
        if (!this.sums.has(key)) this.sums.set(key, { sum: 0, n: 0 });
        continue;
      }
      const s = this.sums.get(key) ?? { sum: 0, n: 0 };
      s.sum += n;
      s.n++;
      this.sums.set(key, s);
    }
  }

  values(): ResourceValues {
    const out: ResourceValues = {};
    for (const [key, { sum, n }] of this.sums) out[key] = n > 0 ? round(sum / n) : null;
    for (const [key, value] of this.last) out[key] = value;
    return out;
  }
}

/**
 * Several stored rows (minutes, hours or days of one subject) as one: numbers weighted by their
 * rows' samples, `restarts` the highest, the other `LAST` keys from the newest row. Rows are
 * given oldest first.
 */
export function mergeValues(rows: ReadonlyArray<{ samples: number; values: ResourceValues }>): { samples: number; values: ResourceValues } {
  const sums = new Map<string, { sum: number; weight: number }>();
  const last = new Map<string, unknown>();
  let samples = 0;
  for (const row of rows) {
    const weight = Math.max(1, row.samples);
    samples += row.samples;
    for (const [key, value] of Object.entries(row.values)) {
      if (LAST.has(key)) {
        if (value === null || value === undefined) continue;
        if (key === "restarts") last.set(key, Math.max(Number(last.get(key) ?? 0), Number(value)));
        else last.set(key, value);
        continue;
      }
      const s = sums.get(key) ?? { sum: 0, weight: 0 };
      if (typeof value === "number" && Number.isFinite(value)) {
        s.sum += value * weight;
        s.weight += weight;
      }
      sums.set(key, s);
    }
  }
  const values: ResourceValues = {};
  for (const [key, { sum, weight }] of sums) values[key] = weight > 0 ? round(sum / weight) : null;
  for (const [key, value] of last) values[key] = value;
  return { samples, values };
}

/** Rows grouped into steps of `stepMs` from `fromMs` (bucket starts), each merged; steps without rows are absent. */
export function foldIntoSteps<R extends { bucket: Date; samples: number; values: ResourceValues }>(
  rows: readonly R[],
  fromMs: number,
  stepMs: number,
): Map<number, { samples: number; values: ResourceValues }> {
  const groups = new Map<number, R[]>();
  for (const row of rows) {
    const t = fromMs + Math.floor((row.bucket.getTime() - fromMs) / stepMs) * stepMs;
    const list = groups.get(t);
    if (list) list.push(row);
    else groups.set(t, [row]);
  }
  const out = new Map<number, { samples: number; values: ResourceValues }>();
  for (const [t, list] of groups) out.set(t, mergeValues(list.sort((a, b) => a.bucket.getTime() - b.bucket.getTime())));
  return out;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** A system row's values (see the `system` keys of resource_stats) as the API's point. */
export function systemPoint(t: Date | number, values: ResourceValues): SystemMetricPoint {
  const disks = Array.isArray(values.disks)
    ? (values.disks as Array<{ mount?: unknown; used?: unknown; size?: unknown }>)
        .filter((d) => typeof d?.mount === "string")
        .map((d) => ({ mount: d.mount as string, used: num(d.used) ?? 0, size: num(d.size) ?? 0 }))
    : [];
  return {
    t: new Date(t).toISOString(),
    cpu: num(values.cpu),
    load1: num(values.load1),
    memoryUsed: num(values.memoryUsed),
    memoryTotal: num(values.memoryTotal),
    swapUsed: num(values.swapUsed),
    swapTotal: num(values.swapTotal),
    netRx: num(values.netRx),
    netTx: num(values.netTx),
    pressure: { cpu: num(values.psiCpu), memory: num(values.psiMemory), io: num(values.psiIo) },
    disks,
  };
}

/**
 * Leaves out the last of `list` until `build(list)` serialises to at most `budget` characters
 * (NOTIFY refuses payloads from 8000 bytes); the list is cut, never the rest of the message.
 */
export function fitToBudget<T, M>(list: T[], build: (list: T[]) => M, budget: number): M {
  let keep = list.length;
  let message = build(list);
  while (keep > 0 && Buffer.byteLength(JSON.stringify(message)) > budget) {
    keep = Math.min(keep - 1, Math.floor(keep * 0.9));
    message = build(list.slice(0, keep));
  }
  return message;
}

/** Disk health of a mount by its free share: under 10 % a warning, under 5 % an error. */
export function diskLevel(used: number, size: number): "ok" | "warning" | "error" {
  if (!(size > 0)) return "ok";
  const free = (size - used) / size;
  return free < 0.05 ? "error" : free < 0.1 ? "warning" : "ok";
}

/** Bytes as people read them: 1.5 GB, 320 MB. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** Four significant decimals are plenty for a mean and keep the jsonb small. */
function round(n: number): number {
  return Math.abs(n) >= 1000 ? Math.round(n) : Math.round(n * 10_000) / 10_000;
}
