import { and, eq, gte, lt, sql } from "drizzle-orm";
import {
  addAggregate,
  decodeSketch,
  emptyAggregate,
  encodeSketch,
  type RequestAggregate,
  type Resolution,
  rollUpResources,
} from "../../domain/metrics.ts";
import type { Db } from "../client.ts";
import { requestStats, resourceStats } from "../schema/index.ts";
import { rowsOf, toBytea } from "./request-stats.ts";

/** Any fixed number shared by every panel on the database: the one holding it rolls up and prunes. */
const ROLLUP_LOCK = 0x5359_726f; // "SYro"

type Table = "request_stats" | "resource_stats";

/** The newest and oldest bucket of a resolution in a table (null when it has none). */
export async function bucketRange(db: Db, table: Table, resolution: Resolution): Promise<{ min: Date | null; max: Date | null }> {
  const t = table === "request_stats" ? requestStats : resourceStats;
  const [row] = await db
    .select({ min: sql<string | null>`min(${t.bucket})`, max: sql<string | null>`max(${t.bucket})` })
    .from(t)
    .where(eq(t.resolution, resolution));
  const date = (v: string | Date | null | undefined) => (v ? new Date(v) : null);
  return { min: date(row?.min), max: date(row?.max) };
}

async function locked<T>(db: Db, fn: (tx: Parameters<Parameters<Db["transaction"]>[0]>[0]) => Promise<T>): Promise<T | null> {
  return db.transaction(async (tx) => {
    const lock = rowsOf<{ held: boolean }>(await tx.execute(sql`select pg_try_advisory_xact_lock(${ROLLUP_LOCK}) as held`));
    if (!lock[0]?.held) return null;
    return fn(tx);
  });
}

/**
 * The request rows of one `target` bucket recomputed whole from the `source` rows inside it
 * (counts summed, sketches merged): running it twice gives the same rows. Null when another panel
 * holds the lock.
 */
export async function rollUpRequests(db: Db, source: Resolution, target: Resolution, bucket: Date, size: number): Promise<number | null> {
  const end = new Date(bucket.getTime() + size);
  return locked(db, async (tx) => {
    const rows = await tx
      .select()
      .from(requestStats)
      .where(and(eq(requestStats.resolution, source), gte(requestStats.bucket, bucket), lt(requestStats.bucket, end)));
    const groups = new Map<string, { appId: string; slot: string; releaseId: string | null; agg: RequestAggregate }>();
    for (const r of rows) {
      const k = `${r.appId}|${r.slot}|${r.releaseId ?? ""}`;
      let g = groups.get(k);
      if (!g) {
        g = { appId: r.appId, slot: r.slot, releaseId: r.releaseId, agg: emptyAggregate() };
        groups.set(k, g);
      }
      addAggregate(g.agg, { ...r, sketch: decodeSketch(r.sketch) });
    }
    await tx.delete(requestStats).where(and(eq(requestStats.resolution, target), eq(requestStats.bucket, bucket)));
    if (groups.size === 0) return 0;
    await tx.insert(requestStats).values(
      [...groups.values()].map(({ appId, slot, releaseId, agg }) => ({
        appId,
        resolution: target,
        bucket,
        slot,
        releaseId,
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
        sketch: agg.sketch.count > 0 ? toBytea(encodeSketch(agg.sketch)) : null,
      })),
    );
    return groups.size;
  });
}

/** The same for resource rows: a weighted mean by samples, `restarts` the highest, `disks` the last. */
export async function rollUpResourceRows(
  db: Db,
  source: Resolution,
  target: Resolution,
  bucket: Date,
  size: number,
): Promise<number | null> {
  const end = new Date(bucket.getTime() + size);
  return locked(db, async (tx) => {
    const rows = await tx
      .select()
      .from(resourceStats)
      .where(and(eq(resourceStats.resolution, source), gte(resourceStats.bucket, bucket), lt(resourceStats.bucket, end)));
    const rolled = rollUpResources(rows);
    await tx.delete(resourceStats).where(and(eq(resourceStats.resolution, target), eq(resourceStats.bucket, bucket)));
    if (rolled.length === 0) return 0;
    await tx.insert(resourceStats).values(rolled.map((r) => ({ ...r, resolution: target, bucket })));
    return rolled.length;
  });
}

/** Rows of a resolution older than `cutoff`, from both tables. */
export async function pruneMetrics(db: Db, resolution: Resolution, cutoff: Date): Promise<{ requests: number; resources: number } | null> {
  return locked(db, async (tx) => {
    const count = async (table: Table) => {
      const [row] = rowsOf<{ n: number | string }>(
        await tx.execute(
          sql`with gone as (delete from ${sql.identifier(table)} where resolution = ${resolution} and bucket < ${cutoff.toISOString()}::timestamptz returning 1)
              select count(*) as n from gone`,
        ),
      );
      return Number(row?.n ?? 0);
    };
    const requests = await count("request_stats");
    const resources = await count("resource_stats");
    return { requests, resources };
  });
}
