import { z } from "zod";
import { ALERT_METRICS, ALERT_OPERATORS, ALERT_STATES, type Alert, type AlertMetric, type AlertRule } from "../../contract/api.ts";
import {
  type AlertListRow,
  ackAlert,
  deleteRule,
  findAlert,
  findRule,
  insertRule,
  listAlerts,
  listRules,
  type RuleValues,
  snoozeAlert,
  updateRule,
} from "../../db/queries/alerts.ts";
import { findAppByName } from "../../db/queries/apps.ts";
import type { AlertRuleRow } from "../../db/schema/index.ts";
import { INTERVAL_MAX_SECONDS, METRIC_LABELS, METRIC_SCOPE, WINDOW_MAX_SECONDS, WINDOW_MIN_SECONDS } from "../../domain/alert-rules.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams, readQuery } from "../context.ts";
import { conflict, HttpError, notFound } from "../errors.ts";
import type { Router } from "../router.ts";

/** A 400 naming one field, in the shape zod failures have. */
function fieldError(field: string, message: string): HttpError {
  return new HttpError(400, "validation_failed", `${field}: ${message}.`, { issues: [{ path: field, message }] });
}

const ruleFields = {
  name: z
    .string({ error: "must be a name like “5xx rate above 5%”" })
    .trim()
    .min(1, "must not be empty")
    .max(100, "must be at most 100 characters"),
  metric: z.enum(ALERT_METRICS, { error: `must be one of ${ALERT_METRICS.join(", ")}` }),
  operator: z.enum(ALERT_OPERATORS, { error: `must be one of ${ALERT_OPERATORS.join(" ")}` }),
  threshold: z.number({ error: "must be a number" }).refine(Number.isFinite, "must be a finite number"),
  windowSeconds: z
    .number({ error: "must be a number of seconds" })
    .int("must be a whole number of seconds")
    .min(WINDOW_MIN_SECONDS, `must be ${WINDOW_MIN_SECONDS}-${WINDOW_MAX_SECONDS} seconds (figures are kept per minute)`)
    .max(WINDOW_MAX_SECONDS, `must be ${WINDOW_MIN_SECONDS}-${WINDOW_MAX_SECONDS} seconds`),
  app: z.string({ error: "must be an app's name, or null for every app / the server" }).nullable(),
  minIntervalSeconds: z
    .number({ error: "must be a number of seconds" })
    .int("must be a whole number of seconds")
    .min(0, `must be 0-${INTERVAL_MAX_SECONDS} seconds`)
    .max(INTERVAL_MAX_SECONDS, `must be 0-${INTERVAL_MAX_SECONDS} seconds`),
  enabled: z.boolean({ error: "must be true or false" }),
};

const createBody = z.strictObject({
  name: ruleFields.name,
  metric: ruleFields.metric,
  operator: ruleFields.operator.optional(),
  threshold: ruleFields.threshold,
  windowSeconds: ruleFields.windowSeconds,
  app: ruleFields.app.optional(),
  minIntervalSeconds: ruleFields.minIntervalSeconds.optional(),
  enabled: ruleFields.enabled.optional(),
});
const updateBody = z.strictObject({
  name: ruleFields.name.optional(),
  metric: ruleFields.metric.optional(),
  operator: ruleFields.operator.optional(),
  threshold: ruleFields.threshold.optional(),
  windowSeconds: ruleFields.windowSeconds.optional(),
  app: ruleFields.app.optional(),
  minIntervalSeconds: ruleFields.minIntervalSeconds.optional(),
  enabled: ruleFields.enabled.optional(),
});

const ruleParam = z.object({ id: z.uuid({ error: "must be an alert rule's id" }) });
const alertParam = z.object({ id: z.uuid({ error: "must be an alert's id" }) });
const listQuery = z.object({
  state: z.enum(ALERT_STATES, { error: `must be one of ${ALERT_STATES.join(", ")}` }).optional(),
  app: z.string().min(1, "must be an app's name").optional(),
  limit: z.coerce
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(1, "must be 1-500")
    .max(500, "must be 1-500")
    .default(100),
});
const snoozeBody = z.strictObject({
  minutes: z
    .number({ error: "must be a number of minutes" })
    .int("must be a whole number of minutes")
    .min(1, "must be 1-10080 (a week)")
    .max(10080, "must be 1-10080 (a week)"),
});

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function ruleJson(r: AlertRuleRow & { app: string | null }): AlertRule {
  return {
    id: r.id,
    name: r.name,
    metric: r.metric,
    operator: r.operator,
    threshold: r.threshold,
    windowSeconds: r.windowSeconds,
    app: r.app,
    minIntervalSeconds: r.minIntervalSeconds,
    enabled: r.enabled,
    builtIn: r.builtIn,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

function alertJson({ alert, rule, app, ackedBy }: AlertListRow): Alert {
  return {
    id: alert.id,
    rule,
    app,
    state: alert.state,
    value: alert.value,
    lastValue: alert.lastValue,
    threshold: alert.threshold,
    startedAt: alert.startedAt.toISOString(),
    resolvedAt: iso(alert.resolvedAt),
    acked: alert.ackedAt ? { at: alert.ackedAt.toISOString(), by: ackedBy } : null,
    snoozedUntil: iso(alert.snoozedUntil),
  };
}

/** The app a rule names (null: every app / the server), checked against the metric's scope. */
async function ruleApp(c: Context, metric: AlertMetric, app: string | null): Promise<{ id: string; name: string } | null> {
  if (app === null) return null;
  if (METRIC_SCOPE[metric] === "server") {
    throw fieldError("app", `${metric} is measured for the server, not per app: leave app empty (null)`);
  }
  const found = await findAppByName(c.services.db, app);
  if (!found) throw fieldError("app", `there is no app ${JSON.stringify(app)}`);
  return { id: found.id, name: found.name };
}

function checkThreshold(metric: AlertMetric, threshold: number): void {
  if (METRIC_LABELS[metric].unit === "%" && (threshold < 0 || threshold > 100)) {
    throw fieldError("threshold", `${metric} is a percentage: give 0-100 (5 means 5%)`);
  }
  if (metric === "http_p95_ms" && threshold < 0) throw fieldError("threshold", "is milliseconds: give 0 or more");
}

async function loadRule(c: Context) {
  const { id } = readParams(c, ruleParam);
  const rule = await findRule(c.services.db, id);
  if (!rule) throw notFound("Alert rule");
  return rule;
}

async function loadAlert(c: Context): Promise<AlertListRow> {
  const { id } = readParams(c, alertParam);
  const row = await findAlert(c.services.db, id);
  if (!row) throw notFound("Alert");
  return row;
}

const ruleTarget = (app: string | null) => (app ? `app:${app}` : "alerts");

async function publishAlert(c: Context, row: AlertListRow): Promise<void> {
  await c.services.events.publish({
    type: "alert.updated",
    alertId: row.alert.id,
    ruleId: row.alert.ruleId,
    state: row.alert.state,
    appId: row.alert.appId,
  });
}

export function alertRoutes(r: Router): void {
  r.get("/api/v1/alerts/rules", { auth: "viewer" }, async (c) => {
    return Response.json((await listRules(c.services.db)).map(ruleJson));
  });

  r.post("/api/v1/alerts/rules", { auth: "admin" }, async (c) => {
    const body = await readJson(c, createBody);
    checkThreshold(body.metric, body.threshold);
    const app = await ruleApp(c, body.metric, body.app ?? null);
    const id = await insertRule(c.services.db, {
      name: body.name,
      metric: body.metric,
      operator: body.operator ?? ">",
      threshold: body.threshold,
      windowSeconds: body.windowSeconds,
      appId: app?.id ?? null,
      ...(body.minIntervalSeconds === undefined ? {} : { minIntervalSeconds: body.minIntervalSeconds }),
      enabled: body.enabled ?? true,
    });
    const rule = await findRule(c.services.db, id);
    if (!rule) throw notFound("Alert rule");
    await audit(c, "alert-rule.created", ruleTarget(rule.app), {
      ruleId: id,
      name: rule.name,
      metric: rule.metric,
      threshold: rule.threshold,
    });
    return Response.json(ruleJson(rule), { status: 201 });
  });

  r.patch("/api/v1/alerts/rules/:id", { auth: "admin" }, async (c) => {
    const rule = await loadRule(c);
    const body = await readJson(c, updateBody);
    const metric = body.metric ?? rule.metric;
    checkThreshold(metric, body.threshold ?? rule.threshold);
    const changes: Partial<RuleValues> = {};
    if (body.app !== undefined || body.metric !== undefined) {
      const app = await ruleApp(c, metric, body.app === undefined ? rule.app : body.app);
      changes.appId = app?.id ?? null;
    }
    for (const key of ["name", "metric", "operator", "threshold", "windowSeconds", "minIntervalSeconds", "enabled"] as const) {
      if (body[key] !== undefined) Object.assign(changes, { [key]: body[key] });
    }
    if (!(await updateRule(c.services.db, rule.id, changes))) throw notFound("Alert rule");
    const updated = await findRule(c.services.db, rule.id);
    if (!updated) throw notFound("Alert rule");
    await audit(c, "alert-rule.updated", ruleTarget(updated.app), { ruleId: rule.id, name: updated.name, ...body });
    return Response.json(ruleJson(updated));
  });

  r.delete("/api/v1/alerts/rules/:id", { auth: "admin" }, async (c) => {
    const rule = await loadRule(c);
    if (!(await deleteRule(c.services.db, rule.id))) throw notFound("Alert rule");
    await audit(c, "alert-rule.deleted", ruleTarget(rule.app), { ruleId: rule.id, name: rule.name, metric: rule.metric });
    return new Response(null, { status: 204 });
  });

  r.get("/api/v1/alerts", { auth: "viewer" }, async (c) => {
    const q = readQuery(c, listQuery);
    let appId: string | undefined;
    if (q.app !== undefined) {
      const app = await findAppByName(c.services.db, q.app);
      if (!app) throw fieldError("app", `there is no app ${JSON.stringify(q.app)}`);
      appId = app.id;
    }
    const rows = await listAlerts(c.services.db, { limit: q.limit, ...(q.state ? { state: q.state } : {}), ...(appId ? { appId } : {}) });
    return Response.json(rows.map(alertJson));
  });

  r.post("/api/v1/alerts/:id/ack", { auth: "deployer" }, async (c) => {
    const row = await loadAlert(c);
    if (row.alert.state !== "firing") throw conflict("alert_resolved", "This alert has resolved already; there is nothing to acknowledge.");
    const userId = c.auth?.user.id ?? null;
    if (!(await ackAlert(c.services.db, row.alert.id, userId, new Date()))) {
      throw conflict("alert_resolved", "This alert resolved meanwhile; there is nothing to acknowledge.");
    }
    const updated = (await findAlert(c.services.db, row.alert.id)) as AlertListRow;
    await audit(c, "alert.acked", ruleTarget(row.app), { alertId: row.alert.id, rule: row.rule.name, value: row.alert.lastValue });
    await publishAlert(c, updated);
    return Response.json(alertJson(updated));
  });

  r.post("/api/v1/alerts/:id/snooze", { auth: "deployer" }, async (c) => {
    const row = await loadAlert(c);
    const { minutes } = await readJson(c, snoozeBody);
    const until = new Date(Date.now() + minutes * 60_000);
    if (!(await snoozeAlert(c.services.db, row.alert.id, c.auth?.user.id ?? null, until))) throw notFound("Alert");
    const updated = (await findAlert(c.services.db, row.alert.id)) as AlertListRow;
    await audit(c, "alert.snoozed", ruleTarget(row.app), {
      alertId: row.alert.id,
      rule: row.rule.name,
      minutes,
      until: until.toISOString(),
    });
    await publishAlert(c, updated);
    return Response.json(alertJson(updated));
  });
}
