/**
 * Backups that count only once proven: dump (streamed through a sha256 to its destination), then a
 * restore of the stored file into a scratch database compared with the source at dump time. A
 * failure at either stage marks the backup red and publishes `backup.failed`.
 */
import { join } from "node:path";
import { type BackupStore, type DestinationConfig, DestinationError, openStore } from "../adapters/backups/destinations.ts";
import {
  countPostgres,
  dumpPostgres,
  restoreIntoScratch,
  restorePostgres,
  type TableCounts,
} from "../adapters/databases/backup-postgres.ts";
import {
  copyKeys,
  dumpRedis,
  type Keyspace,
  type RedisAddress,
  redisCountProblem,
  scratchDirFor,
  startScratchRedis,
  totalKeys,
} from "../adapters/databases/backup-redis.ts";
import { type EngineTarget, engineFor } from "../adapters/databases/engine.ts";
import { adminUrlOf } from "../adapters/databases/postgres.ts";
import {
  databasesUsingDestination,
  deleteBackupRow,
  deleteDestination,
  destinationSecret,
  findDestination,
  findDestinationByName,
  insertBackup,
  insertDestination,
  listBackups,
  setSchedule,
  updateBackup,
} from "../db/queries/backups.ts";
import { findDatabaseById, findDatabaseByName } from "../db/queries/databases.ts";
import { appsUsingDestination } from "../db/queries/volume-backups.ts";
import type { Backup, BackupDestination, DatabaseRow, Job } from "../db/schema/index.ts";
import { backupKey, backupsToPrune, countDifferences, isGood } from "../domain/backups.ts";
import { backupFailed as backupFailedMessage } from "../domain/notification-messages.ts";
import type { Services } from "../services.ts";
import { targetOf } from "./databases.ts";
import { notifySafely } from "./notify.ts";
import { isUniqueViolation } from "./store.ts";

export type BackupKind = Backup["kind"];
export type Log = (line: string) => void;

/** Where the backups of a database without a destination go: a directory in the data dir. */
export function defaultBackupDir(services: Pick<Services, "config">): string {
  return join(services.config.dataDir, "backups");
}

function scratchBase(services: Pick<Services, "config">): string {
  return join(services.config.dataDir, "tmp", "backups");
}

/** The store a backup goes to (or came from): its destination, or the data dir's backups directory. */
export function storeFor(services: Services, destination: BackupDestination | null): BackupStore {
  if (!destination) return openStore({ kind: "local", path: defaultBackupDir(services) }, null);
  return openStore(
    { ...destination.config, kind: destination.kind } as DestinationConfig,
    destinationSecret(services.masterKey, destination),
    scratchBase(services),
  );
}

/** The store a backup was written to: its destination, or the local one when it has none. */
export async function storeOfBackup(services: Services, backup: Backup): Promise<BackupStore> {
  const destination = backup.destinationId ? await findDestination(services.db, backup.destinationId) : null;
  if (backup.destinationId && !destination) throw new Error("The destination this backup was written to no longer exists.");
  return storeFor(services, destination);
}

/** The key a backup's file has at its destination (recorded in its details). */
export function keyOf(backup: Backup): string {
  const key = (backup.details as { key?: unknown } | null)?.key;
  if (typeof key !== "string") throw new Error("This backup has no stored file.");
  return key;
}

/** The secrets a backup job's log must never show: the password as typed and as it sits in a URL. */
export function secretsOf(target: EngineTarget): string[] {
  return [target.password, encodeURIComponent(target.password)].filter((s) => s.length >= 4);
}

export function redisAddress(target: EngineTarget): RedisAddress {
  const c = target.config;
  return {
    host: typeof c.host === "string" ? c.host : "127.0.0.1",
    port: Number(c.port),
    user: typeof c.user === "string" ? c.user : `sy_${target.name.replaceAll("-", "_")}`,
    password: target.password,
  };
}

async function fail(services: Services, backup: Backup, values: Partial<Backup>, error: string): Promise<Backup> {
  const row = (await updateBackup(services.db, backup.id, { ...values, error: error.slice(0, 2000), finishedAt: new Date() })) ?? backup;
  await services.events.publish({
    type: "backup.failed",
    backupId: backup.id,
    databaseId: backup.databaseId,
    database: backup.databaseName,
    kind: backup.kind,
    error: error.slice(0, 1000),
  });
  await notifySafely(
    services,
    backupFailedMessage({ database: backup.databaseName, kind: backup.kind, error, verification: values.status !== "failed" }),
    null,
  );
  return row;
}

export class BackupFailed extends Error {
  override name = "BackupFailed";
  constructor(
    message: string,
    readonly backup: Backup,
  ) {
    super(message);
  }
}

export interface BackupOptions {
  jobId?: string | null;
  signal?: AbortSignal;
}

/**
 * Backs up one app database now: dump → verify. Answers the backup row when it verified; throws
 * BackupFailed (with the row, already marked failed and announced) when it did not.
 */
export async function backupDatabase(
  services: Services,
  databaseId: string,
  kind: BackupKind,
  log: Log,
  options: BackupOptions = {},
): Promise<Backup> {
  const dumped = await dumpDatabase(services, databaseId, kind, log, options);
  return verifyBackup(services, dumped.backup, dumped.store, log, options.signal);
}

/** The first half of a backup: the dump, streamed to its destination and recorded (not yet verified). */
export async function dumpDatabase(
  services: Services,
  databaseId: string,
  kind: BackupKind,
  log: Log,
  options: BackupOptions = {},
): Promise<{ backup: Backup; store: BackupStore }> {
  const row = await findDatabaseById(services.db, databaseId);
  if (!row) throw new Error("The database no longer exists.");
  const destination = row.destinationId ? await findDestination(services.db, row.destinationId) : null;
  let backup = await insertBackup(services.db, {
    databaseId: row.id,
    databaseName: row.name,
    engine: row.engine,
    kind,
    destinationId: destination?.id ?? null,
    jobId: options.jobId ?? null,
  });
  const key = backupKey(row.name, backup.id, backup.startedAt, row.engine === "postgres" ? "dump" : "rdb");
  const where = destination ? `destination ${destination.name}` : "the data dir";
  const started = performance.now();
  try {
    const target = targetOf(services, row);
    const store = storeFor(services, destination);
    log(`Dumping ${row.engine} database ${row.name} to ${where} (${store.location(key)})…`);
    if (row.engine === "postgres") {
      const url = engineFor(services, "postgres").url(target);
      const { written, counts } = await dumpPostgres(url, (s) => store.write(key, s), options.signal);
      backup = await recordDump(services, backup, written, key, { tables: counts }, started);
      log(
        `Dumped ${written.sizeBytes} bytes (sha256 ${written.sha256}); ${Object.keys(counts).length} tables, ${sum(counts)} rows at dump time.`,
      );
    } else {
      const tmp = join(scratchBase(services), `${backup.id}.rdb`);
      const { written, before, after } = await dumpRedis(redisAddress(target), tmp, (s) => store.write(key, s), options.signal);
      const source = {
        keyspaceBefore: before,
        keyspaceAfter: after,
        note: "Redis cannot count inside a snapshot: the source was counted right before and right after it.",
      };
      backup = await recordDump(services, backup, written, key, source, started);
      log(`Snapshot of ${written.sizeBytes} bytes (sha256 ${written.sha256}); ${totalKeys(after)} keys.`);
    }
    return { backup, store };
  } catch (error) {
    const message = `The dump failed: ${(error as Error).message}`;
    log(message);
    await removeQuietly(services, destination, key);
    const values = { status: "failed" as const, verified: "failed" as const, durationMs: Math.round(performance.now() - started) };
    throw new BackupFailed(message, await fail(services, backup, values, message));
  }
}

function sum(counts: TableCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function recordDump(
  services: Services,
  backup: Backup,
  written: { location: string; sizeBytes: number; sha256: string },
  key: string,
  source: Record<string, unknown>,
  started: number,
): Promise<Backup> {
  return (
    (await updateBackup(services.db, backup.id, {
      status: "succeeded",
      location: written.location,
      sizeBytes: written.sizeBytes,
      sha256: written.sha256,
      durationMs: Math.round(performance.now() - started),
      details: { key, source },
    })) ?? backup
  );
}

async function removeQuietly(services: Services, destination: BackupDestination | null, key: string): Promise<void> {
  try {
    await storeFor(services, destination).remove(key);
  } catch {
    // Nothing was written, or the destination refuses everything: the row says what happened.
  }
}

/**
 * Restores the stored file (read back from the destination, its checksum checked on the way) into
 * a scratch database, compares it with the source at dump time, and drops the scratch.
 */
export async function verifyBackup(
  services: Services,
  backup: Backup,
  store: BackupStore,
  log: Log,
  signal?: AbortSignal,
): Promise<Backup> {
  const started = performance.now();
  const details = (backup.details ?? {}) as { key: string; source: Record<string, unknown> };
  log("Verifying: restoring the stored file into a scratch database…");
  try {
    let check: Record<string, unknown>;
    let problems: string[];
    if (backup.engine === "postgres") {
      const adminUrl = adminUrlOf(services.config);
      if (!adminUrl) throw new Error("No PostgreSQL admin connection to make a scratch database with (SWITCHYARD_DATABASE_ADMIN_URL).");
      const restored = await restoreIntoScratch(adminUrl, store.read(details.key), backup.sha256, signal);
      problems = countDifferences(details.source.tables as TableCounts, restored);
      check = { tables: restored };
    } else {
      const scratch = await startScratchRedis(scratchDirFor(scratchBase(services)), store.read(details.key), backup.sha256);
      let restored: Keyspace;
      try {
        restored = await scratch.keyspace();
      } finally {
        await scratch.stop();
      }
      const problem = redisCountProblem(details.source.keyspaceBefore as Keyspace, details.source.keyspaceAfter as Keyspace, restored);
      problems = problem ? [problem] : [];
      check = { keyspace: restored, keys: totalKeys(restored) };
    }
    const verifyMs = Math.round(performance.now() - started);
    if (problems.length > 0) {
      const message = `The restore did not match the source: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ""}.`;
      log(message);
      const row = await fail(services, backup, { verified: "failed", verifyMs, details: { ...details, restored: check } }, message);
      throw new BackupFailed(message, row);
    }
    log(`Verified in ${verifyMs} ms: the restore matches the source at dump time.`);
    return (
      (await updateBackup(services.db, backup.id, {
        verified: "verified",
        verifyMs,
        details: { ...details, restored: check },
        finishedAt: new Date(),
      })) ?? backup
    );
  } catch (error) {
    if (error instanceof BackupFailed) throw error;
    const message = `The verification restore failed: ${(error as Error).message}`;
    log(message);
    throw new BackupFailed(
      message,
      await fail(services, backup, { verified: "failed", verifyMs: Math.round(performance.now() - started) }, message),
    );
  }
}

/**
 * Removes backups retention gave up, each its stored file first and then its row; one that cannot be
 * removed is logged and kept for the next pass. Returns how many went.
 */
export async function removeBackups(services: Services, doomed: Backup[], log: Log): Promise<number> {
  let removed = 0;
  for (const b of doomed) {
    try {
      if ((b.details as { key?: unknown } | null)?.key) await (await storeOfBackup(services, b)).remove(keyOf(b));
      await deleteBackupRow(services.db, b.id);
      removed++;
    } catch (error) {
      log(`Could not remove backup ${b.id} (${b.location ?? "no file"}): ${(error as Error).message}`);
    }
  }
  return removed;
}

/** Retention for one database: by count and by age, never the newest good backup. */
export async function applyRetention(services: Services, database: DatabaseRow, log: Log): Promise<number> {
  const all = await listBackups(services.db, database.id, 10_000);
  const removed = await removeBackups(services, backupsToPrune(all, database.keepCount, database.keepDays, new Date()), log);
  if (removed > 0)
    log(`Retention (keep ${database.keepCount}, ${database.keepDays} days): removed ${removed} older backup${removed === 1 ? "" : "s"}.`);
  return removed;
}

/** The stream of a backup's stored file. */
export async function readBackup(services: Services, backup: Backup): Promise<ReadableStream<Uint8Array>> {
  return (await storeOfBackup(services, backup)).read(keyOf(backup));
}

/**
 * Restores a backup into the database `target` (the same one, or a new one made for it). Postgres:
 * pg_restore --clean in one transaction; Redis: the keys of a scratch server loaded from the RDB
 * replace the instance's. Then the result is checked against the counts recorded at dump time.
 */
export async function restoreInto(
  services: Services,
  backup: Backup,
  into: DatabaseRow,
  log: Log,
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  const store = await storeOfBackup(services, backup);
  const key = keyOf(backup);
  const target = targetOf(services, into);
  const details = (backup.details ?? {}) as { source?: Record<string, unknown> };
  if (backup.engine === "postgres") {
    const url = engineFor(services, "postgres").url(target);
    log(`pg_restore --clean into ${into.name} (one transaction: it applies whole or not at all)…`);
    await restorePostgres(url, store.read(key), { clean: true, sha256: backup.sha256, ...(signal ? { signal } : {}) });
    const counts = await countPostgres(url);
    const problems = countDifferences((details.source?.tables ?? {}) as TableCounts, counts);
    if (problems.length > 0)
      throw new Error(`After the restore, ${into.name} does not match the backup: ${problems.slice(0, 5).join("; ")}`);
    log(`Restored: ${Object.keys(counts).length} tables, ${sum(counts)} rows, as in the backup.`);
    return { tables: counts };
  }
  const scratch = await startScratchRedis(scratchDirFor(scratchBase(services)), store.read(key), backup.sha256);
  try {
    const expected = await scratch.keyspace();
    log(`Loaded the snapshot (${totalKeys(expected)} keys) into a scratch server; copying its keys into ${into.name}…`);
    const after = await copyKeys(scratch, redisAddress(target), log);
    if (totalKeys(after) !== totalKeys(expected))
      throw new Error(`After the restore, ${into.name} has ${totalKeys(after)} keys; the backup has ${totalKeys(expected)}`);
    log(`Restored: ${totalKeys(after)} keys, as in the backup.`);
    return { keyspace: after };
  } finally {
    await scratch.stop();
  }
}

export interface DestinationInput {
  name: string;
  kind: "local" | "s3";
  path?: string | undefined;
  endpoint?: string | undefined;
  bucket?: string | undefined;
  prefix?: string | undefined;
  region?: string | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
}

/** A destination refused at creation: `field` is the request field to fix (400), or a conflict (409). */
export class DestinationRefused extends Error {
  override name = "DestinationRefused";
  constructor(
    readonly status: 400 | 409,
    readonly code: string,
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/**
 * Checks a destination by writing, reading back and deleting a small object, then records it with
 * its keys encrypted. Nothing is recorded when the check fails.
 */
export async function createDestination(services: Services, input: DestinationInput): Promise<BackupDestination> {
  if (await findDestinationByName(services.db, input.name)) {
    throw new DestinationRefused(409, "destination_exists", `A destination named ${input.name} already exists.`, "name");
  }
  const config: Record<string, string> =
    input.kind === "local"
      ? { path: input.path as string }
      : {
          endpoint: input.endpoint as string,
          bucket: input.bucket as string,
          prefix: input.prefix ?? "",
          region: input.region || "us-east-1",
        };
  const secret =
    input.kind === "s3" ? { accessKeyId: input.accessKeyId as string, secretAccessKey: input.secretAccessKey as string } : null;
  try {
    await openStore({ ...config, kind: input.kind } as DestinationConfig, secret).probe();
  } catch (error) {
    if (error instanceof DestinationError) throw new DestinationRefused(400, "destination_unusable", error.message, error.field);
    throw error;
  }
  try {
    return await insertDestination(services.db, services.masterKey, {
      id: crypto.randomUUID(),
      name: input.name,
      kind: input.kind,
      config,
      secret,
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw new DestinationRefused(409, "destination_exists", `A destination named ${input.name} already exists.`, "name");
    throw error;
  }
}

/** Removes a destination no database's schedule uses; its backups' rows stay (their files are left where they are). */
export async function removeDestination(services: Services, id: string): Promise<boolean> {
  const users = [...(await databasesUsingDestination(services.db, id)), ...(await appsUsingDestination(services.db, id))];
  if (users.length > 0) {
    throw new DestinationRefused(
      409,
      "destination_in_use",
      `The backups of ${users.join(", ")} go to this destination; change their schedule first.`,
      "id",
    );
  }
  return deleteDestination(services.db, id);
}

/** Queues a backup of the database now. */
export async function queueBackup(
  services: Services,
  database: DatabaseRow,
  actor: { userId?: string | null; label?: string },
): Promise<Job> {
  if (database.status !== "ready")
    throw new DestinationRefused(409, "database_not_ready", `Database ${database.name} is ${database.status}.`, "db");
  return services.orchestrator.enqueue({
    kind: "db-backup",
    appId: null,
    databaseId: database.id,
    params: { kind: "manual" },
    createdBy: actor.userId ?? null,
    ...(actor.label ? { trigger: actor.label } : {}),
  });
}

/** Queues a restore of one of the database's verified backups, into it or into a new database. */
export async function queueRestore(
  services: Services,
  database: DatabaseRow,
  backup: Backup,
  params: { target: "same" | "new"; name?: string | undefined },
  actor: { userId?: string | null; label?: string },
): Promise<Job> {
  if (database.status !== "ready")
    throw new DestinationRefused(409, "database_not_ready", `Database ${database.name} is ${database.status}.`, "db");
  if (!isGood(backup))
    throw new DestinationRefused(409, "backup_not_verified", "Only a backup that finished and verified can be restored.", "id");
  if (params.target === "new") {
    if (!params.name) throw new DestinationRefused(400, "validation_failed", "name is required for a restore into a new database.", "name");
    if (await findDatabaseByName(services.db, params.name)) {
      throw new DestinationRefused(409, "database_exists", `A database named ${params.name} already exists.`, "name");
    }
    const availability = await engineFor(services, database.engine).availability();
    if (!availability.available)
      throw new DestinationRefused(409, "engine_unavailable", availability.reason ?? `${database.engine} is not available.`, "name");
  }
  return services.orchestrator.enqueue({
    kind: "db-restore",
    appId: null,
    databaseId: database.id,
    params: { backupId: backup.id, target: params.target, ...(params.name ? { name: params.name } : {}) },
    createdBy: actor.userId ?? null,
    ...(actor.label ? { trigger: actor.label } : {}),
  });
}

/** Sets the database's schedule; the destination must exist. */
export async function updateSchedule(
  services: Services,
  database: DatabaseRow,
  input: { cron: string | null; keep: number; keepDays: number; destination: string | null },
): Promise<DatabaseRow> {
  if (input.destination && !(await findDestination(services.db, input.destination))) {
    throw new DestinationRefused(400, "validation_failed", "destination: no backup destination has this id.", "destination");
  }
  const row = await setSchedule(services.db, database.id, {
    cron: input.cron,
    keepCount: input.keep,
    keepDays: input.keepDays,
    destinationId: input.destination,
  });
  if (!row) throw new DestinationRefused(409, "database_gone", "The database no longer exists.", "db");
  return row;
}
