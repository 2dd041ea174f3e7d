import { totalmem } from "node:os";
import { eq, sql } from "drizzle-orm";
import type { BuildSettings } from "../../contract/api.ts";
import { readBuildSettings } from "../../domain/build-limits.ts";
import type { Db } from "../client.ts";
import { settings } from "../schema/index.ts";

const KEY = "builds";

/** The stored build settings over the defaults (the memory default depends on this machine's RAM). */
export async function getBuildSettings(db: Db): Promise<BuildSettings> {
  const [row] = await db.select().from(settings).where(eq(settings.key, KEY));
  return readBuildSettings(row?.value, totalmem());
}

export async function setBuildSettings(db: Db, change: Partial<BuildSettings>): Promise<BuildSettings> {
  const next = { ...(await getBuildSettings(db)), ...change };
  await db
    .insert(settings)
    .values({ key: KEY, value: next })
    .onConflictDoUpdate({ target: settings.key, set: { value: next, updatedAt: new Date() } });
  return next;
}

// --- Build slots -----------------------------------------------------------------------------------
// One `settings` row per slot (`build-slot:<n>`), taken with a conditional UPDATE: it excludes
// across panels on one Postgres and on PGlite's single connection alike, where session advisory
// locks would not. A lease names its job and runs out unless renewed, so a slot held by a panel
// that died comes free on its own; one held by a job that no longer runs is free at once.

const SLOT_PREFIX = "build-slot:";
/** A lease not renewed for this long belongs to a panel that is gone. */
export const BUILD_LEASE_SEC = 60;
const LEASE = sql.raw(`interval '${BUILD_LEASE_SEC} seconds'`);

export interface SlotHolder {
  slot: number;
  jobId: string;
  app: string | null;
}

function rows<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? [])) as T[];
}

const held = sql`(${settings.value} ->> 'jobId') is not null
  and (${settings.value} ->> 'until')::timestamptz >= now()
  and exists (select 1 from jobs j where j.id::text = ${settings.value} ->> 'jobId' and j.status = 'running')`;

/** The builds holding a slot now (any slot number, also ones above a lowered concurrency). */
export async function buildSlotHolders(db: Db): Promise<SlotHolder[]> {
  const found = rows<{ key: string; value: { jobId: string; app?: string | null } }>(
    await db.execute(sql`select ${settings.key} as key, ${settings.value} as value from ${settings}
      where ${settings.key} like ${`${SLOT_PREFIX}%`} and ${held} order by ${settings.updatedAt}`),
  );
  return found.map((r) => ({ slot: Number(r.key.slice(SLOT_PREFIX.length)), jobId: r.value.jobId, app: r.value.app ?? null }));
}

/** Takes slot `n` for the job when it is free (or already the job's); true when the job holds it now. */
export async function takeBuildSlot(db: Db, n: number, jobId: string, app: string | null): Promise<boolean> {
  const key = `${SLOT_PREFIX}${n}`;
  await db.insert(settings).values({ key, value: {} }).onConflictDoNothing();
  const taken = rows<{ key: string }>(
    await db.execute(sql`update ${settings}
      set value = jsonb_build_object('jobId', ${jobId}::text, 'app', ${app}::text, 'until', now() + ${LEASE}),
          updated_at = now()
      where ${settings.key} = ${key} and (${settings.value} ->> 'jobId' = ${jobId} or not (${held}))
      returning ${settings.key} as key`),
  );
  return taken.length === 1;
}

/** Keeps the job's lease alive; false when it was lost (taken over after it ran out). */
export async function renewBuildSlot(db: Db, n: number, jobId: string): Promise<boolean> {
  const renewed = rows<{ key: string }>(
    await db.execute(sql`update ${settings}
      set value = jsonb_set(${settings.value}, '{until}', to_jsonb(now() + ${LEASE}))
      where ${settings.key} = ${`${SLOT_PREFIX}${n}`} and ${settings.value} ->> 'jobId' = ${jobId}
      returning ${settings.key} as key`),
  );
  return renewed.length === 1;
}

export async function releaseBuildSlot(db: Db, n: number, jobId: string): Promise<void> {
  await db.execute(sql`update ${settings} set value = '{}'::jsonb, updated_at = now()
    where ${settings.key} = ${`${SLOT_PREFIX}${n}`} and ${settings.value} ->> 'jobId' = ${jobId}`);
}
