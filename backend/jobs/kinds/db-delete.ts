import { deleteAttachment, deleteDatabaseRow, updateDatabase } from "../../db/queries/databases.ts";
import { backupDatabase } from "../backups.ts";
import { attachedApps, engineOf, setAppSecret, targetOf } from "../databases.ts";
import type { JobHandler } from "../orchestrator.ts";
import { requireDatabase } from "./db-provision.ts";

/**
 * final-backup → detach → drop. The final backup must verify before anything is dropped; when it
 * does not, the database stays as it was. A database whose provision failed has nothing to keep.
 */
export const dbDeleteHandler: JobHandler = {
  steps: () => ["final-backup", "detach", "drop"],
  async run(ctx) {
    const database = await requireDatabase(ctx);
    const engine = engineOf(ctx.services, database);
    const provisioned = Object.keys(database.config ?? {}).length > 0;
    let backupId: string | null = null;
    if (!provisioned) {
      await ctx.skip("final-backup", "the database was never provisioned: there is nothing to back up");
    } else {
      try {
        await ctx.step("final-backup", async () => {
          const backup = await backupDatabase(ctx.services, database.id, "final", (line) => ctx.log(line), {
            jobId: ctx.job.id,
            signal: ctx.signal,
          });
          backupId = backup.id;
          ctx.log(`final backup ${backup.id} verified; it is kept after the database is gone`);
        });
      } catch (error) {
        const status = ctx.job.params.previousStatus === "failed" ? "failed" : "ready";
        const back = await updateDatabase(ctx.services.db, database.id, { status });
        if (back)
          await ctx.services.events.publish({ type: "database.updated", databaseId: back.id, database: back.name, status: back.status });
        throw error;
      }
    }
    await ctx.step("detach", async () => {
      const attached = await attachedApps(ctx.services, database.id);
      for (const { app, envVar } of attached) {
        await setAppSecret(ctx.services, app.id, envVar, null);
        await deleteAttachment(ctx.services.db, database.id, app.id);
        ctx.log(`${app.name}: ${envVar} removed (its running release keeps the old value until the next deploy)`);
      }
      if (attached.length === 0) ctx.log("no app is attached");
    });
    await ctx.step("drop", async () => {
      await engine.drop(targetOf(ctx.services, database));
      await deleteDatabaseRow(ctx.services.db, database.id);
      ctx.log(`${database.engine} database ${database.name} dropped`);
    });
    await ctx.services.events.publish({ type: "database.updated", databaseId: database.id, database: database.name, status: "deleted" });
    return { database: database.name, finalBackupId: backupId };
  },
};
