import { removeIfPresent } from "../../adapters/volume-swap.ts";
import { volumeDirExists } from "../../adapters/volumes.ts";
import { findBackup } from "../../db/queries/backups.ts";
import type { Job } from "../../db/schema/index.ts";
import { isGood } from "../../domain/backups.ts";
import { JobFailed, type JobHandler } from "../orchestrator.ts";
import {
  appIsLive,
  backupVolume,
  recoverInterruptedRestores,
  restoreStaging,
  stageRestore,
  swapIn,
  VolumeBackupFailed,
  volumeDir,
} from "../volume-backups.ts";
import { requireApp } from "./app-job.ts";

export interface VolumeRestoreParams {
  volume: string;
  backupId: string;
  /** Restart the app (blue-green, no downtime) once the volume holds the backup's contents. */
  restart: boolean;
}

function paramsOf(job: Job): VolumeRestoreParams {
  const p = job.params as Partial<VolumeRestoreParams>;
  if (typeof p.volume !== "string" || typeof p.backupId !== "string") throw new JobFailed("The restore job's parameters are incomplete.");
  return { volume: p.volume, backupId: p.backupId, restart: p.restart !== false };
}

/**
 * Restores a volume from one of its verified backups while the app runs: a safety backup of what
 * the volume holds now, the backup extracted beside the volume and checked, then swapped in by
 * rename. A failure before the swap leaves the volume as it was. The app is then restarted
 * blue-green, so every process opens the restored files (server mode bind-mounts the volume
 * directory itself: until the restart, running processes still see the old one).
 */
export const volumeRestoreHandler: JobHandler = {
  steps: () => ["safety-backup", "extract", "swap", "restart"],
  async run(ctx) {
    const app = requireApp(ctx);
    const params = paramsOf(ctx.job);
    const backup = await findBackup(ctx.services.db, params.backupId);
    if (!backup || backup.appId !== app.id || backup.engine !== "volume" || backup.volume !== params.volume)
      throw new JobFailed(`That backup does not belong to volume ${params.volume} of ${app.name}.`);
    if (!isGood(backup)) throw new JobFailed("Only a backup that finished and verified can be restored.");
    const log = (line: string) => ctx.log(line);
    const staging = restoreStaging(ctx.services, app, ctx.job.id);
    await recoverInterruptedRestores(ctx.services, app, log);

    const safety = await ctx.step("safety-backup", async () => {
      if (!volumeDirExists(volumeDir(ctx.services, app, params.volume))) {
        log(`Volume ${params.volume} has no directory: nothing to keep.`);
        return null;
      }
      try {
        return await backupVolume(ctx.services, app, params.volume, "safety", log, { jobId: ctx.job.id, signal: ctx.signal });
      } catch (error) {
        if (error instanceof VolumeBackupFailed) throw new JobFailed(`No restore without a safety backup: ${error.message}`);
        throw error;
      }
    });
    try {
      const tree = await ctx.step("extract", () => stageRestore(ctx.services, app, backup, staging, log, ctx.signal));
      ctx.throwIfCancelled();
      await ctx.step("swap", () => swapIn(ctx.services, app, params.volume, tree, staging, log));
    } catch (error) {
      if (safety) ctx.log(`The volume was not changed. The safety backup ${safety.id} holds it as it was before this restore.`);
      throw error;
    } finally {
      await removeIfPresent(staging);
    }
    let restartJobId: string | null = null;
    if (!params.restart) await ctx.skip("restart", "not asked for: restart the app to have every process open the restored files");
    else if (!(await appIsLive(ctx.services, app))) await ctx.skip("restart", "the app is not running");
    else {
      await ctx.step("restart", async () => {
        // Queued, not awaited: it runs once this job has finished (one job of an app runs at a time).
        const job = await ctx.services.orchestrator.enqueue({
          kind: "restart",
          appId: app.id,
          trigger: `volume-restore ${ctx.job.id.slice(0, 8)}`,
        });
        restartJobId = job.id;
        log(`Queued a zero-downtime restart of ${app.name} (job ${job.id}), so every process opens the restored files.`);
      });
    }
    return { backupId: backup.id, volume: params.volume, safetyBackupId: safety?.id ?? null, restartJobId };
  },
};
