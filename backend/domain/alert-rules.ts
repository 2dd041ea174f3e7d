/**
 * Alert rules as pure decisions: which subjects a rule watches, the value of its metric over its
 * window (from the stored minute rows), whether that value crosses the threshold, what happens to
 * the rule's alert for the subject (fire, keep, resolve), and the message each change sends.
 *
 * Units: `http_5xx_rate`, `memory_percent`, `cpu_percent`, `disk_percent` and the PSI figures are
 * percentages (5 means 5 %); `http_p95_ms` is milliseconds.
 */
import type { AlertMetric, AlertOperator, NotificationMessage } from "../contract/api.ts";
import { mergeSketches, quantile } from "./metrics.ts";

export const MINUTE_MS = 60_000;
/** Stored figures are per minute: a shorter window would read the same rows. */
export const WINDOW_MIN_SECONDS = 60;
export const WINDOW_MAX_SECONDS = 86_400;
export const INTERVAL_MAX_SECONDS = 604_800;
/**
 * Fewer requests than this in the window tell nothing about the app's error rate or latency (1 of
 * 1 failing is not a 100 % error rate worth waking someone for): the rule holds its state.
 */
export const MIN_REQUESTS = 20;
/** A firing alert nobody acknowledged or snoozed is told again this often (at least the rule's interval). */
export const REMIND_EVERY_MS = 4 * 3_600_000;

/**
 * What a rule with no app watches: request figures exist per app; disk and PSI for the server;
 * memory and CPU both (the server as a whole, and each app against its limit).
 */
export const METRIC_SCOPE: Record<AlertMetric, "app" | "server" | "both"> = {
  http_5xx_rate: "app",
  http_p95_ms: "app",
  memory_percent: "both",
  cpu_percent: "both",
  disk_percent: "server",
  psi_memory_some: "server",
  psi_cpu_some: "server",
};

export const METRIC_LABELS: Record<AlertMetric, { name: string; unit: "%" | "ms" }> = {
  http_5xx_rate: { name: "5xx rate", unit: "%" },
  http_p95_ms: { name: "p95 latency", unit: "ms" },
  memory_percent: { name: "Memory", unit: "%" },
  cpu_percent: { name: "CPU", unit: "%" },
  disk_percent: { name: "Disk", unit: "%" },
  psi_memory_some: { name: "Memory pressure (PSI some)", unit: "%" },
  psi_cpu_some: { name: "CPU pressure (PSI some)", unit: "%" },
};

export interface RuleSpec {
  name: string;
  metric: AlertMetric;
  operator: AlertOperator;
  threshold: number;
  windowSeconds: number;
  minIntervalSeconds: number;
}

/** The rules a new install starts with (each may be changed, turned off or deleted). */
export const DEFAULT_RULES: RuleSpec[] = [
  { name: "5xx rate above 5%", metric: "http_5xx_rate", operator: ">", threshold: 5, windowSeconds: 180, minIntervalSeconds: 900 },
  { name: "p95 latency above 800 ms", metric: "http_p95_ms", operator: ">", threshold: 800, windowSeconds: 300, minIntervalSeconds: 900 },
  {
    name: "Memory above 90% of the limit",
    metric: "memory_percent",
    operator: ">",
    threshold: 90,
    windowSeconds: 300,
    minIntervalSeconds: 900,
  },
  { name: "Disk above 85%", metric: "disk_percent", operator: ">", threshold: 85, windowSeconds: 300, minIntervalSeconds: 3600 },
  {
    name: "Memory pressure above 20%",
    metric: "psi_memory_some",
    operator: ">",
    threshold: 20,
    windowSeconds: 300,
    minIntervalSeconds: 900,
  },
];

export type Subject = { kind: "server" } | { kind: "app"; appId: string; app: string };

export const subjectKey = (s: Subject): string => (s.kind === "server" ? "server" : `app:${s.appId}`);

/** The subjects a rule watches: its app, or (no app) the server and/or every app as its metric allows. */
export function subjectsOf(
  rule: { metric: AlertMetric; appId: string | null },
  apps: ReadonlyArray<{ id: string; name: string }>,
): Subject[] {
  const scope = METRIC_SCOPE[rule.metric];
  if (rule.appId) {
    const app = apps.find((a) => a.id === rule.appId);
    return app && scope !== "server" ? [{ kind: "app", appId: app.id, app: app.name }] : [];
  }
  const out: Subject[] = scope === "app" ? [] : [{ kind: "server" }];
  if (scope !== "server") for (const a of apps) out.push({ kind: "app", appId: a.id, app: a.name });
  return out;
}

/**
 * The minute buckets a window reads: every minute that overlaps (now − window, now]. The current
 * minute is read as far as it is stored, so a 60 s window sees the last full minute and this one.
 */
export function windowRange(now: number, windowSeconds: number): { from: Date; to: Date } {
  const from = Math.floor((now - windowSeconds * 1000) / MINUTE_MS) * MINUTE_MS;
  return { from: new Date(from), to: new Date(now) };
}

export const inWindow = (bucket: Date, range: { from: Date; to: Date }) =>
  bucket.getTime() >= range.from.getTime() && bucket.getTime() <= range.to.getTime();

// ── values over a window ──────────────────────────────────────────────────────────────────────

export interface RequestRow {
  requests: number;
  s5xx: number;
  timed: number;
  sketch: Uint8Array | null;
}

/** 5xx answers as a percentage of all requests; null below MIN_REQUESTS. */
export function errorRate(rows: readonly RequestRow[], minRequests = MIN_REQUESTS): number | null {
  const requests = rows.reduce((n, r) => n + r.requests, 0);
  if (requests < minRequests || requests === 0) return null;
  return round((rows.reduce((n, r) => n + r.s5xx, 0) / requests) * 100);
}

/** The 95th percentile of upstream time (ms) from the merged sketches; null below MIN_REQUESTS timed. */
export function latencyP95(rows: readonly RequestRow[], minRequests = MIN_REQUESTS): number | null {
  const timed = rows.reduce((n, r) => n + r.timed, 0);
  if (timed < minRequests) return null;
  const p95 = quantile(mergeSketches(rows.map((r) => r.sketch)), 0.95);
  return p95 === null ? null : round(p95);
}

export interface ResourceRow {
  samples: number;
  values: Record<string, unknown>;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The mean of one key over the rows, weighted by their samples; null when no row has it. */
export function meanOf(rows: readonly ResourceRow[], key: string): number | null {
  let sum = 0;
  let weight = 0;
  for (const r of rows) {
    const v = num(r.values[key]);
    if (v === null) continue;
    const w = Math.max(1, r.samples);
    sum += v * w;
    weight += w;
  }
  return weight > 0 ? sum / weight : null;
}

/** Bytes of a systemd size ("512M", "2G", "1048576"), or null for anything else. */
export function parseSize(text: string | null | undefined): number | null {
  const m = /^(\d+)([KMGT]?)$/.exec(text?.trim() ?? "");
  if (!m) return null;
  const power = { "": 0, K: 1, M: 2, G: 3, T: 4 }[m[2] as "" | "K" | "M" | "G" | "T"];
  return Number(m[1]) * 1024 ** power;
}

/** Cores of a CPU quota ("150%" is 1.5 cores), or null. */
export function parseQuota(text: string | null | undefined): number | null {
  const m = /^(\d+)%$/.exec(text?.trim() ?? "");
  return m && Number(m[1]) > 0 ? Number(m[1]) / 100 : null;
}

/** The server's memory in use as a percentage of its total. */
export function serverMemoryPercent(system: readonly ResourceRow[]): number | null {
  const used = meanOf(system, "memoryUsed");
  const total = meanOf(system, "memoryTotal");
  return used === null || !total ? null : round((used / total) * 100);
}

/** The server's CPU busy share as a percentage. */
export function serverCpuPercent(system: readonly ResourceRow[]): number | null {
  const cpu = meanOf(system, "cpu");
  return cpu === null ? null : round(cpu * 100);
}

/**
 * An app's memory: its fullest slot's mean, as a percentage of the slot's limit (memory_max) when
 * one is set, else of the server's memory.
 */
export function appMemoryPercent(
  slots: ReadonlyMap<string, readonly ResourceRow[]>,
  limitBytes: number | null,
  serverTotal: number | null,
): number | null {
  const of = limitBytes ?? serverTotal;
  if (!of) return null;
  let worst: number | null = null;
  for (const rows of slots.values()) {
    const mean = meanOf(rows, "memory");
    if (mean !== null && (worst === null || mean > worst)) worst = mean;
  }
  return worst === null ? null : round((worst / of) * 100);
}

/** An app's CPU: its busiest slot's cores as a percentage of its quota when set, else of the server's cores. */
export function appCpuPercent(slots: ReadonlyMap<string, readonly ResourceRow[]>, quotaCores: number | null, cores: number): number | null {
  const of = quotaCores ?? cores;
  if (!(of > 0)) return null;
  let worst: number | null = null;
  for (const rows of slots.values()) {
    const mean = meanOf(rows, "cpu");
    if (mean !== null && (worst === null || mean > worst)) worst = mean;
  }
  return worst === null ? null : round((worst / of) * 100);
}

/** The fullest disk's use as a percentage (from the newest row that measured disks). */
export function diskPercent(system: readonly ResourceRow[]): number | null {
  for (let i = system.length - 1; i >= 0; i--) {
    const disks = system[i]?.values.disks;
    if (!Array.isArray(disks) || disks.length === 0) continue;
    let worst: number | null = null;
    for (const d of disks as Array<{ used?: unknown; size?: unknown }>) {
      const used = num(d?.used);
      const size = num(d?.size);
      if (used === null || !size) continue;
      const share = (used / size) * 100;
      if (worst === null || share > worst) worst = share;
    }
    if (worst !== null) return round(worst);
  }
  return null;
}

/** A PSI `some avg10` figure (already a percentage), averaged over the window. */
export function pressure(system: readonly ResourceRow[], key: "psiMemory" | "psiCpu"): number | null {
  const v = meanOf(system, key);
  return v === null ? null : round(v);
}

// ── transitions ───────────────────────────────────────────────────────────────────────────────

export function crosses(rule: { operator: AlertOperator; threshold: number }, value: number): boolean {
  return rule.operator === ">" ? value > rule.threshold : value < rule.threshold;
}

export interface OpenAlert {
  id: string;
  ackedAt: Date | null;
  snoozedUntil: Date | null;
}

/**
 * What a pass does with a rule's alert for one subject, given the value over the window (null:
 * not enough data to tell, so the state holds): fire a new alert, keep the open one (with the new
 * value), resolve it, or nothing.
 */
export type Transition =
  | { kind: "fire"; value: number }
  | { kind: "keep"; value: number }
  | { kind: "resolve"; value: number }
  | { kind: "none" };

export function transition(open: OpenAlert | null, rule: { operator: AlertOperator; threshold: number }, value: number | null): Transition {
  if (value === null) return { kind: "none" };
  const crossed = crosses(rule, value);
  if (!open) return crossed ? { kind: "fire", value } : { kind: "none" };
  return crossed ? { kind: "keep", value } : { kind: "resolve", value };
}

/** Whether a snooze still holds at `now`. */
export const snoozed = (alert: { snoozedUntil: Date | null }, now: number) =>
  alert.snoozedUntil !== null && alert.snoozedUntil.getTime() > now;

/**
 * Who is told of a change: nobody while snoozed; a firing alert unless acknowledged (a reminder
 * only after REMIND_EVERY_MS, or the rule's interval when longer, since the last message); a
 * resolution even after an acknowledgement (the person on it wants to know it is over).
 */
export function shouldTell(
  kind: "fire" | "remind" | "resolve",
  alert: { ackedAt: Date | null; snoozedUntil: Date | null },
  now: number,
  lastSentAt: Date | null = null,
  minIntervalSeconds = 0,
): boolean {
  if (snoozed(alert, now)) return false;
  if (kind === "resolve") return true;
  if (alert.ackedAt) return false;
  if (kind === "fire") return true;
  const every = Math.max(REMIND_EVERY_MS, minIntervalSeconds * 1000);
  return lastSentAt !== null && now - lastSentAt.getTime() >= every;
}

// ── messages ──────────────────────────────────────────────────────────────────────────────────

export function formatValue(metric: AlertMetric, value: number): string {
  const { unit } = METRIC_LABELS[metric];
  if (unit === "ms") return `${Math.round(value)} ms`;
  return `${Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2)}%`;
}

export function formatWindow(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

type Draft = Omit<NotificationMessage, "event" | "at" | "url"> & { url: string | null };

export interface AlertMessageInput {
  kind: "fire" | "remind" | "resolve";
  rule: { name: string; metric: AlertMetric; operator: AlertOperator; threshold: number; windowSeconds: number };
  /** The app's name, or null for the server. */
  app: string | null;
  /** The value that crossed (fire), the latest (remind), or the one that resolved it. */
  value: number;
  /** When it started firing (remind, resolve). */
  startedAt?: Date;
  now: number;
}

/** The message of an alert that fires, is still firing, or resolved. */
export function alertMessage(input: AlertMessageInput): { event: "alert.firing" | "alert.resolved"; message: Draft } {
  const { rule, app, kind } = input;
  const label = METRIC_LABELS[rule.metric].name;
  const where = app ?? "the server";
  const value = formatValue(rule.metric, input.value);
  const threshold = formatValue(rule.metric, rule.threshold);
  const window = formatWindow(rule.windowSeconds);
  const since = input.startedAt ? formatDuration(input.now - input.startedAt.getTime()) : null;
  const condition = `${label} ${rule.operator} ${threshold} over ${window}`;
  const title =
    kind === "resolve"
      ? `Resolved: ${rule.name} on ${where}`
      : kind === "remind"
        ? `Still firing: ${rule.name} on ${where}`
        : `Alert: ${rule.name} on ${where}`;
  const text =
    kind === "resolve"
      ? `${label} of ${where} is back at ${value} over the last ${window} (the rule is ${condition})${since ? `, after ${since}` : ""}.`
      : kind === "remind"
        ? `${label} of ${where} is still ${value} over the last ${window}; the alert has fired for ${since ?? "a while"}. Acknowledge or snooze it on the Alerts page to stop these reminders.`
        : `${label} of ${where} is ${value} over the last ${window}, ${rule.operator === ">" ? "above" : "below"} the threshold of ${threshold}.`;
  return {
    event: kind === "resolve" ? "alert.resolved" : "alert.firing",
    message: {
      severity: kind === "resolve" ? "success" : "warning",
      title,
      text,
      app,
      release: null,
      fields: [
        { label: "Rule", value: rule.name },
        { label: "Condition", value: condition },
        { label: kind === "resolve" ? "Now" : "Value", value },
        ...(since ? [{ label: kind === "resolve" ? "Fired for" : "Firing for", value: since }] : []),
      ],
      lines: [],
      url: "/alerts",
    },
  };
}

export function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 1) return "less than a minute";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours < 48) return rest ? `${hours} h ${rest} min` : `${hours} h`;
  return `${Math.round(hours / 24)} days`;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
