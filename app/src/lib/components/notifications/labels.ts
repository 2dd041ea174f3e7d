import type { AlertMetric, AlertOperator, ChannelKind, DeliveryStatus, NotificationChannel, NotificationEvent } from "#lib/api/types.ts";
import type { BadgeTone } from "../Badge.svelte";
import type { IconName } from "../icons.ts";

export const CHANNEL_KIND: Record<ChannelKind, { label: string; icon: IconName; hint: string }> = {
  email: { label: "Email", icon: "mail", hint: "Plain and HTML mail through your SMTP server." },
  slack: { label: "Slack", icon: "link", hint: "An incoming webhook of a Slack channel." },
  discord: { label: "Discord", icon: "link", hint: "A Discord channel's webhook." },
  telegram: { label: "Telegram", icon: "link", hint: "A bot that writes to a chat, group or channel." },
  ntfy: { label: "ntfy", icon: "lightning", hint: "Push notifications through an ntfy topic." },
  webhook: { label: "Webhook", icon: "terminal", hint: "Signed JSON POSTed to your own endpoint." },
};

/** The events a channel can receive, grouped as the routing checkboxes show them. */
export const EVENT_GROUPS: { label: string; events: { event: NotificationEvent; label: string }[] }[] = [
  {
    label: "Deploys",
    events: [
      { event: "deploy.succeeded", label: "Deploy succeeded" },
      { event: "deploy.failed", label: "Deploy failed" },
      { event: "rollback.automatic", label: "Automatic rollback" },
    ],
  },
  {
    label: "Apps",
    events: [
      { event: "app.crashed", label: "App crashed" },
      { event: "app.crash-looping", label: "App crash-looping" },
      { event: "slot.down", label: "Slot down" },
    ],
  },
  {
    label: "Alerts",
    events: [
      { event: "alert.firing", label: "Alert firing" },
      { event: "alert.resolved", label: "Alert resolved" },
    ],
  },
  {
    label: "Certificates",
    events: [
      { event: "certificate.issued", label: "Certificate issued" },
      { event: "certificate.expiring", label: "Certificate expiring" },
      { event: "certificate.failed", label: "Certificate failed" },
    ],
  },
  {
    label: "Backups",
    events: [
      { event: "backup.failed", label: "Backup failed" },
      { event: "backup.verify-failed", label: "Backup failed verification" },
    ],
  },
  {
    label: "Panel and security",
    events: [
      { event: "panel.updated", label: "Panel updated" },
      { event: "panel.reverted", label: "Panel switched back" },
      { event: "signin.new-address", label: "Sign-in from a new address" },
      { event: "two-factor.disabled", label: "Two-factor sign-in turned off" },
    ],
  },
];

export const EVENT_LABEL: Record<NotificationEvent, string> = {
  ...(Object.fromEntries(EVENT_GROUPS.flatMap((g) => g.events.map((e) => [e.event, e.label]))) as Record<NotificationEvent, string>),
  test: "Test message",
};

/** Every event but "test" (a test goes to the channel it is sent from, whatever it receives). */
export const ROUTABLE_EVENTS: NotificationEvent[] = EVENT_GROUPS.flatMap((g) => g.events.map((e) => e.event));

export const DELIVERY_STATUS: Record<DeliveryStatus, { label: string; tone: BadgeTone; pulse?: boolean }> = {
  pending: { label: "Waiting", tone: "accent" },
  sending: { label: "Sending", tone: "accent", pulse: true },
  sent: { label: "Sent", tone: "success" },
  failed: { label: "Gave up", tone: "danger" },
};

export const CHANNEL_HEALTH: Record<NotificationChannel["health"]["state"], { label: string; tone: BadgeTone }> = {
  ok: { label: "Working", tone: "success" },
  failing: { label: "Failing", tone: "danger" },
  unknown: { label: "Not used yet", tone: "neutral" },
};

export interface MetricInfo {
  label: string;
  /** Shown after a figure: "%" or " ms". */
  unit: string;
  /** "app": per app (null: every app). "server": the server's own figure. "both": null watches the server and every app. */
  scope: "app" | "server" | "both";
  /** What the figure is, for the form. */
  hint: string;
}

export const METRIC: Record<AlertMetric, MetricInfo> = {
  http_5xx_rate: { label: "5xx rate", unit: "%", scope: "app", hint: "Share of requests answered 5xx, in percent." },
  http_p95_ms: { label: "p95 latency", unit: " ms", scope: "app", hint: "95th percentile response time, in milliseconds." },
  memory_percent: {
    label: "Memory",
    unit: "%",
    scope: "both",
    hint: "Memory used, in percent of the app's limit (or of the server's memory).",
  },
  cpu_percent: { label: "CPU", unit: "%", scope: "both", hint: "CPU used, in percent of the app's limit (or of the server's cores)." },
  disk_percent: { label: "Disk", unit: "%", scope: "server", hint: "Disk space used on the data disk, in percent." },
  psi_memory_some: { label: "Memory pressure (PSI some)", unit: "%", scope: "server", hint: "Share of time some task waited for memory." },
  psi_cpu_some: { label: "CPU pressure (PSI some)", unit: "%", scope: "server", hint: "Share of time some task waited for CPU." },
};

export const OPERATOR: Record<AlertOperator, string> = { ">": "above", "<": "below" };

/** 92.345 → "92.3%", 812 → "812 ms". */
export function formatFigure(metric: AlertMetric, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = Number(value.toFixed(digits)).toString();
  return `${text}${METRIC[metric]?.unit ?? ""}`;
}

/** 180 → "3 min", 90 → "90 s", 3600 → "1 h". */
export function formatWindow(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** "5xx rate above 5% for 3 min". */
export function describeRule(rule: { metric: AlertMetric; operator?: AlertOperator; threshold: number; windowSeconds: number }): string {
  return `${METRIC[rule.metric]?.label ?? rule.metric} ${OPERATOR[rule.operator ?? ">"]} ${formatFigure(rule.metric, rule.threshold)} for ${formatWindow(rule.windowSeconds)}`;
}

/** What a rule watches: its app, or what no app means for its metric. */
export function ruleSubject(rule: { metric: AlertMetric; app: string | null }): string {
  if (rule.app) return rule.app;
  const scope = METRIC[rule.metric]?.scope ?? "app";
  return scope === "server" ? "The server" : scope === "both" ? "The server and every app" : "Every app";
}

/** Snooze durations offered, in minutes. */
export const SNOOZE_CHOICES: { minutes: number; label: string }[] = [
  { minutes: 15, label: "15 minutes" },
  { minutes: 60, label: "1 hour" },
  { minutes: 240, label: "4 hours" },
  { minutes: 1440, label: "1 day" },
  { minutes: 10080, label: "1 week" },
];
