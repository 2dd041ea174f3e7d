/**
 * The panel's own database, backed up like an app database and proven the same way: PGlite through
 * its data-dir dump (verified by loading it into a fresh in-memory PGlite), PostgreSQL through
 * pg_dump (verified by a restore into a scratch database).
 */
import { join } from "node:path";
import { countPgliteDump, removeFile, streamToFile } from "../adapters/backups/panel.ts";
import { dumpPostgres, restoreIntoScratch, type TableCounts, withDatabase } from "../adapters/databases/backup-postgres.ts";
import { adminUrlOf } from "../adapters/databases/postgres.ts";
import { countPanelTables, currentDatabaseName, findDestination, insertBackup, updateBackup } from "../db/queries/backups.ts";
import type { Backup, BackupDestination } from "../db/schema/index.ts";
import { backupKey, countDifferences } from "../domain/backups.ts";
import { backupFailed as backupFailedMessage } from "../domain/notification-messages.ts";
import type { Services } from "../services.ts";
import { BackupFailed, type Log, storeFor } from "./backups.ts";
import { notifySafely } from "./notify.ts";

export const PANEL_BACKUP_NAME = "switchyard";

/** Per table, the restored count must lie between the counts taken before and after the dump. */
function rangeProblems(before: TableCounts, after: TableCounts, restored: TableCounts): string[] {
  const problems: string[] = [];
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const lo = Math.min(before[table] ?? 0, after[table] ?? 0);
    const hi = Math.max(before[table] ?? 0, after[table] ?? 0);
    const got = restored[table];
    if (got === undefined) problems.push(`table ${table} is missing`);
    else if (got < lo || got > hi) problems.push(`table ${table} has ${got} rows, expected ${lo === hi ? lo : `${lo} to ${hi}`}`);
  }
  return problems;
}

async function panelUrl(services: Services): Promise<string> {
  if (services.config.databaseUrl) return services.config.databaseUrl;
  const admin = adminUrlOf(services.config);
  if (!admin) throw new Error("The panel's database URL is not known (DATABASE_URL).");
  return withDatabase(admin, await currentDatabaseName(services.db));
}

/** Backs up the panel's database now and verifies it; throws BackupFailed (row marked, event sent) when it did not verify. */
export async function backupPanel(services: Services, destinationId: string | null, log: Log): Promise<Backup> {
  const { backup, destination } = await beginPanelBackup(services, destinationId);
  return finishPanelBackup(services, backup, destination, log);
}

const running = new WeakMap<Services, Promise<unknown>>();

/** Whether a backup of the panel's database is under way in this panel. */
export function panelBackupRunning(services: Services): boolean {
  return running.has(services);
}

/**
 * Starts a backup of the panel's database and answers its row (running) at once; the dump and the
 * verification go on in the background, ending red (with a backup.failed event) or verified.
 */
export function startPanelBackup(services: Services, destinationId: string | null, log: Log): Promise<Backup> {
  const started = Promise.withResolvers<Backup>();
  // Marked running before the first await, so two requests at once cannot both start one.
  const work = (async () => {
    const { backup, destination } = await beginPanelBackup(services, destinationId);
    started.resolve(backup);
    return finishPanelBackup(services, backup, destination, log);
  })()
    .catch((error: unknown) => {
      started.reject(error);
      if (!(error instanceof BackupFailed)) services.log.warn("panel backup failed", { error });
    })
    .finally(() => running.delete(services));
  running.set(services, work);
  return started.promise;
}

async function beginPanelBackup(services: Services, destinationId: string | null) {
  const destination = destinationId ? await findDestination(services.db, destinationId) : null;
  if (destinationId && !destination) throw new Error("No backup destination has this id.");
  const backup = await insertBackup(services.db, {
    databaseId: null,
    databaseName: PANEL_BACKUP_NAME,
    engine: "panel",
    kind: "manual",
    destinationId: destination?.id ?? null,
    jobId: null,
  });
  return { backup, destination };
}

async function finishPanelBackup(services: Services, first: Backup, destination: BackupDestination | null, log: Log): Promise<Backup> {
  let backup = first;
  const pglite = services.database.kind === "pglite";
  const key = backupKey(PANEL_BACKUP_NAME, backup.id, backup.startedAt, pglite ? "tar" : "dump");
  const store = storeFor(services, destination);
  const started = performance.now();
  const failWith = async (message: string, values: Partial<Backup>): Promise<never> => {
    log(message);
    const row =
      (await updateBackup(services.db, backup.id, { ...values, error: message.slice(0, 2000), finishedAt: new Date() })) ?? backup;
    await services.events.publish({
      type: "backup.failed",
      backupId: row.id,
      databaseId: null,
      database: PANEL_BACKUP_NAME,
      kind: row.kind,
      error: message.slice(0, 1000),
    });
    await notifySafely(
      services,
      backupFailedMessage({
        database: PANEL_BACKUP_NAME,
        kind: row.kind,
        error: message,
        verification: values.status !== "failed",
        panel: true,
      }),
      null,
    );
    throw new BackupFailed(message, row);
  };
  let source: { before: TableCounts; after: TableCounts };
  try {
    if (pglite) {
      const dump = services.database.dump;
      if (!dump) throw new Error("This database cannot dump itself.");
      const before = await countPanelTables(services.db);
      const blob = await dump();
      const written = await store.write(key, blob.stream());
      const after = await countPanelTables(services.db);
      source = { before, after };
      backup =
        (await updateBackup(services.db, backup.id, {
          status: "succeeded",
          location: written.location,
          sizeBytes: written.sizeBytes,
          sha256: written.sha256,
          durationMs: Math.round(performance.now() - started),
          details: { key, format: "pglite", source },
        })) ?? backup;
    } else {
      const { written, counts } = await dumpPostgres(await panelUrl(services), (s) => store.write(key, s));
      source = { before: counts, after: counts };
      backup =
        (await updateBackup(services.db, backup.id, {
          status: "succeeded",
          location: written.location,
          sizeBytes: written.sizeBytes,
          sha256: written.sha256,
          durationMs: Math.round(performance.now() - started),
          details: { key, format: "pg_dump", source: { tables: counts } },
        })) ?? backup;
    }
    log(`Dumped the panel's database: ${backup.sizeBytes} bytes to ${backup.location} (sha256 ${backup.sha256}).`);
  } catch (error) {
    return failWith(`The dump failed: ${(error as Error).message}`, {
      status: "failed",
      verified: "failed",
      durationMs: Math.round(performance.now() - started),
    });
  }
  const verifyStarted = performance.now();
  let restored: TableCounts;
  try {
    if (pglite) {
      const tmp = join(services.config.dataDir, "tmp", "backups", `${backup.id}.tar`);
      try {
        const back = await streamToFile(store.read(key), tmp);
        if (back.sha256 !== backup.sha256)
          throw new Error(`the stored file's checksum ${back.sha256} differs from the one recorded (${backup.sha256})`);
        restored = await countPgliteDump(tmp);
      } finally {
        removeFile(tmp);
      }
    } else {
      const admin = adminUrlOf(services.config);
      if (!admin) throw new Error("No PostgreSQL admin connection to make a scratch database with (SWITCHYARD_DATABASE_ADMIN_URL).");
      restored = await restoreIntoScratch(admin, store.read(key), backup.sha256);
    }
  } catch (error) {
    return failWith(`The verification restore failed: ${(error as Error).message}`, {
      verified: "failed",
      verifyMs: Math.round(performance.now() - verifyStarted),
    });
  }
  const verifyMs = Math.round(performance.now() - verifyStarted);
  const problems = pglite ? rangeProblems(source.before, source.after, restored) : countDifferences(source.before, restored);
  const details = { ...(backup.details ?? {}), restored: { tables: restored } };
  if (problems.length > 0) {
    return failWith(`The restore did not match the panel's database: ${problems.slice(0, 5).join("; ")}.`, {
      verified: "failed",
      verifyMs,
      details,
    });
  }
  log(`Verified in ${verifyMs} ms: ${Object.keys(restored).length} tables as in the panel's database.`);
  return (await updateBackup(services.db, backup.id, { verified: "verified", verifyMs, details, finishedAt: new Date() })) ?? backup;
}
