import { sql } from "drizzle-orm";
import { boolean, check, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { CRON_OVERLAP_POLICIES, CRON_RUN_STATUSES, CRON_RUN_TRIGGERS } from "../../contract/api.ts";
import { apps } from "./apps.ts";
import { releases } from "./releases.ts";

/** A command run on a schedule in the app's live release, with its env. */
export const cronJobs = pgTable(
  "cron_jobs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** A 5-field cron expression (minute hour day-of-month month day-of-week), or a nickname like @hourly. */
    schedule: text("schedule").notNull(),
    /** IANA time zone the schedule is read in. */
    timezone: text("timezone").notNull().default("UTC"),
    command: text("command").notNull(),
    /** What happens when a run is due while the previous one still runs. */
    overlap: text("overlap", { enum: CRON_OVERLAP_POLICIES }).notNull().default("skip"),
    timeoutSec: integer("timeout_sec").notNull().default(3600),
    enabled: boolean("enabled").notNull().default(true),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("cron_jobs_app_idx").on(t.appId), check("cron_jobs_timeout_check", sql`${t.timeoutSec} between 1 and 86400`)],
);

/** One run of a cron job: its trigger, outcome, timing and output (secrets masked). */
export const cronRuns = pgTable(
  "cron_runs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    cronJobId: uuid("cron_job_id")
      .notNull()
      .references(() => cronJobs.id, { onDelete: "cascade" }),
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    trigger: text("trigger", { enum: CRON_RUN_TRIGGERS }).notNull(),
    status: text("status", { enum: CRON_RUN_STATUSES }).notNull(),
    releaseId: uuid("release_id").references(() => releases.id, { onDelete: "set null" }),
    exitCode: integer("exit_code"),
    /** The scheduled instant this run is for (manual runs: when asked). */
    dueAt: timestamp("due_at", { withTimezone: true }).notNull(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
    durationMs: integer("duration_ms"),
    /** The last lines of output, masked; at most 64 KiB. */
    output: text("output"),
    /** Why it was skipped, failed or timed out, in words. */
    message: text("message"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("cron_runs_job_idx").on(t.cronJobId, t.createdAt), index("cron_runs_status_idx").on(t.status)],
);

export type CronJobRow = typeof cronJobs.$inferSelect;
export type CronRunRow = typeof cronRuns.$inferSelect;
