/**
 * The alert evaluator: every EVALUATE_MS one panel (an advisory lock) reads each enabled rule's
 * window from the stored minute figures (request_stats, resource_stats), opens, keeps or resolves
 * its alerts, publishes `alert.updated`, and tells the channels through notify() with the rule's
 * minimum interval (unless the alert is snoozed, or acknowledged while it fires).
 */
import { availableParallelism } from "node:os";
import {
  appsForAlerts,
  enabledRules,
  ensureDefaultRules,
  firingAlerts,
  lastAlertSend,
  openAlert,
  requestWindow,
  resolveAlert,
  resourceWindow,
  setLastValue,
  withAlertsLock,
} from "../db/queries/alerts.ts";
import type { AlertRow, AlertRuleRow } from "../db/schema/index.ts";
import {
  alertMessage,
  appCpuPercent,
  appMemoryPercent,
  diskPercent,
  errorRate,
  inWindow,
  latencyP95,
  meanOf,
  parseQuota,
  parseSize,
  pressure,
  type RequestRow,
  type ResourceRow,
  type Subject,
  serverCpuPercent,
  serverMemoryPercent,
  shouldTell,
  subjectKey,
  subjectsOf,
  transition,
  WINDOW_MAX_SECONDS,
  windowRange,
} from "../domain/alert-rules.ts";
import type { Services } from "../services.ts";
import { notify } from "./notify.ts";

export const EVALUATE_MS = 15_000;

export interface PassResult {
  /** False when another panel evaluated (held the lock). */
  ran: boolean;
  fired: string[];
  resolved: string[];
  reminded: string[];
}

type AlertServices = Pick<Services, "db" | "config" | "log" | "events" | "database" | "sampler">;

/** Every figure of the longest window any rule needs, read once per pass. */
interface Figures {
  now: number;
  requests: Array<RequestRow & { appId: string; bucket: Date }>;
  resources: Array<ResourceRow & { subject: string; appId: string | null; slot: string | null; bucket: Date }>;
  apps: Map<string, { id: string; name: string; memoryMax: string | null; cpuQuota: string | null }>;
  cores: number;
}

/** The value of a rule's metric for one subject over the rule's window (null: not enough data). */
function metricValue(rule: AlertRuleRow, subject: Subject, f: Figures): number | null {
  const range = windowRange(f.now, rule.windowSeconds);
  const system = f.resources.filter((r) => r.subject === "system" && inWindow(r.bucket, range));
  if (subject.kind === "server") {
    switch (rule.metric) {
      case "memory_percent":
        return serverMemoryPercent(system);
      case "cpu_percent":
        return serverCpuPercent(system);
      case "disk_percent":
        return diskPercent(system);
      case "psi_memory_some":
        return pressure(system, "psiMemory");
      case "psi_cpu_some":
        return pressure(system, "psiCpu");
      default:
        return null;
    }
  }
  const app = f.apps.get(subject.appId);
  if (!app) return null;
  if (rule.metric === "http_5xx_rate" || rule.metric === "http_p95_ms") {
    const rows = f.requests.filter((r) => r.appId === app.id && inWindow(r.bucket, range));
    return rule.metric === "http_5xx_rate" ? errorRate(rows) : latencyP95(rows);
  }
  const slots = new Map<string, ResourceRow[]>();
  for (const r of f.resources) {
    if (r.subject !== "slot" || r.appId !== app.id || !inWindow(r.bucket, range)) continue;
    const key = r.slot ?? "";
    const list = slots.get(key);
    if (list) list.push(r);
    else slots.set(key, [r]);
  }
  if (rule.metric === "memory_percent") return appMemoryPercent(slots, parseSize(app.memoryMax), meanOf(system, "memoryTotal"));
  if (rule.metric === "cpu_percent") return appCpuPercent(slots, parseQuota(app.cpuQuota), f.cores);
  return null;
}

async function readFigures(services: AlertServices, rules: AlertRuleRow[], now: number): Promise<Figures> {
  const { db } = services;
  const longest = Math.min(WINDOW_MAX_SECONDS, Math.max(60, ...rules.map((r) => r.windowSeconds)));
  const { from, to } = windowRange(now, longest);
  const wantsRequests = rules.some((r) => r.metric === "http_5xx_rate" || r.metric === "http_p95_ms");
  const wantsResources = rules.some((r) => r.metric !== "http_5xx_rate" && r.metric !== "http_p95_ms");
  const [requests, resources, apps] = await Promise.all([
    wantsRequests
      ? requestWindow(
          db,
          from,
          to,
          rules.some((r) => r.metric === "http_p95_ms"),
        )
      : Promise.resolve([]),
    wantsResources ? resourceWindow(db, from, to) : Promise.resolve([]),
    appsForAlerts(db),
  ]);
  return {
    now,
    requests,
    resources,
    apps: new Map(apps.map((a) => [a.id, a])),
    cores: services.sampler.latest()?.cores ?? availableParallelism(),
  };
}

/** Tells the channels of a change (errors are logged: the alert itself is already recorded). */
async function tell(
  services: AlertServices,
  kind: "fire" | "remind" | "resolve",
  rule: AlertRuleRow,
  alert: AlertRow,
  appName: string | null,
  value: number,
  now: number,
): Promise<void> {
  const { event, message } = alertMessage({ kind, rule, app: appName, value, startedAt: alert.startedAt, now });
  try {
    await notify(services, {
      event,
      appId: alert.appId,
      message: { ...message, at: new Date(now).toISOString() },
      throttle: { ruleId: rule.id, subject: alert.subject, minIntervalSeconds: rule.minIntervalSeconds },
    });
  } catch (error) {
    services.log.warn("queueing an alert's notifications failed", { error, rule: rule.name, subject: alert.subject, event });
  }
}

async function publish(services: AlertServices, alert: AlertRow): Promise<void> {
  await services.events.publish({ type: "alert.updated", alertId: alert.id, ruleId: alert.ruleId, state: alert.state, appId: alert.appId });
}

async function evaluate(services: AlertServices, now: number, result: PassResult): Promise<void> {
  const { db } = services;
  const at = new Date(now);
  const rules = await enabledRules(db);
  const open = await firingAlerts(db);
  const openByKey = new Map(open.map((a) => [`${a.ruleId}|${a.subject}`, a]));
  const watched = new Set<string>();
  if (rules.length > 0) {
    const figures = await readFigures(services, rules, now);
    const apps = [...figures.apps.values()];
    for (const rule of rules) {
      for (const subject of subjectsOf(rule, apps)) {
        const key = `${rule.id}|${subjectKey(subject)}`;
        watched.add(key);
        const current = openByKey.get(key) ?? null;
        const value = metricValue(rule, subject, figures);
        const step = transition(current, rule, value);
        const appName = subject.kind === "app" ? subject.app : null;
        if (step.kind === "fire") {
          const alert = await openAlert(db, {
            ruleId: rule.id,
            appId: subject.kind === "app" ? subject.appId : null,
            subject: subjectKey(subject),
            value: step.value,
            threshold: rule.threshold,
            at,
          });
          if (!alert) continue;
          result.fired.push(alert.id);
          await publish(services, alert);
          if (shouldTell("fire", alert, now)) await tell(services, "fire", rule, alert, appName, step.value, now);
        } else if (step.kind === "keep" && current) {
          if (current.lastValue !== step.value) await setLastValue(db, current.id, step.value);
          if (current.ackedAt === null && !(current.snoozedUntil && current.snoozedUntil.getTime() > now)) {
            // Never told (it fired while snoozed, or no channel took it): reminders count from its start.
            const last = (await lastAlertSend(db, rule.id, current.subject)) ?? current.startedAt;
            if (shouldTell("remind", current, now, last, rule.minIntervalSeconds)) {
              result.reminded.push(current.id);
              await tell(services, "remind", rule, current, appName, step.value, now);
            }
          }
        } else if (step.kind === "resolve" && current) {
          const alert = await resolveAlert(db, current.id, step.value, at);
          if (!alert) continue;
          result.resolved.push(alert.id);
          await publish(services, alert);
          if (shouldTell("resolve", alert, now)) await tell(services, "resolve", rule, alert, appName, step.value, now);
        }
      }
    }
  }
  // Alerts of rules turned off, or of subjects a rule no longer watches (its app changed): resolved quietly.
  for (const alert of open) {
    if (watched.has(`${alert.ruleId}|${alert.subject}`)) continue;
    const resolved = await resolveAlert(db, alert.id, null, at);
    if (resolved) {
      result.resolved.push(resolved.id);
      await publish(services, resolved);
    }
  }
}

const passes = new WeakMap<object, Promise<unknown>>();

/**
 * One evaluation of every enabled rule at `now` (tests pass their own). Passes of one panel run one
 * after another; of several panels, the one holding the lock evaluates and the others answer
 * `ran: false`.
 */
export function evaluateAlerts(services: AlertServices, now = Date.now()): Promise<PassResult> {
  const previous = passes.get(services) ?? Promise.resolve();
  const run = previous
    .catch(() => {})
    .then(async () => {
      const result: PassResult = { ran: false, fired: [], resolved: [], reminded: [] };
      const body = () => evaluate(services, now, result);
      // The embedded database has one panel by construction (and one connection: no lock beside it).
      if (services.database.kind === "pglite") {
        await body();
        result.ran = true;
      } else result.ran = await withAlertsLock(services.db, body);
      return result;
    });
  passes.set(services, run);
  return run;
}

const timers = new WeakMap<object, ReturnType<typeof setInterval>>();

/** Writes the default rules on a new install, then evaluates every `everyMs`. */
export async function startAlerts(services: AlertServices, everyMs = EVALUATE_MS): Promise<void> {
  stopAlerts(services);
  const written = await ensureDefaultRules(services.db).catch((error: unknown) => {
    services.log.warn("writing the default alert rules failed", { error });
    return 0;
  });
  if (written > 0) services.log.info("default alert rules written", { rules: written });
  const tick = () => void evaluateAlerts(services).catch((error: unknown) => services.log.warn("alert evaluation failed", { error }));
  timers.set(services, setInterval(tick, everyMs));
}

export async function stopAlerts(services: AlertServices): Promise<void> {
  clearInterval(timers.get(services));
  timers.delete(services);
  await passes.get(services)?.catch(() => {});
}
