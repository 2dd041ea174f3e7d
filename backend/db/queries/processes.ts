import { and, asc, desc, eq, isNotNull, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type ProcessRow, processes, trafficSwitches } from "../schema/index.ts";

/** The app's formation rows, by type. */
export function formationRows(db: Db, appId: string): Promise<ProcessRow[]> {
  return db.select().from(processes).where(eq(processes.appId, appId)).orderBy(asc(processes.type));
}

/** Sets instance counts (one row per type; the others keep theirs). */
export async function setInstances(db: Db, appId: string, counts: Record<string, number>): Promise<ProcessRow[]> {
  const entries = Object.entries(counts);
  if (entries.length > 0) {
    await db
      .insert(processes)
      .values(entries.map(([type, instances]) => ({ appId, type, instances })))
      .onConflictDoUpdate({
        target: [processes.appId, processes.type],
        set: { instances: sql`excluded.instances`, updatedAt: new Date() },
      });
  }
  return formationRows(db, appId);
}

/** Marks a worker type stopped (or not) by hand; a type with no row gets one with one instance. */
export async function setStopped(db: Db, appId: string, type: string, stopped: boolean): Promise<void> {
  await db
    .insert(processes)
    .values({ appId, type, stopped })
    .onConflictDoUpdate({ target: [processes.appId, processes.type], set: { stopped, updatedAt: new Date() } });
}

export async function findProcessRow(db: Db, appId: string, type: string): Promise<ProcessRow | null> {
  const [row] = await db
    .select()
    .from(processes)
    .where(and(eq(processes.appId, appId), eq(processes.type, type)));
  return row ?? null;
}

/** The release that last took the app's traffic (a stop records no release), or null. */
export async function lastLiveReleaseId(db: Db, appId: string): Promise<string | null> {
  const [row] = await db
    .select({ releaseId: trafficSwitches.releaseId })
    .from(trafficSwitches)
    .where(and(eq(trafficSwitches.appId, appId), isNotNull(trafficSwitches.releaseId)))
    .orderBy(desc(trafficSwitches.at), desc(trafficSwitches.id))
    .limit(1);
  return row?.releaseId ?? null;
}
