import { sql } from "drizzle-orm";
import { bigserial, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { JOB_KINDS, JOB_STATUSES, STEP_STATUSES } from "../../contract/api.ts";
import { apps } from "./apps.ts";
import { databases } from "./databases.ts";
import { certificates } from "./domains.ts";
import { users } from "./users.ts";

export { JOB_KINDS, JOB_STATUSES, type JobKind, type JobStatus, STEP_STATUSES, type StepStatus } from "../../contract/api.ts";

export const jobs = pgTable(
  "jobs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    kind: text("kind", { enum: JOB_KINDS }).notNull(),
    appId: uuid("app_id").references(() => apps.id, { onDelete: "cascade" }),
    /** The database a db-* job works on (kept as null once the database is deleted). */
    databaseId: uuid("database_id").references(() => databases.id, { onDelete: "set null" }),
    /** The certificate an issue-certificate job issues or renews (kept as null once it is deleted). */
    certificateId: uuid("certificate_id").references(() => certificates.id, { onDelete: "set null" }),
    status: text("status", { enum: JOB_STATUSES }).notNull().default("queued"),
    params: jsonb("params").$type<Record<string, unknown>>().notNull().default({}),
    result: jsonb("result").$type<Record<string, unknown>>(),
    error: text("error"),
    createdBy: uuid("created_by").references(() => users.id, { onDelete: "set null" }),
    /** Who or what asked for it, as shown: an email, "webhook", "auto-rollback". */
    trigger: text("trigger").notNull().default("api"),
    workerId: text("worker_id"),
    cancelRequested: integer("cancel_requested").notNull().default(0),
    /**
     * What the running step is about to change outside the database (a symlink, a process), written
     * before it does: after a crash, reconciliation finishes or undoes exactly that.
     */
    intent: jsonb("intent").$type<Record<string, unknown>>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
    heartbeatAt: timestamp("heartbeat_at", { withTimezone: true }),
  },
  (t) => [
    index("jobs_queue_idx").on(t.status, t.createdAt),
    index("jobs_app_idx").on(t.appId, t.createdAt),
    // The database itself guarantees one running job per app; a racing claim fails and retries.
    uniqueIndex("jobs_one_running_per_app_idx").on(t.appId).where(sql`${t.status} = 'running' and ${t.appId} is not null`),
    uniqueIndex("jobs_one_running_per_database_idx").on(t.databaseId).where(sql`${t.status} = 'running' and ${t.databaseId} is not null`),
    uniqueIndex("jobs_one_running_per_certificate_idx")
      .on(t.certificateId)
      .where(sql`${t.status} = 'running' and ${t.certificateId} is not null`),
    // The panel updates itself one update at a time: a second one queued beside it is refused here.
    uniqueIndex("jobs_one_self_update_idx").on(t.kind).where(sql`${t.kind} = 'self-update' and ${t.status} in ('queued', 'running')`),
  ],
);

export const jobSteps = pgTable(
  "job_steps",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    jobId: uuid("job_id")
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
    name: text("name").notNull(),
    status: text("status", { enum: STEP_STATUSES }).notNull().default("pending"),
    message: text("message"),
    startedAt: timestamp("started_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [uniqueIndex("job_steps_job_pos_idx").on(t.jobId, t.position)],
);

export const jobLogs = pgTable(
  "job_logs",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    jobId: uuid("job_id")
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    /** 1, 2, 3 … within the job: the SSE event id, so a reconnect resumes exactly. */
    seq: integer("seq").notNull(),
    step: text("step"),
    stream: text("stream", { enum: ["stdout", "stderr", "system"] }).notNull(),
    line: text("line").notNull(),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("job_logs_job_seq_idx").on(t.jobId, t.seq)],
);

export type Job = typeof jobs.$inferSelect;
export type JobStep = typeof jobSteps.$inferSelect;
export type JobLog = typeof jobLogs.$inferSelect;
