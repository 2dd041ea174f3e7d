/**
 * Every minute, each ready database's size and connection count, from one panel at a time (the
 * claim in claimDatabasesToPoll); and at start, every Redis instance running again. Both also
 * look at pending password rotations again (see database-rotation.ts).
 */
import { claimDatabasesToPoll, databasesWithStatus, failOrphanedDatabases, setDatabaseStats } from "../db/queries/databases.ts";
import type { Services } from "../services.ts";
import { settleRotations, watchRotations } from "./database-rotation.ts";
import { engineOf, targetOf } from "./databases.ts";

export const DATABASE_POLL_MS = 60_000;

/** Polls the databases due now; returns how many were polled here. */
export async function pollDatabaseStats(services: Services, intervalMs = DATABASE_POLL_MS): Promise<number> {
  const now = new Date();
  // A little early, so a poll that ran a few ms late last time is not skipped a whole round.
  const due = await claimDatabasesToPoll(services.db, new Date(now.getTime() - intervalMs * 0.8), now);
  for (const database of due) {
    try {
      const stats = await engineOf(services, database).stats(targetOf(services, database));
      await setDatabaseStats(services.db, database.id, stats, new Date());
    } catch (error) {
      services.log.warn("database stats failed", { database: database.name, error: (error as Error).message });
    }
  }
  // A deploy that ended while no panel listened (a restart) settles its rotation here.
  await settleRotations(services);
  return due.length;
}

/** Redis instances (child processes in local mode, units in server mode) running again after a restart. */
export async function ensureDatabasesRunning(services: Services): Promise<void> {
  for (const database of await failOrphanedDatabases(services.db)) {
    services.log.warn("a database job died with its panel; the database is marked failed", { database: database.name });
    await services.events.publish({ type: "database.updated", databaseId: database.id, database: database.name, status: "failed" });
  }
  for (const database of await databasesWithStatus(services.db, "ready")) {
    try {
      await engineOf(services, database).ensureRunning(targetOf(services, database));
    } catch (error) {
      services.log.warn("a database could not be started", { database: database.name, error: (error as Error).message });
    }
  }
  await settleRotations(services);
}

const timers = new WeakMap<Services, ReturnType<typeof setInterval>>();
const watchers = new WeakMap<Services, () => void>();

export function startDatabasePolling(services: Services, intervalMs = DATABASE_POLL_MS): void {
  stopDatabasePolling(services);
  watchers.set(services, watchRotations(services));
  const poll = () =>
    void pollDatabaseStats(services, intervalMs).catch((error: unknown) => services.log.warn("database poll failed", { error }));
  timers.set(services, setInterval(poll, intervalMs));
  poll();
}

export function stopDatabasePolling(services: Services): void {
  clearInterval(timers.get(services));
  timers.delete(services);
  watchers.get(services)?.();
  watchers.delete(services);
}
