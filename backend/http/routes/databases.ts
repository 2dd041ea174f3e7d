import { z } from "zod";
import { DATABASE_ENGINES } from "../../contract/api.ts";
import { findAppByName } from "../../db/queries/apps.ts";
import { lastBackups, listDestinations } from "../../db/queries/backups.ts";
import { findDatabaseByName, listAttachments, listDatabases } from "../../db/queries/databases.ts";
import { lastReleaseCommandRuns } from "../../db/queries/release-command.ts";
import type { DatabaseRow } from "../../db/schema/index.ts";
import { APP_NAME_PATTERN } from "../../domain/apps.ts";
import { validateEnvKey } from "../../domain/env.ts";
import {
  attachDatabase,
  createDatabase,
  credentialsOf,
  DatabaseRefused,
  defaultEnvVar,
  detachDatabase,
  engineAvailability,
  queueDatabaseJob,
} from "../../jobs/databases.ts";
import type { Services } from "../../services.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams } from "../context.ts";
import { databaseJson } from "../database-shapes.ts";
import { HttpError, notFound } from "../errors.ts";
import type { Router } from "../router.ts";
import { jobJson } from "../shapes.ts";

const NAME_RULE = "must be 2-40 characters: lowercase letters, digits and dashes, starting with a letter";
const dbParam = z.object({ db: z.string().regex(APP_NAME_PATTERN, "is not a valid database name") });

const createBody = z.object({
  name: z.string({ error: "name is required" }).regex(APP_NAME_PATTERN, NAME_RULE),
  engine: z.enum(DATABASE_ENGINES, { error: `must be one of ${DATABASE_ENGINES.join(", ")}` }),
});
const deleteBody = z.object({ confirm: z.string({ error: "confirm is required: the database's name" }) });
const appName = z.string({ error: "app is required" }).regex(APP_NAME_PATTERN, "is not a valid app name");
const attachBody = z.object({
  app: appName,
  envVar: z
    .string()
    .superRefine((key, ctx) => {
      const problem = validateEnvKey(key);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .optional(),
});
const detachBody = z.object({ app: appName });

const actor = (c: Context) => ({ userId: c.auth?.user.id ?? null, label: c.auth?.user.email ?? "api" });

/** The database's refusal as a response: 409 (with the field to change, when there is one). */
function refused(error: unknown): never {
  if (error instanceof DatabaseRefused) {
    throw new HttpError(409, error.code, error.message, error.field ? { field: error.field } : undefined);
  }
  throw error;
}

async function loadDatabase(c: Context): Promise<DatabaseRow> {
  const { db } = readParams(c, dbParam);
  const database = await findDatabaseByName(c.services.db, db);
  if (!database) throw notFound(`Database ${db}`);
  return database;
}

async function loadApp(c: Context, name: string) {
  const app = await findAppByName(c.services.db, name);
  if (!app) throw new HttpError(404, "not_found", `App ${name} not found.`, { field: "app" });
  return app;
}

async function summaries(services: Services, rows: DatabaseRow[]) {
  const ids = rows.map((d) => d.id);
  const attachments = await listAttachments(services.db, ids);
  const [releaseRuns, backups, destinations] = await Promise.all([
    lastReleaseCommandRuns(services.db, [...new Set(attachments.map((a) => a.appId))]),
    lastBackups(services.db, ids),
    listDestinations(services.db),
  ]);
  const byId = new Map(destinations.map((d) => [d.id, d]));
  return rows.map((d) => databaseJson(d, { attachments, releaseRuns, lastBackup: backups.get(d.id) ?? null, destinations: byId }));
}

export function databaseRoutes(r: Router): void {
  r.get("/api/v1/databases", { auth: "viewer" }, async (c) => {
    const [rows, engines] = await Promise.all([listDatabases(c.services.db), engineAvailability(c.services)]);
    return Response.json({ databases: await summaries(c.services, rows), engines });
  });

  r.post("/api/v1/databases", { auth: "admin" }, async (c) => {
    const body = await readJson(c, createBody);
    const { database, job } = await createDatabase(c.services, body, actor(c)).catch(refused);
    await audit(c, "database.created", `database:${database.name}`, { engine: database.engine, jobId: job.id });
    const [summary] = await summaries(c.services, [database]);
    return Response.json({ database: summary, job: jobJson(job) }, { status: 202 });
  });

  r.get("/api/v1/databases/:db", { auth: "viewer" }, async (c) => {
    const database = await loadDatabase(c);
    const [summary] = await summaries(c.services, [database]);
    return Response.json({ database: summary });
  });

  r.delete("/api/v1/databases/:db", { auth: "admin" }, async (c) => {
    const database = await loadDatabase(c);
    const body = await readJson(c, deleteBody);
    if (body.confirm !== database.name) {
      throw new HttpError(400, "confirmation_mismatch", `confirm: type the database's name exactly (${database.name}) to delete it.`, {
        issues: [{ path: "confirm", message: `must be ${database.name}` }],
      });
    }
    const job = await queueDatabaseJob(c.services, database, "db-delete", actor(c)).catch(refused);
    await audit(c, "database.deleted", `database:${database.name}`, { jobId: job.id });
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });

  r.post("/api/v1/databases/:db/attach", { auth: "admin" }, async (c) => {
    const database = await loadDatabase(c);
    const body = await readJson(c, attachBody);
    const app = await loadApp(c, body.app);
    const envVar = body.envVar ?? defaultEnvVar(database.engine);
    await attachDatabase(c.services, database, app, envVar).catch(refused);
    await audit(c, "database.attached", `database:${database.name}`, { app: app.name, envVar });
    return Response.json({
      attachment: { app: app.name, appId: app.id, envVar, releaseCommand: null },
      deploy: { suggested: true, app: app.name },
    });
  });

  r.post("/api/v1/databases/:db/detach", { auth: "admin" }, async (c) => {
    const database = await loadDatabase(c);
    const body = await readJson(c, detachBody);
    const app = await loadApp(c, body.app);
    const removed = await detachDatabase(c.services, database, app);
    if (!removed) throw new HttpError(404, "not_attached", `Database ${database.name} is not attached to ${app.name}.`, { field: "app" });
    await audit(c, "database.detached", `database:${database.name}`, { app: app.name, envVar: removed.envVar });
    return Response.json({ detached: { app: app.name, envVar: removed.envVar }, deploy: { suggested: true, app: app.name } });
  });

  r.post("/api/v1/databases/:db/credentials", { auth: "admin" }, async (c) => {
    const database = await loadDatabase(c);
    if (database.status !== "ready") refused(new DatabaseRefused("database_not_ready", `Database ${database.name} is ${database.status}.`));
    const credentials = credentialsOf(c.services, database);
    await audit(c, "database.credentials_revealed", `database:${database.name}`);
    return Response.json(credentials, { headers: { "cache-control": "no-store" } });
  });

  r.post("/api/v1/databases/:db/rotate", { auth: "admin" }, async (c) => {
    const database = await loadDatabase(c);
    const job = await queueDatabaseJob(c.services, database, "db-rotate", actor(c)).catch(refused);
    await audit(c, "database.rotate", `database:${database.name}`, { jobId: job.id });
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });
}
