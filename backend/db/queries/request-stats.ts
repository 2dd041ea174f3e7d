import { and, asc, desc, eq, gte, inArray, lt, lte, sql } from "drizzle-orm";
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
import { apps, logCheckpoints, releases, requestStats, requestTotals, resourceStats, trafficSwitches } from "../schema/index.ts";

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

/** Every app with the checkpoint of its access log (null before its first ingest), in one statement. */
export async function appsWithCheckpoints(db: Db): Promise<Array<{ id: string; name: string; checkpoint: Checkpoint | null }>> {
  const rows = await db
    .select({ id: apps.id, name: apps.name, ino: logCheckpoints.ino, offset: logCheckpoints.offset })
    .from(apps)
    .leftJoin(logCheckpoints, eq(logCheckpoints.source, sql`'access:' || ${apps.name}`));
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    checkpoint: r.ino === null || r.offset === null ? null : { ino: Number(r.ino), offset: Number(r.offset) },
  }));
}

/** Checkpoints of access logs whose app is gone. */
export async function removeOrphanCheckpoints(db: Db): Promise<number> {
  const gone = await db.execute(
    sql`delete from log_checkpoints where source like 'access:%'
        and substr(source, 8) not in (select name from apps) returning source`,
  );
  return rowsOf(gone).length;
}

/**
 * What attribution reads for one app, in one statement: its traffic switches oldest first
 * (`at` in epoch milliseconds) and the release each slot runs.
 */
export async function attributionOf(
  db: Db,
  appId: string,
): Promise<{
  switches: Array<{ at: number; color: "blue" | "green" | null; releaseId: string | null }>;
  running: Partial<Record<"blue" | "green", string | null>>;
}> {
  const rows = rowsOf<{ slot: boolean; color: string | null; release_id: string | null; at: number | string | null }>(
    await db.execute(sql`
      select false as slot, color, release_id, floor(extract(epoch from at) * 1000)::float8 as at, id
        from traffic_switches where app_id = ${appId}
      union all
      select true, color, release_id, null, null from slots where app_id = ${appId}
      order by slot, at, id`),
  );
  const switches: Array<{ at: number; color: "blue" | "green" | null; releaseId: string | null }> = [];
  const running: Partial<Record<"blue" | "green", string | null>> = {};
  for (const r of rows) {
    const color = r.color as "blue" | "green" | null;
    if (r.slot) {
      if (color) running[color] = r.release_id;
    } else switches.push({ at: Number(r.at), color, releaseId: r.release_id });
  }
  return { switches, running };
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
    // Every writer of access checkpoints holds the lock just taken, so this statement (whose
    // snapshot starts after it) sees the last committed checkpoint; and whether the app still
    // exists (an app deleted meanwhile: its rows would fail their foreign key).
    const [state] = rowsOf<{ ino: number | string | null; offset: number | string | null; app: boolean }>(
      await tx.execute(sql`select
        (select ino::float8 from log_checkpoints where source = ${input.source}) as ino,
        (select "offset"::float8 from log_checkpoints where source = ${input.source}) as "offset",
        exists (select 1 from apps where id = ${input.appId}) as app`),
    );
    const stored = state && state.ino !== null && state.offset !== null ? { ino: Number(state.ino), offset: Number(state.offset) } : null;
    const same = stored ? input.readFrom && stored.ino === input.readFrom.ino && stored.offset === input.readFrom.offset : !input.readFrom;
    if (!same) return "moved";
    if (state?.app === true && input.groups.length > 0) {
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

/** Adds to the app's cumulative totals in one upsert (the histogram added bound by bound). */
async function addTotals(tx: Tx, appId: string, t: RequestAggregate & { histogram: number[] }): Promise<void> {
  const add = (column: string) => sql.raw(`request_totals.${column} + excluded.${column}`);
  await tx
    .insert(requestTotals)
    .values({
      appId,
      requests: t.requests,
      s1xx: t.s1xx,
      s2xx: t.s2xx,
      s3xx: t.s3xx,
      s4xx: t.s4xx,
      s5xx: t.s5xx,
      bytesIn: t.bytesIn,
      bytesOut: t.bytesOut,
      timed: t.timed,
      latencySumMs: t.latencySumMs,
      latencyBuckets: addHistograms(emptyHistogram(), t.histogram),
    })
    .onConflictDoUpdate({
      target: requestTotals.appId,
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
        latencyBuckets: sql`(select jsonb_agg(n.v::numeric + coalesce(o.v::numeric, 0) order by n.i)
          from jsonb_array_elements(excluded.latency_buckets) with ordinality n(v, i)
          left join jsonb_array_elements(request_totals.latency_buckets) with ordinality o(v, i) on o.i = n.i)`,
        updatedAt: new Date(),
      },
    });
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
