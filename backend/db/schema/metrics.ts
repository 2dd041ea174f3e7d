import {
  bigint,
  bigserial,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from "drizzle-orm/pg-core";
import { apps } from "./apps.ts";
import { jobs } from "./jobs.ts";
import { releases } from "./releases.ts";

/** Raw bytes (a serialised latency sketch). postgres.js gives a Buffer, PGlite a Uint8Array. */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
});

export const RESOLUTIONS = ["minute", "hour", "day"] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

/**
 * Requests through nginx per app × slot × release × bucket (a minute, an hour or a day), from the
 * JSON access log. `sketch` is a DDSketch of the upstream time in ms (mergeable: hours and days
 * are merged minutes, and their percentiles stay true to the sketch's accuracy).
 */
export const requestStats = pgTable(
  "request_stats",
  {
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    resolution: text("resolution", { enum: RESOLUTIONS }).notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    /** blue | green, or none when no slot was live (nginx answered by itself). */
    slot: text("slot").notNull(),
    releaseId: uuid("release_id"),
    requests: integer("requests").notNull().default(0),
    s1xx: integer("s1xx").notNull().default(0),
    s2xx: integer("s2xx").notNull().default(0),
    s3xx: integer("s3xx").notNull().default(0),
    s4xx: integer("s4xx").notNull().default(0),
    s5xx: integer("s5xx").notNull().default(0),
    bytesIn: bigint("bytes_in", { mode: "number" }).notNull().default(0),
    bytesOut: bigint("bytes_out", { mode: "number" }).notNull().default(0),
    /** Requests an upstream answered (those with an upstream time), and the sum of those times. */
    timed: integer("timed").notNull().default(0),
    latencySumMs: doublePrecision("latency_sum_ms").notNull().default(0),
    sketch: bytea("sketch"),
  },
  (t) => [
    unique("request_stats_key").on(t.appId, t.resolution, t.bucket, t.slot, t.releaseId).nullsNotDistinct(),
    index("request_stats_bucket_idx").on(t.resolution, t.bucket),
  ],
);

/**
 * Counters since the app was created, for Prometheus (they only grow, so rate() works across
 * pruning): requests per status class, bytes, and the upstream time as histogram buckets.
 */
export const requestTotals = pgTable("request_totals", {
  appId: uuid("app_id")
    .primaryKey()
    .references(() => apps.id, { onDelete: "cascade" }),
  requests: bigint("requests", { mode: "number" }).notNull().default(0),
  s1xx: bigint("s1xx", { mode: "number" }).notNull().default(0),
  s2xx: bigint("s2xx", { mode: "number" }).notNull().default(0),
  s3xx: bigint("s3xx", { mode: "number" }).notNull().default(0),
  s4xx: bigint("s4xx", { mode: "number" }).notNull().default(0),
  s5xx: bigint("s5xx", { mode: "number" }).notNull().default(0),
  bytesIn: bigint("bytes_in", { mode: "number" }).notNull().default(0),
  bytesOut: bigint("bytes_out", { mode: "number" }).notNull().default(0),
  timed: bigint("timed", { mode: "number" }).notNull().default(0),
  latencySumMs: doublePrecision("latency_sum_ms").notNull().default(0),
  /** Cumulative counts per upper bound (LATENCY_BUCKETS_MS in domain/metrics.ts), +Inf last. */
  latencyBuckets: jsonb("latency_buckets").$type<number[]>().notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const RESOURCE_SUBJECTS = ["system", "slot", "app"] as const;
export type ResourceSubject = (typeof RESOURCE_SUBJECTS)[number];

/**
 * Resource figures per bucket, averaged over the 10 s samples in it (`samples` weighs rollups).
 * system: the server (app_id and slot null); slot: one app slot; app: an app's disk use.
 */
export const resourceStats = pgTable(
  "resource_stats",
  {
    resolution: text("resolution", { enum: RESOLUTIONS }).notNull(),
    bucket: timestamp("bucket", { withTimezone: true }).notNull(),
    subject: text("subject", { enum: RESOURCE_SUBJECTS }).notNull(),
    appId: uuid("app_id").references(() => apps.id, { onDelete: "cascade" }),
    slot: text("slot"),
    samples: integer("samples").notNull().default(0),
    values: jsonb("values").$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    unique("resource_stats_key").on(t.resolution, t.bucket, t.subject, t.appId, t.slot).nullsNotDistinct(),
    index("resource_stats_bucket_idx").on(t.resolution, t.bucket),
  ],
);

/** Where a follower of a log file got to: the file's inode and the byte offset of the next unread line. */
export const logCheckpoints = pgTable("log_checkpoints", {
  source: text("source").primaryKey(),
  ino: bigint("ino", { mode: "number" }).notNull(),
  offset: bigint("offset", { mode: "number" }).notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const SWITCH_KINDS = ["deploy", "rollback", "auto-rollback", "restart", "stop"] as const;
export type SwitchKind = (typeof SWITCH_KINDS)[number];

/**
 * Every time an app's traffic moved (or stopped): which slot and release took it, when, and why.
 * Requests in the access log are attributed to the slot and release live when they started; the
 * Analytics tab marks these on its time axis.
 */
export const trafficSwitches = pgTable(
  "traffic_switches",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    at: timestamp("at", { withTimezone: true, precision: 3 }).notNull(),
    /** null after a stop: no slot takes traffic. */
    color: text("color", { enum: ["blue", "green"] }),
    releaseId: uuid("release_id").references(() => releases.id, { onDelete: "set null" }),
    kind: text("kind", { enum: SWITCH_KINDS }).notNull(),
    jobId: uuid("job_id").references(() => jobs.id, { onDelete: "set null" }),
  },
  (t) => [index("traffic_switches_app_idx").on(t.appId, t.at)],
);

export type RequestStat = typeof requestStats.$inferSelect;
export type ResourceStat = typeof resourceStats.$inferSelect;
export type TrafficSwitch = typeof trafficSwitches.$inferSelect;
