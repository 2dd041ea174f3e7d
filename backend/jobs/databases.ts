/**
 * App databases: creating (a provision job), attaching to apps as a secret env var, revealing
 * credentials, and queueing rotation and deletion. The engines do the work on the servers.
 */
import { randomBytes } from "node:crypto";
import { type DatabaseEngine, type EngineTarget, engineFor } from "../adapters/databases/engine.ts";
import type { DatabaseCredentials, EngineAvailability, DatabaseEngine as EngineName } from "../contract/api.ts";
import { findAppById, productionEnvironment } from "../db/queries/apps.ts";
import {
  databasePassword,
  deleteAttachment,
  findDatabaseById,
  insertAttachment,
  insertDatabase,
  listAttachments,
  updateDatabase,
} from "../db/queries/databases.ts";
import { readEnvVars, replaceEnvVars } from "../db/queries/env.ts";
import { type App, DATABASE_ENGINES, type DatabaseRow, type Job } from "../db/schema/index.ts";
import { readRotation } from "../domain/database-rotation.ts";
import type { Services } from "../services.ts";
import type { Actor } from "./apps.ts";
import { settleRotation } from "./database-rotation.ts";
import { isUniqueViolation } from "./store.ts";

/** A refusal a client can fix: `field` names what to change; the route answers 409 (or 400 with a field). */
export class DatabaseRefused extends Error {
  override name = "DatabaseRefused";
  constructor(
    readonly code: string,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

/** A new random password: 32 bytes, URL-safe, so it goes into URLs and config files unquoted. */
export function newPassword(): string {
  return randomBytes(32).toString("base64url");
}

export function engineOf(services: Services, row: Pick<DatabaseRow, "engine">): DatabaseEngine {
  return engineFor(services, row.engine);
}

export function targetOf(services: Services, row: DatabaseRow, password = databasePassword(services.masterKey, row)): EngineTarget {
  return { name: row.name, config: row.config ?? {}, password };
}

export function defaultEnvVar(engine: EngineName): string {
  return engine === "postgres" ? "DATABASE_URL" : "REDIS_URL";
}

export async function engineAvailability(services: Services): Promise<EngineAvailability[]> {
  return Promise.all(DATABASE_ENGINES.map(async (engine) => ({ engine, ...(await engineFor(services, engine).availability()) })));
}

/** Records the database (provisioning) and queues its provision job. */
export async function createDatabase(
  services: Services,
  input: { name: string; engine: EngineName },
  actor: Actor,
): Promise<{ database: DatabaseRow; job: Job }> {
  const availability = await engineFor(services, input.engine).availability();
  if (!availability.available)
    throw new DatabaseRefused("engine_unavailable", availability.reason ?? `${input.engine} is not available here.`);
  let database: DatabaseRow;
  try {
    database = await insertDatabase(services.db, services.masterKey, { ...input, password: newPassword() });
  } catch (error) {
    if (isUniqueViolation(error)) throw new DatabaseRefused("database_exists", `A database named ${input.name} already exists.`, "name");
    throw error;
  }
  const job = await services.orchestrator.enqueue({
    kind: "db-provision",
    appId: null,
    databaseId: database.id,
    createdBy: actor.userId ?? null,
    ...(actor.label ? { trigger: actor.label } : {}),
  });
  await services.events.publish({ type: "database.updated", databaseId: database.id, database: database.name, status: database.status });
  return { database, job };
}

/** Sets (value) or removes (null) one secret variable of the app's environment, leaving the others as they are. */
export async function setAppSecret(services: Services, appId: string, key: string, value: string | null): Promise<void> {
  const environment = await productionEnvironment(services.db, appId);
  const current = await readEnvVars(services.db, services.masterKey, environment.id);
  const others = current.filter((v) => v.key !== key);
  const next = value === null ? others : [...others, { key, value, secret: true }];
  await replaceEnvVars(services.db, services.masterKey, environment.id, next);
}

/** Gives the app the database's URL as a secret env var; the next deploy applies it. */
export async function attachDatabase(services: Services, database: DatabaseRow, app: App, envVar: string): Promise<void> {
  if (database.status !== "ready") {
    throw new DatabaseRefused("database_not_ready", `Database ${database.name} is ${database.status}; attach it once it is ready.`);
  }
  const environment = await productionEnvironment(services.db, app.id);
  const current = await readEnvVars(services.db, services.masterKey, environment.id);
  if (current.some((v) => v.key === envVar)) {
    throw new DatabaseRefused("env_var_taken", `${app.name} already has a variable ${envVar}; choose another name with envVar.`, "envVar");
  }
  try {
    await insertAttachment(services.db, { databaseId: database.id, appId: app.id, envVar });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const attached = (await listAttachments(services.db, [database.id])).some((a) => a.appId === app.id);
    throw attached
      ? new DatabaseRefused("already_attached", `Database ${database.name} is already attached to ${app.name}.`, "app")
      : new DatabaseRefused("env_var_taken", `${app.name} already has a database in ${envVar}; choose another name with envVar.`, "envVar");
  }
  try {
    await setAppSecret(services, app.id, envVar, engineOf(services, database).url(targetOf(services, database)));
  } catch (error) {
    await deleteAttachment(services.db, database.id, app.id);
    throw error;
  }
  await services.events.publish({ type: "database.updated", databaseId: database.id, database: database.name, status: database.status });
}

/** Removes the attachment and its env var; null when the app was not attached. */
export async function detachDatabase(services: Services, database: DatabaseRow, app: App): Promise<{ envVar: string } | null> {
  const removed = await deleteAttachment(services.db, database.id, app.id);
  if (!removed) return null;
  await setAppSecret(services, app.id, removed.envVar, null);
  // A rotation waiting for this app (or flagged for its failed deploy) no longer does.
  if (readRotation(database.config)) await settleRotation(services, database.id);
  await services.events.publish({ type: "database.updated", databaseId: database.id, database: database.name, status: database.status });
  return { envVar: removed.envVar };
}

export function credentialsOf(services: Services, database: DatabaseRow): DatabaseCredentials {
  const engine = engineOf(services, database);
  const target = targetOf(services, database);
  const url = new URL(engine.url(target));
  const config = database.config ?? {};
  return {
    url: engine.url(target),
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port),
    user: decodeURIComponent(url.username) || null,
    password: target.password,
    database: typeof config.database === "string" ? config.database : null,
    cli: engine.cli(target),
  };
}

/** Queues a database job; refused while another job of the database is queued or running. */
export async function queueDatabaseJob(
  services: Services,
  database: DatabaseRow,
  kind: "db-rotate" | "db-delete",
  actor: Actor,
  params: Record<string, unknown> = {},
): Promise<Job> {
  if (database.status !== "ready" && !(kind === "db-delete" && database.status === "failed")) {
    throw new DatabaseRefused("database_not_ready", `Database ${database.name} is ${database.status}.`);
  }
  const rotation = kind === "db-rotate" ? readRotation(database.config) : null;
  if (rotation && rotation.state !== "needs-attention") {
    const waiting = rotation.apps.filter((a) => a.status === "waiting").map((a) => `${a.app} (job ${a.deployJobId})`);
    throw new DatabaseRefused(
      "rotation_pending",
      rotation.state === "waiting-for-deploys" && waiting.length > 0
        ? `A rotation of ${database.name} is waiting for the deploys of ${waiting.join(", ")}; the old password is dropped when they succeed. Rotate again after that.`
        : `A rotation of ${database.name} (job ${rotation.jobId}) is ${rotation.state}; rotate again once it has finished.`,
    );
  }
  if (kind === "db-delete") await updateDatabase(services.db, database.id, { status: "deleting" });
  const job = await services.orchestrator.enqueue({
    kind,
    appId: null,
    databaseId: database.id,
    // A delete that cannot keep its final backup puts the status back.
    params: { ...params, previousStatus: database.status },
    createdBy: actor.userId ?? null,
    ...(actor.label ? { trigger: actor.label } : {}),
  });
  await services.events.publish({
    type: "database.updated",
    databaseId: database.id,
    database: database.name,
    status: kind === "db-delete" ? "deleting" : database.status,
  });
  return job;
}

/** The database a db-* job is about (its row may be gone when a delete finished). */
export async function databaseOfJob(services: Services, job: Job): Promise<DatabaseRow | null> {
  return job.databaseId ? findDatabaseById(services.db, job.databaseId) : null;
}

export async function attachedApps(services: Services, databaseId: string): Promise<Array<{ app: App; envVar: string }>> {
  const out: Array<{ app: App; envVar: string }> = [];
  for (const a of await listAttachments(services.db, [databaseId])) {
    const app = await findAppById(services.db, a.appId);
    if (app) out.push({ app, envVar: a.envVar });
  }
  return out;
}
