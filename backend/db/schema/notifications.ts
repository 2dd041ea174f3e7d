import { sql } from "drizzle-orm";
import {
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import {
  ALERT_METRICS,
  ALERT_OPERATORS,
  ALERT_STATES,
  CHANNEL_KINDS,
  DELIVERY_STATUSES,
  type DeliveryAttempt,
  type NotificationMessage,
} from "../../contract/api.ts";
import { apps } from "./apps.ts";
import { users } from "./users.ts";

export { ALERT_METRICS, ALERT_OPERATORS, ALERT_STATES, CHANNEL_KINDS, DELIVERY_STATUSES, NOTIFICATION_EVENTS } from "../../contract/api.ts";

/**
 * Where notifications go: email, Slack, Discord, Telegram, ntfy or a signed webhook. `events` and
 * `appIds` route: null receives every event / every app. The secret part of the configuration
 * (SMTP password, bot token, webhook URL, signing secret) is encrypted (AAD: the channel's id).
 */
export const notificationChannels = pgTable(
  "notification_channels",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    kind: text("kind", { enum: CHANNEL_KINDS }).notNull(),
    /** What may be shown: host, port, from, to, chat id, topic… Nothing secret. */
    config: jsonb("config").$type<Record<string, unknown>>().notNull().default({}),
    /** JSON of the secret fields, encrypted. */
    secret: text("secret"),
    events: text("events").array(),
    appIds: uuid("app_ids").array(),
    enabled: boolean("enabled").notNull().default(true),
    /** Delivery health: failures in a row since the last success; the last error as said by the receiver. */
    consecutiveFailures: integer("consecutive_failures").notNull().default(0),
    lastError: text("last_error"),
    lastFailureAt: timestamp("last_failure_at", { withTimezone: true }),
    lastSuccessAt: timestamp("last_success_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("notification_channels_name_idx").on(t.name)],
);

export type NotificationChannelRow = typeof notificationChannels.$inferSelect;

/**
 * The outbox: one row per message per channel, written in the transaction (or right after the
 * fact) that produced the event, delivered by a worker with retries and backoff; survives restarts.
 */
export const notificationDeliveries = pgTable(
  "notification_deliveries",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    channelId: uuid("channel_id")
      .notNull()
      .references(() => notificationChannels.id, { onDelete: "cascade" }),
    event: text("event").notNull(),
    appId: uuid("app_id").references(() => apps.id, { onDelete: "set null" }),
    message: jsonb("message").$type<NotificationMessage>().notNull(),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    /** Every attempt: when, how long, the receiver's status, the error. */
    log: jsonb("log").$type<DeliveryAttempt[]>().notNull().default([]),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true }).notNull().defaultNow(),
    /** A worker's claim (stale claims are taken over). */
    claimedAt: timestamp("claimed_at", { withTimezone: true }),
    lastError: text("last_error"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    sentAt: timestamp("sent_at", { withTimezone: true }),
  },
  (t) => [
    index("notification_deliveries_due_idx").on(t.status, t.nextAttemptAt),
    index("notification_deliveries_channel_idx").on(t.channelId, t.createdAt),
  ],
);

export type NotificationDeliveryRow = typeof notificationDeliveries.$inferSelect;

/**
 * A threshold over a window on a metric, for one app or the server (app_id null with an app
 * metric: every app). `min_interval_seconds`: at most one message per rule and channel per interval.
 */
export const alertRules = pgTable("alert_rules", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull(),
  metric: text("metric", { enum: ALERT_METRICS }).notNull(),
  operator: text("operator", { enum: ALERT_OPERATORS }).notNull().default(">"),
  threshold: doublePrecision("threshold").notNull(),
  windowSeconds: integer("window_seconds").notNull(),
  appId: uuid("app_id").references(() => apps.id, { onDelete: "cascade" }),
  minIntervalSeconds: integer("min_interval_seconds").notNull().default(900),
  enabled: boolean("enabled").notNull().default(true),
  /** One of the rules a new install starts with (a user may turn it off or change it). */
  builtIn: boolean("built_in").notNull().default(false),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export type AlertRuleRow = typeof alertRules.$inferSelect;

/** One firing of a rule for one subject (an app, or the server), until it resolves. */
export const alerts = pgTable(
  "alerts",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    ruleId: uuid("rule_id")
      .notNull()
      .references(() => alertRules.id, { onDelete: "cascade" }),
    appId: uuid("app_id").references(() => apps.id, { onDelete: "cascade" }),
    /** "app:<id>" or "server": one firing alert per rule and subject. */
    subject: text("subject").notNull(),
    state: text("state", { enum: ALERT_STATES }).notNull().default("firing"),
    /** The value that crossed the threshold, and the latest seen while firing. */
    value: doublePrecision("value").notNull(),
    lastValue: doublePrecision("last_value").notNull(),
    threshold: doublePrecision("threshold").notNull(),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    resolvedAt: timestamp("resolved_at", { withTimezone: true }),
    ackedAt: timestamp("acked_at", { withTimezone: true }),
    ackedBy: uuid("acked_by").references(() => users.id, { onDelete: "set null" }),
    snoozedUntil: timestamp("snoozed_until", { withTimezone: true }),
    snoozedBy: uuid("snoozed_by").references(() => users.id, { onDelete: "set null" }),
  },
  (t) => [
    uniqueIndex("alerts_one_firing_idx").on(t.ruleId, t.subject).where(sql`${t.state} = 'firing'`),
    index("alerts_started_idx").on(t.startedAt),
  ],
);

export type AlertRow = typeof alerts.$inferSelect;

/** The last message per rule, subject and channel: the minimum interval is kept across panels and restarts. */
export const alertSends = pgTable(
  "alert_sends",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    ruleId: uuid("rule_id")
      .notNull()
      .references(() => alertRules.id, { onDelete: "cascade" }),
    channelId: uuid("channel_id")
      .notNull()
      .references(() => notificationChannels.id, { onDelete: "cascade" }),
    subject: text("subject").notNull(),
    sentAt: timestamp("sent_at", { withTimezone: true }).notNull(),
    /** Transitions held back by the interval since the last message (told in the next one). */
    suppressed: integer("suppressed").notNull().default(0),
  },
  (t) => [uniqueIndex("alert_sends_key_idx").on(t.ruleId, t.channelId, t.subject)],
);
