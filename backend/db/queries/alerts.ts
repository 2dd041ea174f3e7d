import { and, asc, desc, eq, gte, inArray, lte, max, sql } from "drizzle-orm";
import type { AlertState } from "../../contract/api.ts";
import { DEFAULT_RULES } from "../../domain/alert-rules.ts";
import type { Db } from "../client.ts";
import {
  type AlertRow,
  type AlertRuleRow,
  alertRules,
  alertSends,
  alerts,
  apps,
  requestStats,
  resourceStats,
  settings,
  users,
} from "../schema/index.ts";
import { rowsOf } from "./request-stats.ts";

/** Any fixed number shared by every panel on the database: the one holding it evaluates the rules. */
const ALERTS_LOCK = 0x5359_616c; // "SYal"
/** Set once the default rules were written, so rules a user deleted stay deleted. */
const DEFAULTS_KEY = "alerts.defaultRules";

/**
 * Runs `fn` holding the evaluator's lock, so one panel of several evaluates; false when another
 * panel holds it. `fn` may use other connections (the lock stays held until it returns).
 */
export async function withAlertsLock(db: Db, fn: () => Promise<void>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const lock = rowsOf<{ held: boolean }>(await tx.execute(sql`select pg_try_advisory_xact_lock(${ALERTS_LOCK}) as held`));
    if (!lock[0]?.held) return false;
    await fn();
    return true;
  });
}

/**
 * The default rules, written once per install: when none were ever written and no rule exists.
 * The marker and the rules go in one transaction; of two panels starting together one writes them.
 */
export async function ensureDefaultRules(db: Db): Promise<number> {
  return db.transaction(async (tx) => {
    const marked = await tx
      .insert(settings)
      .values({ key: DEFAULTS_KEY, value: { at: new Date().toISOString() } })
      .onConflictDoNothing()
      .returning({ key: settings.key });
    if (marked.length === 0) return 0;
    const [any] = await tx.select({ id: alertRules.id }).from(alertRules).limit(1);
    if (any) return 0;
    await tx.insert(alertRules).values(DEFAULT_RULES.map((r) => ({ ...r, appId: null, enabled: true, builtIn: true })));
    return DEFAULT_RULES.length;
  });
}

// ── rules ─────────────────────────────────────────────────────────────────────────────────────

export async function listRules(db: Db): Promise<Array<AlertRuleRow & { app: string | null }>> {
  const rows = await db
    .select({ rule: alertRules, app: apps.name })
    .from(alertRules)
    .leftJoin(apps, eq(apps.id, alertRules.appId))
    .orderBy(asc(alertRules.createdAt), asc(alertRules.name));
  return rows.map((r) => ({ ...r.rule, app: r.app }));
}

export async function findRule(db: Db, id: string): Promise<(AlertRuleRow & { app: string | null }) | null> {
  const [row] = await db
    .select({ rule: alertRules, app: apps.name })
    .from(alertRules)
    .leftJoin(apps, eq(apps.id, alertRules.appId))
    .where(eq(alertRules.id, id));
  return row ? { ...row.rule, app: row.app } : null;
}

export type RuleValues = Omit<typeof alertRules.$inferInsert, "id" | "createdAt" | "updatedAt" | "builtIn">;

export async function insertRule(db: Db, values: RuleValues): Promise<string> {
  const [row] = await db.insert(alertRules).values(values).returning({ id: alertRules.id });
  return (row as { id: string }).id;
}

export async function updateRule(db: Db, id: string, values: Partial<RuleValues>): Promise<boolean> {
  const rows = await db
    .update(alertRules)
    .set({ ...values, updatedAt: new Date() })
    .where(eq(alertRules.id, id))
    .returning({ id: alertRules.id });
  return rows.length > 0;
}

export async function deleteRule(db: Db, id: string): Promise<boolean> {
  const rows = await db.delete(alertRules).where(eq(alertRules.id, id)).returning({ id: alertRules.id });
  return rows.length > 0;
}

// ── alerts ────────────────────────────────────────────────────────────────────────────────────

export interface AlertListRow {
  alert: AlertRow;
  rule: Pick<AlertRuleRow, "id" | "name" | "metric" | "operator" | "windowSeconds">;
  app: string | null;
  ackedBy: string | null;
}

const alertSelection = {
  alert: alerts,
  rule: {
    id: alertRules.id,
    name: alertRules.name,
    metric: alertRules.metric,
    operator: alertRules.operator,
    windowSeconds: alertRules.windowSeconds,
  },
  app: apps.name,
  ackedBy: users.email,
};

export async function listAlerts(db: Db, o: { state?: AlertState; appId?: string; limit: number }): Promise<AlertListRow[]> {
  return db
    .select(alertSelection)
    .from(alerts)
    .innerJoin(alertRules, eq(alertRules.id, alerts.ruleId))
    .leftJoin(apps, eq(apps.id, alerts.appId))
    .leftJoin(users, eq(users.id, alerts.ackedBy))
    .where(and(o.state ? eq(alerts.state, o.state) : undefined, o.appId ? eq(alerts.appId, o.appId) : undefined))
    .orderBy(desc(alerts.startedAt), desc(alerts.id))
    .limit(o.limit);
}

export async function findAlert(db: Db, id: string): Promise<AlertListRow | null> {
  const [row] = await db
    .select(alertSelection)
    .from(alerts)
    .innerJoin(alertRules, eq(alertRules.id, alerts.ruleId))
    .leftJoin(apps, eq(apps.id, alerts.appId))
    .leftJoin(users, eq(users.id, alerts.ackedBy))
    .where(eq(alerts.id, id));
  return row ?? null;
}

/** Acknowledges a firing alert (the first acknowledgement stays); false when it is not firing. */
export async function ackAlert(db: Db, id: string, userId: string | null, at: Date): Promise<boolean> {
  const rows = await db
    .update(alerts)
    .set({
      ackedAt: sql`coalesce(${alerts.ackedAt}, ${at.toISOString()}::timestamptz)`,
      ackedBy: sql`coalesce(${alerts.ackedBy}, ${userId}::uuid)`,
    })
    .where(and(eq(alerts.id, id), eq(alerts.state, "firing")))
    .returning({ id: alerts.id });
  return rows.length > 0;
}

export async function snoozeAlert(db: Db, id: string, userId: string | null, until: Date): Promise<boolean> {
  const rows = await db
    .update(alerts)
    .set({ snoozedUntil: until, snoozedBy: userId })
    .where(eq(alerts.id, id))
    .returning({ id: alerts.id });
  return rows.length > 0;
}

// ── what the evaluator reads and writes ───────────────────────────────────────────────────────

export async function enabledRules(db: Db): Promise<AlertRuleRow[]> {
  return db.select().from(alertRules).where(eq(alertRules.enabled, true)).orderBy(asc(alertRules.createdAt));
}

export async function appsForAlerts(db: Db) {
  return db.select({ id: apps.id, name: apps.name, memoryMax: apps.memoryMax, cpuQuota: apps.cpuQuota }).from(apps).orderBy(asc(apps.name));
}

export async function firingAlerts(db: Db): Promise<AlertRow[]> {
  return db.select().from(alerts).where(eq(alerts.state, "firing"));
}

/** Request minute rows of every app in [from, to]. */
export async function requestWindow(db: Db, from: Date, to: Date, withSketches: boolean) {
  return db
    .select({
      appId: requestStats.appId,
      bucket: requestStats.bucket,
      requests: requestStats.requests,
      s5xx: requestStats.s5xx,
      timed: requestStats.timed,
      sketch: withSketches ? requestStats.sketch : sql<null>`null`,
    })
    .from(requestStats)
    .where(and(eq(requestStats.resolution, "minute"), gte(requestStats.bucket, from), lte(requestStats.bucket, to)));
}

/** Resource minute rows of the server and of the app slots in [from, to], oldest first. */
export async function resourceWindow(db: Db, from: Date, to: Date) {
  return db
    .select({
      subject: resourceStats.subject,
      appId: resourceStats.appId,
      slot: resourceStats.slot,
      bucket: resourceStats.bucket,
      samples: resourceStats.samples,
      values: resourceStats.values,
    })
    .from(resourceStats)
    .where(
      and(
        eq(resourceStats.resolution, "minute"),
        inArray(resourceStats.subject, ["system", "slot"]),
        gte(resourceStats.bucket, from),
        lte(resourceStats.bucket, to),
      ),
    )
    .orderBy(asc(resourceStats.bucket));
}

/** Opens a firing alert; null when one is already firing for the rule and subject (another pass won). */
export async function openAlert(
  db: Db,
  o: { ruleId: string; appId: string | null; subject: string; value: number; threshold: number; at: Date },
): Promise<AlertRow | null> {
  // A snooze outlives a flap: the subject's last alert of the rule passes it on while it holds.
  const [last] = await db
    .select({ snoozedUntil: alerts.snoozedUntil, snoozedBy: alerts.snoozedBy })
    .from(alerts)
    .where(and(eq(alerts.ruleId, o.ruleId), eq(alerts.subject, o.subject), gte(alerts.snoozedUntil, o.at)))
    .orderBy(desc(alerts.startedAt))
    .limit(1);
  const [row] = await db
    .insert(alerts)
    .values({
      ruleId: o.ruleId,
      appId: o.appId,
      subject: o.subject,
      state: "firing",
      value: o.value,
      lastValue: o.value,
      threshold: o.threshold,
      startedAt: o.at,
      snoozedUntil: last?.snoozedUntil ?? null,
      snoozedBy: last?.snoozedBy ?? null,
    })
    .onConflictDoNothing()
    .returning();
  return row ?? null;
}

export async function setLastValue(db: Db, id: string, value: number): Promise<void> {
  await db
    .update(alerts)
    .set({ lastValue: value })
    .where(and(eq(alerts.id, id), eq(alerts.state, "firing")));
}

/** Resolves a firing alert; null when it was no longer firing. */
export async function resolveAlert(db: Db, id: string, value: number | null, at: Date): Promise<AlertRow | null> {
  const [row] = await db
    .update(alerts)
    .set({ state: "resolved", resolvedAt: at, ...(value === null ? {} : { lastValue: value }) })
    .where(and(eq(alerts.id, id), eq(alerts.state, "firing")))
    .returning();
  return row ?? null;
}

/** When a message about the rule and subject last went to any channel (null: never). */
export async function lastAlertSend(db: Db, ruleId: string, subject: string): Promise<Date | null> {
  const [row] = await db
    .select({ at: max(alertSends.sentAt) })
    .from(alertSends)
    .where(and(eq(alertSends.ruleId, ruleId), eq(alertSends.subject, subject)));
  return row?.at ? new Date(row.at) : null;
}
