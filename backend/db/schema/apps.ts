import { sql } from "drizzle-orm";
import { bigint, boolean, check, doublePrecision, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { APP_STATUSES, PACKAGE_MANAGERS, RUNTIMES } from "../../contract/api.ts";

export const APP_NAME_PATTERN = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/;
export { APP_STATUSES, type AppStatus, RUNTIMES } from "../../contract/api.ts";

export const apps = pgTable(
  "apps",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    repoUrl: text("repo_url").notNull(),
    branch: text("branch").notNull().default("main"),
    /** null: detected at each build. */
    runtime: text("runtime", { enum: RUNTIMES }),
    installCommand: text("install_command"),
    buildCommand: text("build_command"),
    startCommand: text("start_command"),
    /** Runs in each new release before it starts (migrations); null: none (or the Procfile's release: line). */
    releaseCommand: text("release_command"),
    healthPath: text("health_path").notNull().default("/"),
    healthTimeoutSec: integer("health_timeout_sec").notNull().default(60),
    buildTimeoutSec: integer("build_timeout_sec").notNull().default(900),
    healthIntervalMs: integer("health_interval_ms").notNull().default(250),
    /** Consecutive good answers needed before the switch. */
    healthSuccesses: integer("health_successes").notNull().default(1),
    /** How long after a switch the old slot may finish in-flight requests before it counts as drained. */
    drainSeconds: integer("drain_seconds").notNull().default(10),
    /** Post-switch watch window; 0 turns the watch off. */
    watchSeconds: integer("watch_seconds").notNull().default(60),
    /** The watch rolls back when the new slot's 5xx share exceeds the old one's by more than this (0–1). */
    watchErrorRate: doublePrecision("watch_error_rate").notNull().default(0.1),
    /** …or when its p95 latency is more than this many times the old one's (null: latency is not judged). */
    watchLatencyFactor: doublePrecision("watch_latency_factor"),
    /** The warm standby is stopped after this many minutes (0: never). */
    standbyTimeoutMin: integer("standby_timeout_min").notNull().default(60),
    autoDeploy: boolean("auto_deploy").notNull().default(true),
    /** Extra host names nginx routes to the live slot (besides <name>.localhost in local mode). */
    domains: text("domains").array().notNull().default(sql`'{}'::text[]`),
    /** "owner/name" when the app was created from a GitHub repository. */
    githubRepo: text("github_repo"),
    /** Whose GitHub token clones the repository and manages its webhook. */
    githubAccountId: uuid("github_account_id"),
    githubHookId: bigint("github_hook_id", { mode: "number" }),
    /** The webhook's signing secret, encrypted with the master key. */
    webhookSecret: text("webhook_secret"),
    memoryMax: text("memory_max"),
    cpuQuota: text("cpu_quota"),
    /** Directories (relative to the release) kept in `apps/<app>/volumes/` across deploys; see domain/volumes.ts. */
    volumes: jsonb("volumes").$type<Array<{ path: string }>>().notNull().default([]),
    /** The app's directory inside the repository (a monorepo's package); null: the root. */
    rootDir: text("root_dir"),
    /** A static site's output directory (relative to rootDir); null: detected. */
    outputDir: text("output_dir"),
    /** Serve index.html for paths with no file (a single-page app's client routes). */
    spaFallback: boolean("spa_fallback").notNull().default(false),
    /** null: detected from package.json's packageManager field or the lock file. */
    packageManager: text("package_manager", { enum: PACKAGE_MANAGERS }),
    /** Pinned runtime versions (a semver range or exact version); null: .bun-version/.nvmrc/.node-version/engines, else the default. */
    bunVersion: text("bun_version"),
    nodeVersion: text("node_version"),
    /** systemd IOWeight= (1-10000) of the app's units; null: the default (100). */
    ioWeight: integer("io_weight"),
    status: text("status", { enum: APP_STATUSES }).notNull().default("new"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("apps_name_idx").on(t.name),
    check("apps_health_timeout_check", sql`${t.healthTimeoutSec} between 1 and 3600`),
    check("apps_build_timeout_check", sql`${t.buildTimeoutSec} between 10 and 86400`),
  ],
);

export type App = typeof apps.$inferSelect;
