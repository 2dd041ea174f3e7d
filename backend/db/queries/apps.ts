import { and, desc, eq, inArray, ne, sql } from "drizzle-orm";
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

/** Apps with their slots and live release, in one statement whatever the number of apps. */
export async function listAppSummaries(db: Db, only?: string[]): Promise<AppSummary[]> {
  if (only && only.length === 0) return [];
  const rows = await db
    .select({ app: apps, slot: slots, release: releases })
    .from(apps)
    .leftJoin(slots, eq(slots.appId, apps.id))
    .leftJoin(releases, and(eq(slots.state, "live"), eq(releases.id, slots.releaseId)))
    .where(only ? inArray(apps.id, only) : undefined)
    .orderBy(apps.name, slots.color);
  const summaries: AppSummary[] = [];
  let last: AppSummary | null = null;
  for (const row of rows) {
    if (last?.id !== row.app.id) {
      last = { ...row.app, slots: [], liveColor: null, currentRelease: null };
      summaries.push(last);
    }
    if (!row.slot) continue;
    last.slots.push(row.slot);
    if (row.slot.state === "live" && !last.liveColor) {
      last.liveColor = row.slot.color;
      last.currentRelease = row.release;
    }
  }
  return summaries;
}

/**
 * A value that changes whenever anything `listAppSummaries()` returns changes: the row version
 * (xmin, the transaction that wrote it) of every app, slot and live release it reads, in its
 * order. An update writes a new row version, an insert or a delete changes the list, so an
 * unchanged value means an unchanged listing. Cheaper than the listing: nothing but the versions
 * is sent.
 */
export async function appSummariesVersion(db: Db): Promise<string> {
  const rows = await db
    .select({
      version: sql<
        string | null
      >`string_agg(${apps}.xmin::text || '.' || coalesce(${slots}.xmin::text, '') || '.' || coalesce(${releases}.xmin::text, ''), ',' order by ${apps.name}, ${slots.color})`,
    })
    .from(apps)
    .leftJoin(slots, eq(slots.appId, apps.id))
    .leftJoin(releases, and(eq(slots.state, "live"), eq(releases.id, slots.releaseId)));
  return rows[0]?.version ?? "";
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
