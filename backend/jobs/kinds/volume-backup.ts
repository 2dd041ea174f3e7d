import { BACKUP_KINDS } from "../../contract/api.ts";
import type { Job } from "../../db/schema/index.ts";
import { JobFailed, type JobHandler } from "../orchestrator.ts";
import {
  applyVolumeRetention,
  archiveVolumeBackup,
  recoverInterruptedRestores,
  VolumeBackupFailed,
  type VolumeBackupKind,
  verifyVolumeBackup,
} from "../volume-backups.ts";
import { requireApp } from "./app-job.ts";

export interface VolumeBackupParams {
  volumes: string[];
  kind: VolumeBackupKind;
  /** Present: this destination (null: the data dir); absent: the app's schedule's. */
  destinationId?: string | null;
}

export function volumeBackupParams(job: Job): VolumeBackupParams {
  const p = job.params as Partial<VolumeBackupParams>;
  const volumes = Array.isArray(p.volumes) ? p.volumes.filter((v): v is string => typeof v === "string") : [];
  const kind = (BACKUP_KINDS as readonly string[]).includes(p.kind ?? "") ? (p.kind as VolumeBackupKind) : "manual";
  return { volumes, kind, ...(p.destinationId !== undefined ? { destinationId: p.destinationId } : {}) };
}

/** Step names: one volume's archive and verify, or each volume's when a schedule backs up all of them. */
function stepsFor(volumes: string[]): { archive: (v: string) => string; verify: (v: string) => string; all: string[] } {
  const single = volumes.length <= 1;
  const archive = (v: string) => (single ? "archive" : `archive ${v}`);
  const verify = (v: string) => (single ? "verify" : `verify ${v}`);
  return { archive, verify, all: [...(single ? ["archive", "verify"] : volumes.flatMap((v) => [archive(v), verify(v)])), "retention"] };
}

/** Backups of an app's volumes: each archived, verified by an extraction compared with what was archived, then retention. */
export const volumeBackupHandler: JobHandler = {
  steps: (job) => stepsFor(volumeBackupParams(job).volumes).all,
  async run(ctx) {
    const app = requireApp(ctx);
    const params = volumeBackupParams(ctx.job);
    if (params.volumes.length === 0) throw new JobFailed("No volume to back up.");
    const steps = stepsFor(params.volumes);
    await recoverInterruptedRestores(ctx.services, app, (line) => ctx.log(line));
    const log = (line: string) => ctx.log(line);
    const options = {
      jobId: ctx.job.id,
      signal: ctx.signal,
      ...(params.destinationId !== undefined ? { destinationId: params.destinationId } : {}),
    };
    const done: Array<{ volume: string; backupId: string; sizeBytes: number | null }> = [];
    const failures: Array<{ volume: string; backupId: string; error: string }> = [];
    for (const volume of params.volumes) {
      try {
        const archived = await ctx.step(steps.archive(volume), () =>
          archiveVolumeBackup(ctx.services, app, volume, params.kind, log, options),
        );
        const backup = await ctx.step(steps.verify(volume), () =>
          verifyVolumeBackup(ctx.services, app, archived.backup, archived.store, log, ctx.signal),
        );
        done.push({ volume, backupId: backup.id, sizeBytes: backup.sizeBytes });
      } catch (error) {
        if (!(error instanceof VolumeBackupFailed)) throw error;
        failures.push({ volume, backupId: error.backup.id, error: error.message });
        // The next volume is still backed up; its steps were not reached for this one.
        if (params.volumes.length > 1) await ctx.skip(steps.verify(volume), "the archive failed").catch(() => {});
      }
    }
    await ctx.step("retention", async () => {
      for (const volume of params.volumes) await applyVolumeRetention(ctx.services, app, volume, log);
    });
    if (failures.length > 0) {
      const first = failures[0] as (typeof failures)[number];
      throw new JobFailed(
        failures.length === 1
          ? first.error
          : `${failures.length} volumes failed: ${failures.map((f) => `${f.volume}: ${f.error}`).join(" ")}`,
        {
          backupId: first.backupId,
          backups: done,
          failed: failures,
        },
      );
    }
    const [only] = done;
    return done.length === 1 && only ? { backupId: only.backupId, volume: only.volume, sizeBytes: only.sizeBytes } : { backups: done };
  },
};
