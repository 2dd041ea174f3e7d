import { boolean, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { RELEASE_STATUSES } from "../../contract/api.ts";
import { apps } from "./apps.ts";
import { environments } from "./environments.ts";
import { jobs } from "./jobs.ts";

export const BUILD_STATUSES = ["running", "succeeded", "failed", "cancelled"] as const;

/** One attempt to turn a commit into a release. */
export const builds = pgTable(
  "builds",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    jobId: uuid("job_id").references(() => jobs.id, { onDelete: "set null" }),
    status: text("status", { enum: BUILD_STATUSES }).notNull().default("running"),
    commitSha: text("commit_sha"),
    commitMessage: text("commit_message"),
    commitAuthor: text("commit_author"),
    runtime: text("runtime"),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [index("builds_app_idx").on(t.appId, t.startedAt)],
);

export { RELEASE_STATUSES, type ReleaseStatus } from "../../contract/api.ts";

/** A built, runnable version of an app with the env it runs with. */
export const releases = pgTable(
  "releases",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    environmentId: uuid("environment_id")
      .notNull()
      .references(() => environments.id, { onDelete: "cascade" }),
    buildId: uuid("build_id").references(() => builds.id, { onDelete: "set null" }),
    /** Per app: 1, 2, 3 … for people to talk about ("v12"). */
    number: integer("number").notNull(),
    commitSha: text("commit_sha").notNull(),
    commitMessage: text("commit_message"),
    commitAuthor: text("commit_author"),
    runtime: text("runtime").notNull(),
    startCommand: jsonb("start_command").$type<string[]>().notNull(),
    dir: text("dir").notNull(),
    envFile: text("env_file").notNull(),
    status: text("status", { enum: RELEASE_STATUSES }).notNull().default("ready"),
    /** Has this release ever passed its health check? Only good releases are rollback targets. */
    healthy: boolean("healthy").notNull().default(false),
    pinned: boolean("pinned").notNull().default(false),
    /** Files removed by retention; the row stays as history. */
    pruned: boolean("pruned").notNull().default(false),
    details: jsonb("details").$type<Record<string, unknown>>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    liveAt: timestamp("live_at", { withTimezone: true }),
  },
  (t) => [index("releases_app_idx").on(t.appId, t.number)],
);

export type Build = typeof builds.$inferSelect;
export type Release = typeof releases.$inferSelect;
