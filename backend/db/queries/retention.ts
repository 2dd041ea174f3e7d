import { eq, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { settings } from "../schema/index.ts";

export interface Retention {
  /** Finished jobs (with their steps and logs) older than this are removed… */
  jobDays: number;
  /** …unless they are among the latest this many jobs of their app. */
  jobsPerApp: number;
  deliveryDays: number;
  auditDays: number;
  /** Request and resource figures per minute are kept this many days… */
  minuteDays: number;
  /** …per hour this many… */
  hourDays: number;
  /** …and per day this many. */
  dayDays: number;
  /** Runtime log lines older than this are removed… */
  logDays: number;
  /** …and so are the oldest beyond this many MB per app. */
  logMaxMb: number;
}

export const DEFAULT_RETENTION: Retention = {
  jobDays: 90,
  jobsPerApp: 50,
  deliveryDays: 30,
  auditDays: 365,
  minuteDays: 7,
  hourDays: 90,
  dayDays: 730,
  logDays: 14,
  logMaxMb: 100,
};
export const RETENTION_LIMITS: Record<keyof Retention, number> = {
  jobDays: 3650,
  jobsPerApp: 10_000,
  deliveryDays: 3650,
  auditDays: 3650,
  minuteDays: 90,
  hourDays: 3650,
  dayDays: 3650,
  logDays: 3650,
  logMaxMb: 100_000,
};

const KEY = "retention";
/** Any fixed number shared by every panel on the database: the one that holds it prunes. */
const PRUNE_LOCK = 0x5359_7072; // "SYpr"

function valid(value: unknown, name: keyof Retention): number | null {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= RETENTION_LIMITS[name] ? value : null;
}

/** The stored settings over the defaults; a stored value out of bounds falls back to its default. */
export async function getRetention(db: Db): Promise<Retention> {
  const [row] = await db.select().from(settings).where(eq(settings.key, KEY));
  const stored = (row?.value ?? {}) as Record<string, unknown>;
  const out = { ...DEFAULT_RETENTION };
  for (const name of Object.keys(out) as (keyof Retention)[]) out[name] = valid(stored[name], name) ?? out[name];
  return out;
}

export async function setRetention(db: Db, change: Partial<Retention>): Promise<Retention> {
  const next = { ...(await getRetention(db)), ...change };
  await db
    .insert(settings)
    .values({ key: KEY, value: next })
    .onConflictDoUpdate({ target: settings.key, set: { value: next, updatedAt: new Date() } });
  return next;
}

/** How long resolved alerts are kept. */
export const ALERT_HISTORY_DAYS = 90;

export interface PruneTally {
  jobs: number;
  deliveries: number;
  /** Notification deliveries that were sent or given up on (pending ones are never removed). */
  notifications: number;
  /** Resolved alerts past ALERT_HISTORY_DAYS (the Alerts page's history). */
  alerts: number;
  audit: number;
}

function count(result: unknown): number {
  const r = result as { rows?: unknown[]; affectedRows?: number; count?: number; length?: number };
  if (Array.isArray(r)) return r.length;
  if (Array.isArray(r.rows)) return r.rows.length;
  return r.affectedRows ?? r.count ?? 0;
}

/**
 * Removes what the retention settings no longer keep, in one transaction under an advisory lock:
 * when two panels prune at once, the second finds the lock taken and returns null.
 * A queued or running job, and the latest job of each kind of each app, are never removed.
 */
export async function pruneExpired(db: Db, retention: Retention, now = new Date()): Promise<PruneTally | null> {
  const day = 86_400_000;
  const jobCutoff = new Date(now.getTime() - retention.jobDays * day);
  const deliveryCutoff = new Date(now.getTime() - retention.deliveryDays * day);
  const auditCutoff = new Date(now.getTime() - retention.auditDays * day);
  return db.transaction(async (tx) => {
    const lock = await tx.execute(sql`select pg_try_advisory_xact_lock(${PRUNE_LOCK}) as held`);
    const rows = ((lock as { rows?: { held: boolean }[] }).rows ?? (lock as unknown as { held: boolean }[])) as { held: boolean }[];
    if (!rows[0]?.held) return null;
    const jobs = await tx.execute(sql`
      delete from jobs where status not in ('queued', 'running') and created_at < ${jobCutoff.toISOString()}::timestamptz
        and id not in (select id from (select id, row_number() over (partition by app_id order by created_at desc) as n from jobs) ranked
                       where n <= ${retention.jobsPerApp})
        and id not in (select distinct on (app_id, kind) id from jobs order by app_id, kind, created_at desc)
      returning id`);
    const deliveries = await tx.execute(
      sql`delete from webhook_deliveries where received_at < ${deliveryCutoff.toISOString()}::timestamptz returning id`,
    );
    const notifications = await tx.execute(
      sql`delete from notification_deliveries where status in ('sent', 'failed') and created_at < ${deliveryCutoff.toISOString()}::timestamptz returning id`,
    );
    const alertCutoff = new Date(now.getTime() - ALERT_HISTORY_DAYS * day);
    const alerts = await tx.execute(
      sql`delete from alerts where state = 'resolved' and started_at < ${alertCutoff.toISOString()}::timestamptz returning id`,
    );
    const audit = await tx.execute(sql`delete from audit_log where at < ${auditCutoff.toISOString()}::timestamptz returning id`);
    return {
      jobs: count(jobs),
      deliveries: count(deliveries),
      notifications: count(notifications),
      alerts: count(alerts),
      audit: count(audit),
    };
  });
}
