import { sql } from "drizzle-orm";
import { bigint, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import {
  BACKUP_KINDS,
  BACKUP_STATUSES,
  DATABASE_ENGINES,
  DATABASE_STATUSES,
  DESTINATION_KINDS,
  VERIFY_STATUSES,
} from "../../contract/api.ts";
import { apps } from "./apps.ts";

export {
  BACKUP_KINDS,
  BACKUP_STATUSES,
  DATABASE_ENGINES,
  DATABASE_STATUSES,
  DESTINATION_KINDS,
  VERIFY_STATUSES,
} from "../../contract/api.ts";

/** Where backups go: a directory on this server, or an S3-compatible bucket. */
export const backupDestinations = pgTable(
  "backup_destinations",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    kind: text("kind", { enum: DESTINATION_KINDS }).notNull(),
    /** local: {path}; s3: {endpoint, bucket, prefix, region}. Nothing secret. */
    config: jsonb("config").$type<Record<string, string>>().notNull(),
    /** s3: {accessKeyId, secretAccessKey} as JSON, encrypted with the master key. */
    secret: text("secret"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("backup_destinations_name_idx").on(t.name)],
);

/** A database the panel provisioned for apps: one PostgreSQL database + role, or one Redis instance. */
export const databases = pgTable(
  "databases",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    engine: text("engine", { enum: DATABASE_ENGINES }).notNull(),
    status: text("status", { enum: DATABASE_STATUSES }).notNull().default("provisioning"),
    /**
     * What the engine needs to reach it, nothing secret: postgres {host, port, database, role};
     * redis {host, port, dir, maxmemory, persistence}.
     */
    config: jsonb("config").$type<Record<string, unknown>>().notNull().default({}),
    /** The password, encrypted with the master key. */
    password: text("password"),
    sizeBytes: bigint("size_bytes", { mode: "number" }),
    connections: integer("connections"),
    polledAt: timestamp("polled_at", { withTimezone: true }),
    /** Backup schedule (cron expression, in UTC), null: on demand only. */
    scheduleCron: text("schedule_cron"),
    keepCount: integer("keep_count").notNull().default(7),
    keepDays: integer("keep_days").notNull().default(30),
    destinationId: uuid("destination_id").references(() => backupDestinations.id, { onDelete: "set null" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("databases_name_idx").on(t.name)],
);

/** A database given to an app as one env var (a secret holding its URL). */
export const databaseAttachments = pgTable(
  "database_attachments",
  {
    databaseId: uuid("database_id")
      .notNull()
      .references(() => databases.id, { onDelete: "cascade" }),
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    envVar: text("env_var").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.databaseId, t.appId] }), uniqueIndex("database_attachments_app_var_idx").on(t.appId, t.envVar)],
);

/**
 * One backup of an app database (database_id set) or of the panel's own database (null). A
 * backup counts only once a restore into a scratch database matched the source: `verified`.
 */
export const backups = pgTable(
  "backups",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    databaseId: uuid("database_id").references(() => databases.id, { onDelete: "set null" }),
    /** The database's name when it was taken (kept after the database is deleted). */
    databaseName: text("database_name").notNull(),
    engine: text("engine", { enum: [...DATABASE_ENGINES, "panel", "volume"] as const }).notNull(),
    /** A volume backup's app and volume name (engine "volume"); databaseName then holds `<app>/<volume>`. */
    appId: uuid("app_id").references(() => apps.id, { onDelete: "set null" }),
    volume: text("volume"),
    kind: text("kind", { enum: BACKUP_KINDS }).notNull(),
    status: text("status", { enum: BACKUP_STATUSES }).notNull().default("running"),
    verified: text("verified", { enum: VERIFY_STATUSES }).notNull().default("pending"),
    /** Why it failed or did not verify, in a sentence. */
    error: text("error"),
    destinationId: uuid("destination_id").references(() => backupDestinations.id, { onDelete: "set null" }),
    /** Where the file is: a path, or s3://bucket/key. */
    location: text("location"),
    sizeBytes: bigint("size_bytes", { mode: "number" }),
    sha256: text("sha256"),
    durationMs: integer("duration_ms"),
    verifyMs: integer("verify_ms"),
    /** What the check compared: table row counts, or Redis key counts. */
    details: jsonb("details").$type<Record<string, unknown>>(),
    jobId: uuid("job_id"),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [
    index("backups_database_idx").on(t.databaseId, t.startedAt),
    index("backups_failed_idx").on(t.status, t.verified).where(sql`${t.status} = 'failed' or ${t.verified} = 'failed'`),
  ],
);

export type BackupDestination = typeof backupDestinations.$inferSelect;
export type DatabaseRow = typeof databases.$inferSelect;
export type DatabaseAttachment = typeof databaseAttachments.$inferSelect;
export type Backup = typeof backups.$inferSelect;
