import { findDatabaseById } from "../../db/queries/databases.ts";
import { createMasker } from "../../domain/masking.ts";
import { applyRetention, BackupFailed, type BackupKind, dumpDatabase, secretsOf, verifyBackup } from "../backups.ts";
import { targetOf } from "../databases.ts";
import { type JobContext, JobFailed, type JobHandler } from "../orchestrator.ts";

export function requireDatabaseId(ctx: JobContext): string {
  if (!ctx.job.databaseId) throw new JobFailed("The database no longer exists.");
  return ctx.job.databaseId;
}

const KINDS = new Set<BackupKind>(["manual", "scheduled", "safety", "final"]);

/** A backup of one app database: dump, verify by a restore into a scratch database, then retention. */
export const dbBackupHandler: JobHandler = {
  steps: () => ["dump", "verify", "retention"],
  async run(ctx) {
    const databaseId = requireDatabaseId(ctx);
    const database = await findDatabaseById(ctx.services.db, databaseId);
    if (!database) throw new JobFailed("The database no longer exists.");
    if (database.status !== "ready")
      throw new JobFailed(`The database ${database.name} is ${database.status}; only a ready database can be backed up.`);
    ctx.maskWith(createMasker(secretsOf(targetOf(ctx.services, database))));
    const asked = ctx.job.params.kind as BackupKind | undefined;
    const kind: BackupKind = asked && KINDS.has(asked) ? asked : "manual";
    const log = (line: string) => ctx.log(line);
    try {
      const dumped = await ctx.step("dump", () =>
        dumpDatabase(ctx.services, databaseId, kind, log, { jobId: ctx.job.id, signal: ctx.signal }),
      );
      const backup = await ctx.step("verify", () => verifyBackup(ctx.services, dumped.backup, dumped.store, log, ctx.signal));
      await ctx.step("retention", () => applyRetention(ctx.services, database, log));
      return { backupId: backup.id, location: backup.location, sizeBytes: backup.sizeBytes, sha256: backup.sha256 };
    } catch (error) {
      if (error instanceof BackupFailed) throw new JobFailed(error.message, { backupId: error.backup.id });
      throw error;
    }
  },
};
