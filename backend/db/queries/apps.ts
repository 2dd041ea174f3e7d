import { and, desc, eq, inArray } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type App, apps, type Environment, environments, type Release, releases, type Slot, slots } from "../schema/index.ts";

export async function findAppById(db: Db, id: string): Promise<App | null> {
  const [row] = await db.select().from(apps).where(eq(apps.id, id)).limit(1);
  return row ?? null;
}

export async function findAppByName(db: Db, name: string): Promise<App | null> {
  const [row] = await db.select().from(apps).where(eq(apps.name, name)).limit(1);
  return row ?? null;
}

export async function productionEnvironment(db: Db, appId: string): Promise<Environment> {
  const [row] = await db
    .select()
    .from(environments)
    .where(and(eq(environments.appId, appId), eq(environments.name, "production")))
    .limit(1);
  if (!row) throw new Error(`app ${appId} has no production environment`);
  return row;
}

export function appSlots(db: Db, appId: string): Promise<Slot[]> {
  return db.select().from(slots).where(eq(slots.appId, appId)).orderBy(slots.color);
}

export interface AppSummary extends App {
  slots: Slot[];
  liveColor: "blue" | "green" | null;
  currentRelease: Release | null;
}

/** Apps with their slots and live release, in two queries whatever the number of apps. */
export async function listAppSummaries(db: Db, only?: string[]): Promise<AppSummary[]> {
  const rows = await db
    .select()
    .from(apps)
    .where(only ? inArray(apps.id, only) : undefined)
    .orderBy(apps.name);
  if (rows.length === 0) return [];
  const ids = rows.map((a) => a.id);
  const slotRows = await db.select().from(slots).where(inArray(slots.appId, ids));
  const liveReleaseIds = slotRows.filter((s) => s.state === "live" && s.releaseId).map((s) => s.releaseId as string);
  const releaseRows = liveReleaseIds.length ? await db.select().from(releases).where(inArray(releases.id, liveReleaseIds)) : [];
  return rows.map((app) => {
    const own = slotRows.filter((s) => s.appId === app.id).sort((a, b) => a.color.localeCompare(b.color));
    const live = own.find((s) => s.state === "live") ?? null;
    return {
      ...app,
      slots: own,
      liveColor: live ? live.color : null,
      currentRelease: live?.releaseId ? (releaseRows.find((r) => r.id === live.releaseId) ?? null) : null,
    };
  });
}

export function listReleases(db: Db, appId: string, limit = 50): Promise<Release[]> {
  return db.select().from(releases).where(eq(releases.appId, appId)).orderBy(desc(releases.number)).limit(limit);
}
