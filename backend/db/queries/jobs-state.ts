import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type App, apps, type Job, jobs, type Slot, slots } from "../schema/index.ts";

export function allApps(db: Db): Promise<App[]> {
  return db.select().from(apps);
}

export function allSlots(db: Db): Promise<Slot[]> {
  return db.select().from(slots);
}

/** Queued and running jobs. */
export function activeJobs(db: Db): Promise<Job[]> {
  return db
    .select()
    .from(jobs)
    .where(inArray(jobs.status, ["queued", "running"]));
}

/** Is a job of this app waiting to run? */
export async function hasQueuedJob(db: Db, appId: string): Promise<boolean> {
  const rows = await db
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.appId, appId), eq(jobs.status, "queued")))
    .limit(1);
  return rows.length > 0;
}
