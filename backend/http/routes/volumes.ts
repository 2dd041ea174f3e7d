import { z } from "zod";
import type * as contract from "../../contract/api.ts";
import { findBackup, findDestination, listDestinations } from "../../db/queries/backups.ts";
import { getVolumeSchedule, listVolumeBackups, setVolumeSchedule, type VolumeBackupSchedule } from "../../db/queries/volume-backups.ts";
import type { App } from "../../db/schema/index.ts";
import { isVolumeName } from "../../domain/volumes.ts";
import { knownVolumes, queueVolumeBackup, queueVolumeRestore, VolumeBackupRefused } from "../../jobs/volume-backups.ts";
import { removeVolume, VolumeNotFound, volumeReport } from "../../jobs/volumes.ts";
import type { Services } from "../../services.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams, readQuery } from "../context.ts";
import { backupJson, nextRun } from "../database-shapes.ts";
import { HttpError, notFound } from "../errors.ts";
import type { Router } from "../router.ts";
import { jobJson } from "../shapes.ts";
import { loadApp } from "./apps.ts";
import { retentionFields, withParsedCron } from "./backups.ts";

const nameParam = z.object({
  app: z.string(),
  name: z.string().refine(isVolumeName, "is not a volume name (see GET /apps/:app/volumes)"),
});

const restoreBody = z.object({
  backupId: z.uuid("must be the id of one of this volume's backups"),
  restart: z.boolean({ error: "must be true or false" }).optional(),
});

const backupBody = z.object({
  destinationId: z.uuid("must be a backup destination's id").nullable().optional(),
});

const scheduleBody = z
  .object({
    cron: z.string({ error: "must be a cron expression or null" }).max(200).nullable(),
    ...retentionFields,
    destinationId: z.uuid("must be a backup destination's id").nullable(),
  })
  .transform(withParsedCron);

const actor = (c: Context) => ({ userId: c.auth?.user.id ?? null, label: c.auth?.user.email ?? "api" });

function refused(error: unknown): never {
  if (error instanceof VolumeBackupRefused) {
    const message = error.status === 400 ? `${error.field}: ${error.message}` : error.message;
    throw new HttpError(error.status, error.code, message, {
      field: error.field,
      ...(error.status === 400 ? { issues: [{ path: error.field, message: error.message }] } : {}),
    });
  }
  throw error;
}

/** The named volume of the app (in its settings, or a directory left from one taken out of them); 404 otherwise. */
function loadVolume(c: Context, app: App): string {
  const { name } = readParams(c, nameParam);
  if (!knownVolumes(c.services, app).includes(name)) throw notFound(`Volume ${name} of ${app.name}`);
  return name;
}

function scheduleJson(s: VolumeBackupSchedule): contract.VolumeBackupSchedule {
  return { cron: s.cron, keep: s.keep, keepDays: s.keepDays, destinationId: s.destinationId, next: nextRun(s.cron) };
}

async function destinationsById(services: Services) {
  return new Map((await listDestinations(services.db)).map((d) => [d.id, d]));
}

export function volumeRoutes(r: Router): void {
  /** A volume's backups, newest first (each good once verified). */
  r.get("/api/v1/apps/:app/volumes/:name/backups", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const name = loadVolume(c, app);
    const [rows, destinations] = await Promise.all([listVolumeBackups(c.services.db, app.id, name), destinationsById(c.services)]);
    return Response.json({ backups: rows.map((b) => backupJson(b, destinations)) });
  });

  r.post("/api/v1/apps/:app/volumes/:name/backups", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const name = loadVolume(c, app);
    const body = await readJson(c, backupBody);
    const job = await queueVolumeBackup(c.services, app, name, body, actor(c)).catch(refused);
    await audit(c, "app.volume_backup", `app:${app.name}`, { volume: name, jobId: job.id });
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });

  /** Restores a verified backup into the volume (after a safety backup), then restarts the app blue-green unless `restart: false`. */
  r.post("/api/v1/apps/:app/volumes/:name/restore", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const name = loadVolume(c, app);
    const body = await readJson(c, restoreBody);
    const backup = await findBackup(c.services.db, body.backupId);
    if (backup?.engine !== "volume" || backup.appId !== app.id || backup.volume !== name) {
      throw new HttpError(404, "not_found", `backupId: volume ${name} of ${app.name} has no backup ${body.backupId}.`, {
        field: "backupId",
      });
    }
    const job = await queueVolumeRestore(c.services, app, name, backup, { restart: body.restart ?? true }, actor(c)).catch(refused);
    await audit(c, "app.volume_restore", `app:${app.name}`, { volume: name, backupId: backup.id, jobId: job.id });
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });

  /** The app's volume backup schedule and retention (all its volumes; off by default). */
  r.get("/api/v1/apps/:app/volume-backups/schedule", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    return Response.json({ schedule: scheduleJson(await getVolumeSchedule(c.services.db, app.id)) });
  });

  r.put("/api/v1/apps/:app/volume-backups/schedule", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const body = await readJson(c, scheduleBody);
    if (body.destinationId && !(await findDestination(c.services.db, body.destinationId))) {
      throw new HttpError(400, "validation_failed", "destinationId: no backup destination has this id.", {
        issues: [{ path: "destinationId", message: "no backup destination has this id" }],
      });
    }
    const saved = await setVolumeSchedule(c.services.db, app.id, body);
    await audit(c, "app.volume_backup_schedule", `app:${app.name}`, { cron: saved.cron, keep: saved.keep, keepDays: saved.keepDays });
    return Response.json({ schedule: scheduleJson(saved) });
  });

  r.get("/api/v1/apps/:app/volumes", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    return Response.json({ volumes: await volumeReport(c.services, app) });
  });

  // Out of the settings; its data stays unless `purge` is given (then deleted for good).
  r.delete("/api/v1/apps/:app/volumes/:name", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const { name } = readParams(c, nameParam);
    const { purge } = readQuery(
      c,
      z.object({
        purge: z
          .enum(["", "true", "false", "1", "0"], { error: "must be true or false" })
          .optional()
          .transform((v) => v === "" || v === "true" || v === "1"),
      }),
    );
    let saved: typeof app;
    try {
      saved = await removeVolume(c.services, app, name, { purge });
    } catch (error) {
      if (error instanceof VolumeNotFound) throw notFound(`Volume ${name} of ${app.name}`);
      throw error;
    }
    await audit(c, purge ? "app.volume_purged" : "app.volume_removed", `app:${app.name}`, { volume: name });
    return Response.json({ volumes: await volumeReport(c.services, saved) });
  });
}
