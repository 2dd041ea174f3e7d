import { z } from "zod";
import type * as contract from "../../contract/api.ts";
import { findBackup, listAllBackups, listBackups, listDestinations, listFailedBackups } from "../../db/queries/backups.ts";
import { findDatabaseByName } from "../../db/queries/databases.ts";
import type { BackupDestination, DatabaseRow } from "../../db/schema/index.ts";
import { APP_NAME_PATTERN } from "../../domain/apps.ts";
import { parseSchedule } from "../../domain/backups.ts";
import { createDestination, DestinationRefused, queueBackup, queueRestore, removeDestination, updateSchedule } from "../../jobs/backups.ts";
import { panelBackupRunning, startPanelBackup } from "../../jobs/panel-backup.ts";
import type { Services } from "../../services.ts";
import { type Context, readJson, readParams, readQuery } from "../context.ts";
import { backupJson, databaseJson } from "../database-shapes.ts";
import { HttpError, notFound } from "../errors.ts";
import type { Router } from "../router.ts";
import { jobJson } from "../shapes.ts";

const dbParam = z.object({ db: z.string().regex(APP_NAME_PATTERN, "is not a valid database name") });
const backupParams = dbParam.extend({ id: z.uuid("is not a backup id") });
const idParam = z.object({ id: z.uuid("is not a destination id") });
const NAME_RULE = "must be 2-40 characters: lowercase letters, digits and dashes, starting with a letter";

const restoreBody = z
  .object({
    target: z.enum(["same", "new"], { error: 'must be "same" or "new"' }),
    name: z.string().regex(APP_NAME_PATTERN, NAME_RULE).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.target === "new" && !b.name)
      ctx.addIssue({ code: "custom", path: ["name"], message: "is required for a restore into a new database" });
  });

/** How many backups and how many days a schedule keeps: databases' and volumes' alike. */
export const retentionFields = {
  keep: z
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(1000, "must be at most 1000"),
  keepDays: z
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(3650, "must be at most 3650"),
};

/** A schedule body with its cron read: blank means no schedule, anything else must parse. */
export function withParsedCron<T extends { cron: string | null }>(b: T, ctx: z.RefinementCtx<T>) {
  if (b.cron === null || b.cron.trim() === "") return { ...b, cron: null };
  const parsed = parseSchedule(b.cron);
  if (!parsed.ok) {
    ctx.addIssue({ code: "custom", path: ["cron"], message: parsed.message });
    return z.NEVER;
  }
  return { ...b, cron: parsed.cron };
}

const scheduleBody = z
  .object({
    cron: z.string().max(200).nullable(),
    ...retentionFields,
    destination: z.uuid("must be a backup destination's id").nullable(),
  })
  .transform(withParsedCron);

const text = (what: string, max = 500) =>
  z
    .string({ error: `${what} is required` })
    .trim()
    .min(1, "must not be empty")
    .max(max);
const destinationBody = z.discriminatedUnion(
  "kind",
  [
    z.object({
      kind: z.literal("local"),
      name: text("name", 80),
      path: text("path", 1000).refine((p) => p.startsWith("/"), "must be an absolute path"),
    }),
    z.object({
      kind: z.literal("s3"),
      name: text("name", 80),
      endpoint: text("endpoint").refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), "must be an http(s):// URL"),
      bucket: text("bucket", 63),
      prefix: z.string().max(500).optional(),
      region: z.string().max(64).optional(),
      accessKeyId: text("accessKeyId", 500),
      secretAccessKey: text("secretAccessKey", 1000),
    }),
  ],
  { error: 'kind must be "local" or "s3"' },
);

const actor = (c: Context) => ({ userId: c.auth?.user.id ?? null, label: c.auth?.user.email ?? "api" });

function refused(error: unknown): never {
  if (error instanceof DestinationRefused) {
    const message = error.status === 400 && !error.message.startsWith(error.field) ? `${error.field}: ${error.message}` : error.message;
    throw new HttpError(error.status, error.code, message, {
      field: error.field,
      ...(error.status === 400 ? { issues: [{ path: error.field, message: error.message }] } : {}),
    });
  }
  throw error;
}

async function loadDatabase(c: Context): Promise<DatabaseRow> {
  const { db } = readParams(c, dbParam);
  const database = await findDatabaseByName(c.services.db, db);
  if (!database) throw notFound(`Database ${db}`);
  return database;
}

export function destinationJson(d: BackupDestination): contract.BackupDestination {
  return { id: d.id, name: d.name, kind: d.kind, config: d.config, createdAt: d.createdAt.toISOString() };
}

async function destinationsById(services: Services): Promise<Map<string, BackupDestination>> {
  return new Map((await listDestinations(services.db)).map((d) => [d.id, d]));
}

/** Backups (made and proven), restores, schedules and destinations. */
export function backupRoutes(r: Router): void {
  r.get("/api/v1/databases/:db/backups", { auth: "viewer" }, async (c) => {
    const database = await loadDatabase(c);
    const [rows, destinations] = await Promise.all([listBackups(c.services.db, database.id), destinationsById(c.services)]);
    return Response.json({ backups: rows.map((b) => backupJson(b, destinations)) });
  });

  r.post("/api/v1/databases/:db/backups", { auth: "admin" }, async (c) => {
    const database = await loadDatabase(c);
    const job = await queueBackup(c.services, database, actor(c)).catch(refused);
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });

  r.post("/api/v1/databases/:db/backups/:id/restore", { auth: "admin" }, async (c) => {
    const { id } = readParams(c, backupParams);
    const database = await loadDatabase(c);
    const body = await readJson(c, restoreBody);
    const backup = await findBackup(c.services.db, id);
    if (!backup || backup.databaseId !== database.id) throw notFound("Backup");
    const job = await queueRestore(c.services, database, backup, body, actor(c)).catch(refused);
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });

  r.put("/api/v1/databases/:db/schedule", { auth: "admin" }, async (c) => {
    const database = await loadDatabase(c);
    const body = await readJson(c, scheduleBody);
    const row = await updateSchedule(c.services, database, body).catch(refused);
    return Response.json({
      schedule: databaseJson(row, { attachments: [], releaseRuns: new Map(), lastBackup: null, destinations: new Map() }).schedule,
    });
  });

  /** Every backup, newest first; `failed=1`: only those that failed or did not verify (the dashboard's red list). */
  r.get("/api/v1/backups", { auth: "viewer" }, async (c) => {
    const { failed, limit } = readQuery(
      c,
      z.object({ failed: z.enum(["0", "1"]).optional(), limit: z.coerce.number().int().min(1).max(500).optional() }),
    );
    const rows = failed === "1" ? await listFailedBackups(c.services.db, limit ?? 50) : await listAllBackups(c.services.db, limit ?? 200);
    const destinations = await destinationsById(c.services);
    return Response.json({ backups: rows.map((b) => backupJson(b, destinations)) });
  });

  r.get("/api/v1/backup-destinations", { auth: "admin" }, async (c) => {
    return Response.json({ destinations: (await listDestinations(c.services.db)).map(destinationJson) });
  });

  r.post("/api/v1/backup-destinations", { auth: "admin" }, async (c) => {
    const body = await readJson(c, destinationBody);
    const row = await createDestination(c.services, body).catch(refused);
    return Response.json({ destination: destinationJson(row) }, { status: 201 });
  });

  r.delete("/api/v1/backup-destinations/:id", { auth: "admin" }, async (c) => {
    const { id } = readParams(c, idParam);
    const removed = await removeDestination(c.services, id).catch(refused);
    if (!removed) throw notFound("Backup destination");
    return new Response(null, { status: 204 });
  });

  r.get("/api/v1/system/backups", { auth: "owner" }, async (c) => {
    const [rows, destinations] = await Promise.all([listBackups(c.services.db, null), destinationsById(c.services)]);
    return Response.json({ backups: rows.map((b) => backupJson(b, destinations)) });
  });

  /** Starts a backup of the panel's own database: 202 with its row (running); it ends verified or red (a backup.failed event). */
  r.post("/api/v1/system/backups", { auth: "owner" }, async (c) => {
    const { destination } = await readJson(c, z.object({ destination: z.uuid("must be a backup destination's id").nullable().optional() }));
    const destinations = await destinationsById(c.services);
    if (destination && !destinations.has(destination)) {
      throw new HttpError(400, "validation_failed", "destination: no backup destination has this id.", {
        issues: [{ path: "destination", message: "no backup destination has this id" }],
      });
    }
    if (panelBackupRunning(c.services))
      throw new HttpError(409, "backup_running", "A backup of the panel's database is already under way.");
    const backup = await startPanelBackup(c.services, destination ?? null, (line) => c.services.log.info("panel backup", { line }));
    return Response.json({ backup: backupJson(backup, destinations) }, { status: 202 });
  });
}
