import { appSlots } from "../../db/queries/apps.ts";
import { findBackup } from "../../db/queries/backups.ts";
import { findDatabaseById, insertDatabase, updateDatabase } from "../../db/queries/databases.ts";
import type { App, DatabaseRow, Job } from "../../db/schema/index.ts";
import { isGood } from "../../domain/backups.ts";
import { createMasker } from "../../domain/masking.ts";
import { BackupFailed, backupDatabase, restoreInto, secretsOf } from "../backups.ts";
import { attachedApps, engineOf, newPassword, targetOf } from "../databases.ts";
import { type JobContext, JobFailed, type JobHandler } from "../orchestrator.ts";
import { isUniqueViolation } from "../store.ts";
import { requireDatabaseId } from "./db-backup.ts";

export interface RestoreParams {
  backupId: string;
  target: "same" | "new";
  name?: string;
}

function paramsOf(job: Job): RestoreParams {
  const p = job.params as Partial<RestoreParams>;
  if (typeof p.backupId !== "string" || (p.target !== "same" && p.target !== "new"))
    throw new JobFailed("The restore job's parameters are incomplete.");
  if (p.target === "new" && typeof p.name !== "string") throw new JobFailed("A restore into a new database needs its name.");
  return { backupId: p.backupId, target: p.target, ...(p.name ? { name: p.name } : {}) };
}

/** Waits for an app job this restore queued; its failure fails the restore. */
async function runAppJob(ctx: JobContext, kind: "stop" | "restart", app: App): Promise<void> {
  const job = await ctx.services.orchestrator.enqueue({ kind, appId: app.id, trigger: `db-restore ${ctx.job.id.slice(0, 8)}`, params: {} });
  ctx.log(`${kind === "stop" ? "Stopping" : "Starting"} ${app.name} (job ${job.id})…`);
  const done = await ctx.services.orchestrator.waitFor(job.id, 30 * 60_000);
  if (done.status !== "succeeded") throw new Error(`${kind} of ${app.name} ${done.status}: ${done.error ?? "no reason given"}`);
}

/**
 * Restores a backup. "same": a safety backup first, the attached apps stopped (not paused: a
 * restore with --clean drops and recreates the tables, so a connected app would see them vanish
 * and could write into a half-restored database), the restore in one transaction, the apps started
 * again whatever happened. "new": a new database of the same engine, provisioned and restored into.
 */
export const dbRestoreHandler: JobHandler = {
  steps: (job) =>
    (job.params as Partial<RestoreParams>).target === "new"
      ? ["provision", "restore"]
      : ["safety-backup", "stop-apps", "restore", "start-apps"],
  async run(ctx) {
    const databaseId = requireDatabaseId(ctx);
    const params = paramsOf(ctx.job);
    const source = await findDatabaseById(ctx.services.db, databaseId);
    if (!source) throw new JobFailed("The database no longer exists.");
    const backup = await findBackup(ctx.services.db, params.backupId);
    if (!backup || backup.databaseId !== source.id) throw new JobFailed("That backup does not belong to this database.");
    if (!isGood(backup)) throw new JobFailed("Only a backup that finished and verified can be restored.");
    const secrets = secretsOf(targetOf(ctx.services, source));
    ctx.maskWith(createMasker(secrets));
    const log = (line: string) => ctx.log(line);

    if (params.target === "new") {
      const name = params.name as string;
      const created = await ctx.step("provision", () => provisionNew(ctx, source, name, secrets));
      const result = await ctx.step("restore", () => restoreInto(ctx.services, backup, created, log, ctx.signal));
      return { backupId: backup.id, database: created.name, databaseId: created.id, ...result };
    }

    const safety = await ctx.step("safety-backup", async () => {
      try {
        return await backupDatabase(ctx.services, source.id, "safety", log, { jobId: ctx.job.id, signal: ctx.signal });
      } catch (error) {
        if (error instanceof BackupFailed) throw new JobFailed(`No restore without a safety backup: ${error.message}`);
        throw error;
      }
    });
    const stopped: App[] = [];
    let result: Record<string, unknown> = {};
    let failure: unknown = null;
    try {
      await ctx.step("stop-apps", async () => {
        for (const { app } of await attachedApps(ctx.services, source.id)) {
          const running = (await appSlots(ctx.services.db, app.id)).some((s) => s.state === "live" || s.state === "starting");
          if (!running) {
            ctx.log(`${app.name} is not running.`);
            continue;
          }
          // Listed first: an app whose stop failed half-way is started again too.
          stopped.push(app);
          await runAppJob(ctx, "stop", app);
        }
        if (stopped.length === 0) ctx.log("No attached app is running.");
      });
      result = await ctx.step("restore", () => restoreInto(ctx.services, backup, source, log, ctx.signal));
    } catch (error) {
      failure = error;
      ctx.log(`The safety backup ${safety.id} holds ${source.name} as it was before this restore.`);
    }
    // The apps come back whether the restore worked or not (a failed one changed nothing).
    if (ctx.signal.aborted) {
      // Cancelled (or the panel is stopping): the restarts are queued, and run by whichever panel claims them.
      for (const app of stopped) {
        await ctx.services.orchestrator.enqueue({ kind: "restart", appId: app.id, trigger: `db-restore ${ctx.job.id.slice(0, 8)}` });
        ctx.log(`Queued a restart of ${app.name}.`);
      }
    } else {
      try {
        await ctx.step("start-apps", async () => {
          const problems: string[] = [];
          for (const app of stopped) await runAppJob(ctx, "restart", app).catch((e: Error) => problems.push(e.message));
          if (stopped.length === 0) ctx.log("No app to start.");
          if (problems.length > 0) throw new Error(problems.join("; "));
        });
      } catch (error) {
        // The restore's own failure, if there was one, is what the job reports.
        failure ??= error;
      }
    }
    if (failure) throw failure;
    return { backupId: backup.id, safetyBackupId: safety.id, database: source.name, appsRestarted: stopped.map((a) => a.name), ...result };
  },
};

/** A new database of the source's engine, provisioned like one created from the API. */
async function provisionNew(ctx: JobContext, source: DatabaseRow, name: string, secrets: string[]): Promise<DatabaseRow> {
  const password = newPassword();
  ctx.maskWith(createMasker([...secrets, password, encodeURIComponent(password)]));
  let row: DatabaseRow;
  try {
    row = await insertDatabase(ctx.services.db, ctx.services.masterKey, { name, engine: source.engine, password });
  } catch (error) {
    if (isUniqueViolation(error)) throw new JobFailed(`A database named ${name} already exists.`);
    throw error;
  }
  await ctx.services.events.publish({ type: "database.updated", databaseId: row.id, database: row.name, status: row.status });
  const engine = engineOf(ctx.services, row);
  try {
    const config = await engine.provision(name, password, (line) => ctx.log(line));
    await engine.ping({ name, config, password });
    row = (await updateDatabase(ctx.services.db, row.id, { config, status: "ready" })) ?? row;
    ctx.log(`Created ${source.engine} database ${name}.`);
    await ctx.services.events.publish({ type: "database.updated", databaseId: row.id, database: row.name, status: row.status });
    return row;
  } catch (error) {
    const failed = await updateDatabase(ctx.services.db, row.id, { status: "failed" });
    if (failed)
      await ctx.services.events.publish({ type: "database.updated", databaseId: failed.id, database: failed.name, status: failed.status });
    throw error;
  }
}
