/**
 * Minutes roll up into hours and hours into days, for request and resource figures alike, and
 * rows past their retention (minuteDays, hourDays, dayDays) are removed. A bucket is recomputed
 * whole from the finer rows inside it, so running this twice, or after late minutes arrived,
 * gives the same rows.
 */
import { bucketRange, pruneMetrics, rollUpRequests, rollUpResourceRows } from "../db/queries/metrics-rollup.ts";
import { getRetention, type Retention } from "../db/queries/retention.ts";
import { floorTo, RESOLUTION_MS, type Resolution } from "../domain/metrics.ts";
import type { Services } from "../services.ts";

const DAY = RESOLUTION_MS.day;
/** Buckets already rolled up are recomputed this far back (minutes ingested late, e.g. after a restart). */
const REDO: Record<"hour" | "day", number> = { hour: 3 * RESOLUTION_MS.hour, day: DAY };

export interface MetricsRetentionTally {
  hours: number;
  days: number;
  pruned: { requests: number; resources: number };
  /** True when another panel held the lock for part of the work. */
  skipped: boolean;
}

type S = Pick<Services, "db" | "log">;

/** The complete `target` buckets to compute: from the last one done (less REDO), or the first finer row. */
async function pending(s: S, table: "request_stats" | "resource_stats", source: Resolution, target: "hour" | "day", now: number) {
  const size = RESOLUTION_MS[target];
  const end = floorTo(now, size);
  const done = await bucketRange(s.db, table, target);
  const finer = await bucketRange(s.db, table, source);
  if (!finer.min) return [];
  let start = done.max ? Math.min(done.max.getTime(), end - REDO[target]) : floorTo(finer.min.getTime(), size);
  start = Math.max(start, floorTo(finer.min.getTime(), size));
  const buckets: Date[] = [];
  for (let t = start; t < end; t += size) buckets.push(new Date(t));
  return buckets;
}

export async function rollUpAndPrune(s: S, retention?: Retention, now = Date.now()): Promise<MetricsRetentionTally> {
  const r = retention ?? (await getRetention(s.db));
  const tally: MetricsRetentionTally = { hours: 0, days: 0, pruned: { requests: 0, resources: 0 }, skipped: false };
  const steps = [
    { source: "minute", target: "hour" },
    { source: "hour", target: "day" },
  ] as const;
  for (const { source, target } of steps) {
    for (const table of ["request_stats", "resource_stats"] as const) {
      for (const bucket of await pending(s, table, source, target, now)) {
        const roll = table === "request_stats" ? rollUpRequests : rollUpResourceRows;
        const rows = await roll(s.db, source, target, bucket, RESOLUTION_MS[target]);
        if (rows === null) {
          tally.skipped = true;
          return tally;
        }
        if (table === "request_stats") tally[target === "hour" ? "hours" : "days"]++;
      }
    }
  }
  for (const [resolution, days] of [
    ["minute", r.minuteDays],
    ["hour", r.hourDays],
    ["day", r.dayDays],
  ] as const) {
    const gone = await pruneMetrics(s.db, resolution, new Date(now - days * DAY));
    if (gone === null) {
      tally.skipped = true;
      break;
    }
    tally.pruned.requests += gone.requests;
    tally.pruned.resources += gone.resources;
  }
  return tally;
}

/** The hourly run from housekeeping: logs what it did, never throws. */
export async function metricsHousekeeping(s: S): Promise<void> {
  try {
    const tally = await rollUpAndPrune(s);
    if (tally.skipped) s.log.debug("metrics rollup skipped: another panel is rolling up");
    else if (tally.hours + tally.days + tally.pruned.requests + tally.pruned.resources > 0)
      s.log.info("metrics rolled up and pruned", { ...tally });
  } catch (error) {
    s.log.warn("metrics rollup failed", { error });
  }
}
