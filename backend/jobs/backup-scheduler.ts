/**
 * Queues scheduled backups when they are due. One panel of several does it (an advisory lock);
 * whether a run is due is judged from the last scheduled backup in the database, so a restarted
 * panel neither repeats a run nor misses one it was down for (that one runs once, late).
 */
import { backupJobPending, failOrphanedBackups, scheduledDatabases, withSchedulerLock } from "../db/queries/backups.ts";
import { scheduleDue } from "../domain/backups.ts";
import type { Services } from "../services.ts";
import { queueDueVolumeBackups } from "./volume-backups.ts";

export const SCHEDULER_MS = 30_000;

/** One pass: queues a db-backup job for every database whose schedule is due. Answers how many. */
export async function queueDueBackups(services: Services, now = new Date()): Promise<number> {
  let queued = 0;
  const pass = async () => {
    for (const { database, lastScheduled } of await scheduledDatabases(services.db)) {
      if (!database.scheduleCron || !scheduleDue(database.scheduleCron, lastScheduled, database.updatedAt, now)) continue;
      // A backup (or restore) of it is already on its way: the next pass looks again.
      if (await backupJobPending(services.db, database.id)) continue;
      await services.orchestrator.enqueue({
        kind: "db-backup",
        appId: null,
        databaseId: database.id,
        params: { kind: "scheduled" },
        trigger: "schedule",
      });
      queued++;
    }
    // App volumes on a schedule of their own (per app), judged the same way.
    queued += await queueDueVolumeBackups(services, now);
  };
  // The embedded database has one panel by construction (and one connection: no lock to hold beside it).
  if (services.database.kind === "pglite") await pass();
  else await withSchedulerLock(services.db, pass);
  return queued;
}

const timers = new WeakMap<Services, ReturnType<typeof setInterval>>();

export function startBackupScheduler(services: Services, everyMs = SCHEDULER_MS): void {
  stopBackupScheduler(services);
  const tick = () => void queueDueBackups(services).catch((error: unknown) => services.log.warn("backup scheduler pass failed", { error }));
  // Backups a dead panel left running can never finish: red, with the reason.
  void failOrphanedBackups(services.db)
    .then((n) => n > 0 && services.log.warn("marked backups left running by a stopped panel as failed", { count: n }))
    .catch(() => {})
    .finally(tick);
  timers.set(services, setInterval(tick, everyMs));
}

export function stopBackupScheduler(services: Services): void {
  clearInterval(timers.get(services));
  timers.delete(services);
}
