import { and, asc, eq, gte, inArray, lt, notInArray, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import {
  apps,
  auditLog,
  jobs,
  logCheckpoints,
  type Resolution,
  type ResourceSubject,
  requestStats,
  requestTotals,
  resourceStats,
  slots,
  trafficSwitches,
} from "../schema/index.ts";

/** Any fixed number shared by every panel on the database: the one holding it writes the minute. */
export const RESOURCE_LOCK = 0x5359_7273; // "SYrs"
/** Serialises restart records, so two panels sampling the same slot record one. */
const RESTART_LOCK = 0x5359_7274; // "SYrt"

function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: T[] }).rows ?? [])) as T[];
}

export interface ResourceRow {
  bucket: Date;
  subject: ResourceSubject;
  appId: string | null;
  slot: string | null;
  samples: number;
  values: Record<string, unknown>;
}

/**
 * Writes one minute's rows (each replacing the row of the same bucket and subject) in one
 * transaction under an advisory lock; false when another panel held it and writes them instead.
 */
export async function writeResourceMinute(db: Db, rows: ResourceRow[]): Promise<boolean> {
  if (rows.length === 0) return true;
  return db.transaction(async (tx) => {
    const lock = rowsOf<{ held: boolean }>(await tx.execute(sql`select pg_try_advisory_xact_lock(${RESOURCE_LOCK}) as held`));
    if (!lock[0]?.held) return false;
    // Apps deleted since the sample was taken would fail the foreign key.
    const appIds = [...new Set(rows.map((r) => r.appId).filter((id): id is string => id !== null))];
    const existing = appIds.length
      ? new Set((await tx.select({ id: apps.id }).from(apps).where(inArray(apps.id, appIds))).map((a) => a.id))
      : new Set<string>();
    const kept = rows.filter((r) => r.appId === null || existing.has(r.appId));
    if (kept.length === 0) return true;
    await tx
      .insert(resourceStats)
      .values(kept.map((r) => ({ resolution: "minute" as const, ...r })))
      .onConflictDoUpdate({
        target: [resourceStats.resolution, resourceStats.bucket, resourceStats.subject, resourceStats.appId, resourceStats.slot],
        set: { samples: sql`excluded.samples`, values: sql`excluded."values"` },
      });
    return true;
  });
}

export async function resourceRows(
  db: Db,
  o: { resolution: Resolution; subject: ResourceSubject; from: Date; to: Date; appId?: string },
): Promise<Array<{ bucket: Date; slot: string | null; samples: number; values: Record<string, unknown> }>> {
  return db
    .select({ bucket: resourceStats.bucket, slot: resourceStats.slot, samples: resourceStats.samples, values: resourceStats.values })
    .from(resourceStats)
    .where(
      and(
        eq(resourceStats.resolution, o.resolution),
        eq(resourceStats.subject, o.subject),
        gte(resourceStats.bucket, o.from),
        lt(resourceStats.bucket, o.to),
        ...(o.appId ? [eq(resourceStats.appId, o.appId)] : []),
      ),
    )
    .orderBy(asc(resourceStats.bucket));
}

/** Every slot the sampler looks at: those that should run (and any the runtime may still run). */
export async function slotsToSample(db: Db) {
  return db
    .select({ appId: apps.id, app: apps.name, color: slots.color, state: slots.state, releaseId: slots.releaseId })
    .from(slots)
    .innerJoin(apps, eq(slots.appId, apps.id))
    .where(notInArray(slots.state, ["empty"]))
    .orderBy(asc(apps.name), asc(slots.color));
}

export async function appNames(db: Db): Promise<Array<{ id: string; name: string }>> {
  return db.select({ id: apps.id, name: apps.name }).from(apps).orderBy(asc(apps.name));
}

/** Requests and 5xx answers of each app in one minute bucket. */
export async function requestsInMinute(db: Db, bucket: Date): Promise<Map<string, { requests: number; errors: number }>> {
  const rows = await db
    .select({
      appId: requestStats.appId,
      requests: sql<number>`coalesce(sum(${requestStats.requests}), 0)::int`,
      errors: sql<number>`coalesce(sum(${requestStats.s5xx}), 0)::int`,
    })
    .from(requestStats)
    .where(and(eq(requestStats.resolution, "minute"), eq(requestStats.bucket, bucket)))
    .groupBy(requestStats.appId);
  return new Map(rows.map((r) => [r.appId, { requests: Number(r.requests), errors: Number(r.errors) }]));
}

export async function databaseSize(db: Db): Promise<number> {
  const [row] = rowsOf<{ bytes: string | number }>(await db.execute(sql`select pg_database_size(current_database()) as bytes`));
  return Number(row?.bytes ?? 0);
}

/** Round trip of a trivial query, in ms. */
export async function databaseLatency(db: Db): Promise<number> {
  const started = performance.now();
  await db.execute(sql`select 1`);
  return performance.now() - started;
}

/**
 * Records that a slot's process restarted (its runtime's counter reached `restarts`) in the audit
 * log, once: a second panel sampling the same slot finds the entry and records nothing.
 */
export async function recordRestart(
  db: Db,
  o: { app: string; color: string; restarts: number; releaseId: string | null; exit: Record<string, unknown> | null },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${RESTART_LOCK})`);
    const target = `app:${o.app}`;
    const [found] = await tx
      .select({ id: auditLog.id })
      .from(auditLog)
      .where(
        and(
          eq(auditLog.action, "slot.restarted"),
          eq(auditLog.target, target),
          sql`${auditLog.details}->>'color' = ${o.color}`,
          sql`${auditLog.details}->>'restarts' = ${String(o.restarts)}`,
          gte(auditLog.at, new Date(Date.now() - 24 * 3_600_000)),
        ),
      )
      .limit(1);
    if (found) return false;
    await tx.insert(auditLog).values({
      actor: "system",
      action: "slot.restarted",
      target,
      details: { color: o.color, restarts: o.restarts, releaseId: o.releaseId, exit: o.exit },
    });
    return true;
  });
}

// ── For /metrics ──────────────────────────────────────────────────────────────────────────────

export async function requestTotalsByApp(db: Db) {
  return db
    .select({ app: apps.name, totals: requestTotals })
    .from(requestTotals)
    .innerJoin(apps, eq(requestTotals.appId, apps.id))
    .orderBy(asc(apps.name));
}

/** Finished jobs per app, kind and status (deploys and manual rollbacks). */
export async function jobCounts(db: Db) {
  const rows = await db
    .select({ app: apps.name, kind: jobs.kind, status: jobs.status, count: sql<number>`count(*)::int` })
    .from(jobs)
    .innerJoin(apps, eq(jobs.appId, apps.id))
    .where(inArray(jobs.kind, ["deploy", "rollback"]))
    .groupBy(apps.name, jobs.kind, jobs.status)
    .orderBy(asc(apps.name));
  return rows.map((r) => ({ ...r, count: Number(r.count) }));
}

/** Automatic rollbacks per app (the post-switch watch moving traffic back). */
export async function automaticRollbacks(db: Db) {
  const rows = await db
    .select({ app: apps.name, count: sql<number>`count(*)::int` })
    .from(trafficSwitches)
    .innerJoin(apps, eq(trafficSwitches.appId, apps.id))
    .where(eq(trafficSwitches.kind, "auto-rollback"))
    .groupBy(apps.name);
  return rows.map((r) => ({ ...r, count: Number(r.count) }));
}

/** Durations of finished jobs per kind and status, in seconds. */
export async function jobDurations(db: Db) {
  const rows = await db
    .select({
      kind: jobs.kind,
      status: jobs.status,
      count: sql<number>`count(*)::int`,
      seconds: sql<number>`coalesce(sum(extract(epoch from (${jobs.finishedAt} - ${jobs.startedAt}))), 0)::float8`,
    })
    .from(jobs)
    .where(and(sql`${jobs.finishedAt} is not null`, sql`${jobs.startedAt} is not null`))
    .groupBy(jobs.kind, jobs.status)
    .orderBy(asc(jobs.kind), asc(jobs.status));
  return rows.map((r) => ({ ...r, count: Number(r.count), seconds: Number(r.seconds) }));
}

export async function checkpoints(db: Db) {
  return db.select().from(logCheckpoints);
}
