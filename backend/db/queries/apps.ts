import { and, desc, eq, inArray, ne } from "drizzle-orm";
import { DomainTakenError } from "../../domain/apps.ts";
import type { Db } from "../client.ts";
import { type App, apps, domains, type Environment, environments, type Release, releases, type Slot, slots } from "../schema/index.ts";
import { insertSlotPair } from "./ports.ts";

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

export type NewApp = Omit<typeof apps.$inferInsert, "id" | "status" | "createdAt" | "updatedAt">;
export type AppChanges = Partial<Omit<NewApp, "name">>;

/**
 * An app with its production environment and its two slots, in one transaction; the database
 * claims its domains in the same statement that writes `apps.domains` (a trigger fills the
 * `domains` table). The unique indexes on apps.name, domains.name and slots.port refuse a
 * concurrent duplicate (the caller turns that into a 409); the check before them only gives a
 * clearer message.
 */
export async function insertApp(db: Db, input: NewApp): Promise<App> {
  return db.transaction(async (t) => {
    const tx = t as unknown as Db;
    await assertDomainsFree(tx, input.domains ?? []);
    const [app] = await tx.insert(apps).values(input).returning();
    if (!app) throw new Error("app insert returned nothing");
    await tx.insert(environments).values({ appId: app.id, name: "production" });
    await insertSlotPair(tx, app.id);
    return app;
  });
}

/** Saves settings; new domains are claimed by the same statement, so two apps never hold one name. */
export async function updateApp(db: Db, appId: string, changes: AppChanges): Promise<App> {
  return db.transaction(async (t) => {
    const tx = t as unknown as Db;
    if (changes.domains) await assertDomainsFree(tx, changes.domains, appId);
    const [app] = await tx
      .update(apps)
      .set({ ...changes, updatedAt: new Date() })
      .where(eq(apps.id, appId))
      .returning();
    if (!app) throw new Error(`app ${appId} not found`);
    return app;
  });
}

export async function deleteAppRow(db: Db, appId: string): Promise<void> {
  await db.delete(apps).where(eq(apps.id, appId));
}

/** Which app holds each of these host names (other than `exceptAppId`). */
export function domainOwners(db: Db, names: string[], exceptAppId?: string): Promise<Array<{ name: string; app: string }>> {
  if (names.length === 0) return Promise.resolve([]);
  const owned = inArray(domains.name, names);
  return db
    .select({ name: domains.name, app: apps.name })
    .from(domains)
    .innerJoin(apps, eq(apps.id, domains.appId))
    .where(exceptAppId ? and(owned, ne(domains.appId, exceptAppId)) : owned)
    .orderBy(domains.name);
}

async function assertDomainsFree(db: Db, names: string[], exceptAppId?: string): Promise<void> {
  const [taken] = await domainOwners(db, names, exceptAppId);
  if (taken) throw new DomainTakenError(`${taken.name} already belongs to the app ${taken.app}.`);
}
