import { and, asc, desc, eq, gte, inArray, like, lt, lte, sql } from "drizzle-orm";
import {
  addHistograms,
  decodeSketch,
  emptyHistogram,
  encodeSketch,
  mergeSketches,
  quantile,
  RESOLUTION_MS,
  type RequestAggregate,
  type Resolution,
} from "../../domain/metrics.ts";
import type { Db, Tx } from "../client.ts";
import { apps, logCheckpoints, releases, requestStats, requestTotals, resourceStats, slots, trafficSwitches } from "../schema/index.ts";

/** Any fixed number shared by every panel on the database: the one holding it ingests. */
export const INGEST_LOCK = 0x5359_696e; // "SYin"

export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: T[] }).rows ?? [])) as T[];
}

/** postgres.js sends a Buffer as bytea; PGlite takes any Uint8Array. */
export const toBytea = (bytes: Uint8Array): Uint8Array => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export const accessSource = (app: string) => `access:${app}`;

export interface Checkpoint {
  ino: number;
  offset: number;
}

export async function readCheckpoints(db: Db): Promise<Map<string, Checkpoint>> {
  const rows = await db.select().from(logCheckpoints).where(like(logCheckpoints.source, "access:%"));
  return new Map(rows.map((r) => [r.source, { ino: r.ino, offset: r.offset }]));
}

/** Checkpoints of access logs whose app is gone. */
export async function removeOrphanCheckpoints(db: Db): Promise<number> {
  const gone = await db.execute(
    sql`delete from log_checkpoints where source like 'access:%'
        and substr(source, 8) not in (select name from apps) returning source`,
  );
  return rowsOf(gone).length;
}

/** An app's traffic switches, oldest first (what attribution reads). */
export async function listSwitches(db: Db | Tx, appId: string) {
  return db
    .select()
    .from(trafficSwitches)
    .where(eq(trafficSwitches.appId, appId))
    .orderBy(asc(trafficSwitches.at), asc(trafficSwitches.id));
}

export async function slotReleases(db: Db, appId: string): Promise<Partial<Record<"blue" | "green", string | null>>> {
  const rows = await db.select({ color: slots.color, releaseId: slots.releaseId }).from(slots).where(eq(slots.appId, appId));
  return Object.fromEntries(rows.map((r) => [r.color, r.releaseId]));
}

/** One group of requests to add to a minute row. */
export interface MinuteGroup {
  bucket: Date;
  slot: string;
  releaseId: string | null;
  agg: RequestAggregate;
}

export type IngestOutcome = "written" | "locked" | "moved";

/**
 * Adds what was read from an app's access log, exactly once: in one transaction under the ingest
 * lock, only when the stored checkpoint is still the one the lines were read from, the minute rows
 * (sketches merged), the app's totals and the new checkpoint are written together. "locked":
 * another panel ingests; "moved": another ingest got there first (nothing was written).
 */
export async function ingestBatch(
  db: Db,
  input: {
    appId: string;
    source: string;
    readFrom: Checkpoint | null;
    next: Checkpoint;
    groups: MinuteGroup[];
    totals: RequestAggregate & { histogram: number[] };
  },
): Promise<IngestOutcome> {
  return db.transaction(async (tx) => {
    const lock = rowsOf<{ held: boolean }>(await tx.execute(sql`select pg_try_advisory_xact_lock(${INGEST_LOCK}) as held`));
    if (!lock[0]?.held) return "locked";
    const [stored] = await tx.select().from(logCheckpoints).where(eq(logCheckpoints.source, input.source)).for("update");
    const same = stored ? input.readFrom && stored.ino === input.readFrom.ino && stored.offset === input.readFrom.offset : !input.readFrom;
    if (!same) return "moved";
    // An app deleted meanwhile: its rows would fail their foreign key.
    const [app] = await tx.select({ id: apps.id }).from(apps).where(eq(apps.id, input.appId));
    if (app && input.groups.length > 0) {
      await mergeMinutes(tx, input.appId, input.groups);
      await addTotals(tx, input.appId, input.totals);
    }
    await tx
      .insert(logCheckpoints)
      .values({ source: input.source, ino: input.next.ino, offset: input.next.offset })
      .onConflictDoUpdate({
        target: logCheckpoints.source,
        set: { ino: input.next.ino, offset: input.next.offset, updatedAt: new Date() },
      });
    return "written";
  });
}

const key = (bucket: Date, slot: string, releaseId: string | null) => `${bucket.getTime()}|${slot}|${releaseId ?? ""}`;

async function mergeMinutes(tx: Tx, appId: string, groups: MinuteGroup[]): Promise<void> {
  const buckets = [...new Set(groups.map((g) => g.bucket.getTime()))].map((t) => new Date(t));
  const existing = await tx
    .select({ bucket: requestStats.bucket, slot: requestStats.slot, releaseId: requestStats.releaseId, sketch: requestStats.sketch })
    .from(requestStats)
    .where(and(eq(requestStats.appId, appId), eq(requestStats.resolution, "minute"), inArray(requestStats.bucket, buckets)));
  const stored = new Map(existing.map((r) => [key(r.bucket, r.slot, r.releaseId), r.sketch]));
  const values = groups.map((g) => {
    const sketch = g.agg.sketch;
    const before = stored.get(key(g.bucket, g.slot, g.releaseId));
    if (before) {
      const old = decodeSketch(before);
      if (old.count > 0) sketch.merge(old);
    }
    const { agg } = g;
    return {
      appId,
      resolution: "minute" as const,
      bucket: g.bucket,
      slot: g.slot,
      releaseId: g.releaseId,
      requests: agg.requests,
      s1xx: agg.s1xx,
      s2xx: agg.s2xx,
      s3xx: agg.s3xx,
      s4xx: agg.s4xx,
      s5xx: agg.s5xx,
      bytesIn: agg.bytesIn,
      bytesOut: agg.bytesOut,
      timed: agg.timed,
      latencySumMs: agg.latencySumMs,
      sketch: sketch.count > 0 ? toBytea(encodeSketch(sketch)) : null,
    };
  });
  const add = (column: string) => sql.raw(`request_stats.${column} + excluded.${column}`);
  await tx
    .insert(requestStats)
    .values(values)
    .onConflictDoUpdate({
      target: [requestStats.appId, requestStats.resolution, requestStats.bucket, requestStats.slot, requestStats.releaseId],
      set: {
        requests: add("requests"),
        s1xx: add("s1xx"),
        s2xx: add("s2xx"),
        s3xx: add("s3xx"),
        s4xx: add("s4xx"),
        s5xx: add("s5xx"),
        bytesIn: add("bytes_in"),
        bytesOut: add("bytes_out"),
        timed: add("timed"),
        latencySumMs: add("latency_sum_ms"),
        sketch: sql`excluded.sketch`,
      },
    });
}

async function addTotals(tx: Tx, appId: string, t: RequestAggregate & { histogram: number[] }): Promise<void> {
  const [row] = await tx.select().from(requestTotals).where(eq(requestTotals.appId, appId)).for("update");
  const histogram = addHistograms(row?.latencyBuckets ?? emptyHistogram(), t.histogram);
  const values = {
    requests: (row?.requests ?? 0) + t.requests,
    s1xx: (row?.s1xx ?? 0) + t.s1xx,
    s2xx: (row?.s2xx ?? 0) + t.s2xx,
    s3xx: (row?.s3xx ?? 0) + t.s3xx,
    s4xx: (row?.s4xx ?? 0) + t.s4xx,
    s5xx: (row?.s5xx ?? 0) + t.s5xx,
    bytesIn: (row?.bytesIn ?? 0) + t.bytesIn,
    bytesOut: (row?.bytesOut ?? 0) + t.bytesOut,
    timed: (row?.timed ?? 0) + t.timed,
    latencySumMs: (row?.latencySumMs ?? 0) + t.latencySumMs,
    latencyBuckets: histogram,
    updatedAt: new Date(),
  };
  if (row) await tx.update(requestTotals).set(values).where(eq(requestTotals.appId, appId));
  else await tx.insert(requestTotals).values({ appId, ...values });
}

/**
 * Requests of one slot (and release, when given) in the minute rows from `from` to `to` (both
 * minute buckets, inclusive): what the post-switch watch compares.
 */
export async function slotFigures(
  db: Db,
  o: { appId: string; slot: string; releaseId?: string; from: Date; to: Date },
): Promise<{ requests: number; errors: number; timed: number; p95: number | null }> {
  const rows = await db
    .select({ requests: requestStats.requests, s5xx: requestStats.s5xx, timed: requestStats.timed, sketch: requestStats.sketch })
    .from(requestStats)
    .where(
      and(
        eq(requestStats.appId, o.appId),
        eq(requestStats.resolution, "minute"),
        eq(requestStats.slot, o.slot),
        o.releaseId ? eq(requestStats.releaseId, o.releaseId) : undefined,
        gte(requestStats.bucket, o.from),
        lte(requestStats.bucket, o.to),
      ),
    );
  const sketch = mergeSketches(rows.map((r) => r.sketch));
  return {
    requests: rows.reduce((n, r) => n + r.requests, 0),
    errors: rows.reduce((n, r) => n + r.s5xx, 0),
    timed: rows.reduce((n, r) => n + r.timed, 0),
    p95: quantile(sketch, 0.95),
  };
}

// ── reads for the API ───────────────────────────────────────────────────────────────────────

export type StatRow = typeof requestStats.$inferSelect;

/**
 * Where each resolution's rollups have got to: rows of `resolution` exist up to (not including)
 * the returned time; newer buckets are read from the finer resolution. Minutes are always current.
 */
export async function rolledUntil(db: Db, table: "request_stats" | "resource_stats"): Promise<Record<Resolution, number>> {
  const t = table === "request_stats" ? requestStats : resourceStats;
  // One max per resolution, each an index lookup (resolution, bucket), rather than a scan of every rollup row.
  const [row] = rowsOf<{ hour: string | Date | null; day: string | Date | null }>(
    await db.execute(
      sql`select (select max(bucket) from ${t} where resolution = 'hour') as hour, (select max(bucket) from ${t} where resolution = 'day') as day`,
    ),
  );
  const until = (r: "hour" | "day") => {
    const max = row?.[r];
    return max ? new Date(max).getTime() + RESOLUTION_MS[r] : 0;
  };
  return { minute: Number.POSITIVE_INFINITY, hour: until("hour"), day: until("day") };
}

/**
 * The pieces of [from, to) to read at each resolution, coarsest first: `resolution` as far as it
 * is rolled up, then the finer ones for what is not yet.
 */
export function readPlan(resolution: Resolution, from: number, to: number, until: Record<Resolution, number>) {
  const plan: Array<{ resolution: Resolution; from: Date; to: Date }> = [];
  let start = from;
  const chain: Resolution[] = resolution === "day" ? ["day", "hour", "minute"] : resolution === "hour" ? ["hour", "minute"] : ["minute"];
  for (const r of chain) {
    if (start >= to) break;
    const end = Math.min(to, until[r]);
    if (end > start) plan.push({ resolution: r, from: new Date(start), to: new Date(end) });
    start = Math.max(start, end);
  }
  return plan;
}

/** An app's request rows over a range, each resolution where the plan says. */
export async function requestRows(db: Db, appId: string, resolution: Resolution, from: number, to: number): Promise<StatRow[]> {
  const plan = readPlan(resolution, from, to, await rolledUntil(db, "request_stats"));
  const out: StatRow[] = [];
  for (const part of plan) {
    out.push(
      ...(await db
        .select()
        .from(requestStats)
        .where(
          and(
            eq(requestStats.appId, appId),
            eq(requestStats.resolution, part.resolution),
            gte(requestStats.bucket, part.from),
            lt(requestStats.bucket, part.to),
          ),
        )),
    );
  }
  return out;
}

/** An app's slot resource rows over a range, the same way. */
export async function slotResourceRows(db: Db, appId: string, resolution: Resolution, from: number, to: number) {
  const plan = readPlan(resolution, from, to, await rolledUntil(db, "resource_stats"));
  const out: Array<{ bucket: Date; slot: string | null; samples: number; values: Record<string, unknown> }> = [];
  for (const part of plan) {
    out.push(
      ...(await db
        .select({ bucket: resourceStats.bucket, slot: resourceStats.slot, samples: resourceStats.samples, values: resourceStats.values })
        .from(resourceStats)
        .where(
          and(
            eq(resourceStats.appId, appId),
            eq(resourceStats.subject, "slot"),
            eq(resourceStats.resolution, part.resolution),
            gte(resourceStats.bucket, part.from),
            lt(resourceStats.bucket, part.to),
          ),
        )),
    );
  }
  return out;
}

/** An app's switches with their release numbers, oldest first. */
export async function switchesWithNumbers(db: Db, appId: string) {
  return db
    .select({
      at: trafficSwitches.at,
      kind: trafficSwitches.kind,
      color: trafficSwitches.color,
      releaseId: trafficSwitches.releaseId,
      releaseNumber: releases.number,
      jobId: trafficSwitches.jobId,
    })
    .from(trafficSwitches)
    .leftJoin(releases, eq(releases.id, trafficSwitches.releaseId))
    .where(eq(trafficSwitches.appId, appId))
    .orderBy(asc(trafficSwitches.at), asc(trafficSwitches.id));
}

/** Release numbers by id, for the releases in a list. */
export async function releaseNumbers(db: Db, ids: string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await db.select({ id: releases.id, number: releases.number }).from(releases).where(inArray(releases.id, ids));
  return new Map(rows.map((r) => [r.id, r.number]));
}

/**
 * Requests per app per hour over the last 24 h (summed in SQL from hour rows where rolled up,
 * minute rows after), and each app's 5xx share and sketches over the last hour.
 */
export async function dashboardRows(db: Db, now: number) {
  const hour = RESOLUTION_MS.hour;
  const start = Math.floor(now / hour) * hour - 23 * hour;
  const until = (await rolledUntil(db, "request_stats")).hour;
  const split = new Date(Math.max(start, Math.min(until, now + hour)));
  const hourly = rowsOf<{ app_id: string; h: string | Date; n: number | string }>(
    await db.execute(sql`
      select app_id, bucket as h, sum(requests) as n from request_stats
       where resolution = 'hour' and bucket >= ${new Date(start).toISOString()}::timestamptz and bucket < ${split.toISOString()}::timestamptz
       group by app_id, bucket
      union all
      select app_id, date_trunc('hour', bucket) as h, sum(requests) as n from request_stats
       where resolution = 'minute' and bucket >= ${split.toISOString()}::timestamptz
       group by app_id, date_trunc('hour', bucket)`),
  );
  const lastHour = await db
    .select({ appId: requestStats.appId, requests: requestStats.requests, s5xx: requestStats.s5xx, sketch: requestStats.sketch })
    .from(requestStats)
    .where(and(eq(requestStats.resolution, "minute"), gte(requestStats.bucket, new Date(now - hour))));
  return { start, hourly, lastHour };
}

/** Counts of switches per UTC day (deploys, rollbacks of either kind) over a range. */
export async function switchesPerDay(db: Db, appId: string, from: Date, to: Date) {
  return db
    .select({ at: trafficSwitches.at, kind: trafficSwitches.kind })
    .from(trafficSwitches)
    .where(and(eq(trafficSwitches.appId, appId), gte(trafficSwitches.at, from), lt(trafficSwitches.at, to)));
}

/** Every app's id, name and status, by name (the dashboard's cards). */
export async function appCards(db: Db) {
  return db.select({ id: apps.id, name: apps.name, status: apps.status }).from(apps).orderBy(asc(apps.name));
}

/** The newest minute of the server's figures, or null before the first. */
export async function newestSystemMinute(db: Db): Promise<{ bucket: Date; values: Record<string, unknown> } | null> {
  const [row] = await db
    .select({ bucket: resourceStats.bucket, values: resourceStats.values })
    .from(resourceStats)
    .where(and(eq(resourceStats.subject, "system"), eq(resourceStats.resolution, "minute")))
    .orderBy(desc(resourceStats.bucket))
    .limit(1);
  return row ?? null;
}
