import { and, asc, count, desc, eq, inArray, lt, sql } from "drizzle-orm";
import type { CronRunStatus, CronRunTrigger } from "../../contract/api.ts";
import type { Db } from "../client.ts";
import { apps, type CronJobRow, type CronRunRow, cronJobs, cronRuns } from "../schema/index.ts";

export type NewCronJob = Omit<typeof cronJobs.$inferInsert, "id" | "appId" | "createdAt" | "updatedAt">;

export async function listCronJobs(db: Db, appId: string): Promise<CronJobRow[]> {
  return db.select().from(cronJobs).where(eq(cronJobs.appId, appId)).orderBy(asc(cronJobs.createdAt), asc(cronJobs.name));
}

/** Every cron job with its app's name (the schedulers and timers work over all apps). */
export async function listAllCronJobs(db: Db): Promise<{ job: CronJobRow; app: string }[]> {
  return db
    .select({ job: cronJobs, app: apps.name })
    .from(cronJobs)
    .innerJoin(apps, eq(apps.id, cronJobs.appId))
    .orderBy(asc(cronJobs.createdAt));
}

export async function findCronJob(db: Db, appId: string, id: string): Promise<CronJobRow | null> {
  const [row] = await db
    .select()
    .from(cronJobs)
    .where(and(eq(cronJobs.appId, appId), eq(cronJobs.id, id)));
  return row ?? null;
}

export async function countCronJobs(db: Db, appId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(cronJobs).where(eq(cronJobs.appId, appId));
  return Number(row?.n ?? 0);
}

export async function insertCronJob(db: Db, appId: string, input: NewCronJob): Promise<CronJobRow> {
  const [row] = await db
    .insert(cronJobs)
    .values({ ...input, appId })
    .returning();
  if (!row) throw new Error("inserting the cron job returned no row");
  return row;
}

export async function updateCronJob(db: Db, id: string, changes: Partial<NewCronJob>): Promise<CronJobRow> {
  const [row] = await db
    .update(cronJobs)
    .set({ ...changes, updatedAt: new Date() })
    .where(eq(cronJobs.id, id))
    .returning();
  if (!row) throw new Error(`cron job ${id} is gone`);
  return row;
}

export async function deleteCronJob(db: Db, id: string): Promise<void> {
  await db.delete(cronJobs).where(eq(cronJobs.id, id));
}

/** The newest run of each of the jobs. */
export async function lastRuns(db: Db, jobIds: string[]): Promise<Map<string, CronRunRow>> {
  if (jobIds.length === 0) return new Map();
  const rows = await db
    .selectDistinctOn([cronRuns.cronJobId])
    .from(cronRuns)
    .where(inArray(cronRuns.cronJobId, jobIds))
    .orderBy(cronRuns.cronJobId, desc(cronRuns.createdAt));
  return new Map(rows.map((r) => [r.cronJobId, r]));
}

export async function listCronRuns(db: Db, jobId: string, page: { limit: number; before?: Date | undefined }): Promise<CronRunRow[]> {
  return db
    .select()
    .from(cronRuns)
    .where(and(eq(cronRuns.cronJobId, jobId), page.before ? lt(cronRuns.createdAt, page.before) : undefined))
    .orderBy(desc(cronRuns.createdAt), desc(cronRuns.id))
    .limit(page.limit);
}

export async function findCronRun(db: Db, jobId: string, runId: string): Promise<CronRunRow | null> {
  const [row] = await db
    .select()
    .from(cronRuns)
    .where(and(eq(cronRuns.cronJobId, jobId), eq(cronRuns.id, runId)));
  return row ?? null;
}

export interface CronRunValues {
  id: string;
  cronJobId: string;
  appId: string;
  trigger: CronRunTrigger;
  status: CronRunStatus;
  releaseId: string | null;
  dueAt: Date;
  startedAt?: Date | null;
  finishedAt?: Date | null;
  durationMs?: number | null;
  exitCode?: number | null;
  output?: string | null;
  message?: string | null;
}

/**
 * Claims a scheduled run: inserted only when no run of the job exists for that instant, under a
 * lock on the job, so of two panels firing the same schedule one runs it. Null when already taken.
 */
export async function claimScheduledRun(db: Db, values: CronRunValues, locking: boolean): Promise<CronRunRow | null> {
  return db.transaction(async (tx) => {
    if (locking) await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`cron:${values.cronJobId}`}))`);
    const [taken] = await tx
      .select({ id: cronRuns.id })
      .from(cronRuns)
      .where(and(eq(cronRuns.cronJobId, values.cronJobId), eq(cronRuns.trigger, "schedule"), eq(cronRuns.dueAt, values.dueAt)))
      .limit(1);
    if (taken) return null;
    const [row] = await tx.insert(cronRuns).values(values).returning();
    return row ?? null;
  });
}

/**
 * A run as its runner last reported it (a run a timer started is new here). A finished run is not
 * reopened, and a run of another job is never touched.
 */
export async function upsertCronRun(db: Db, values: CronRunValues): Promise<void> {
  const { id, cronJobId, appId, trigger, dueAt, ...state } = values;
  await db
    .insert(cronRuns)
    .values(values)
    .onConflictDoUpdate({
      target: cronRuns.id,
      set: state,
      // Only a run of this job: a result file never reaches another job's (or app's) run.
      setWhere: and(inArray(cronRuns.status, ["queued", "running"]), eq(cronRuns.cronJobId, cronJobId), eq(cronRuns.appId, appId)),
    });
}

export async function insertCronRun(db: Db, values: CronRunValues): Promise<CronRunRow> {
  const [row] = await db.insert(cronRuns).values(values).returning();
  if (!row) throw new Error("inserting the cron run returned no row");
  return row;
}

/** Runs still queued or running, with their app's name. */
export async function unfinishedCronRuns(db: Db): Promise<{ run: CronRunRow; app: string }[]> {
  return db
    .select({ run: cronRuns, app: apps.name })
    .from(cronRuns)
    .innerJoin(apps, eq(apps.id, cronRuns.appId))
    .where(inArray(cronRuns.status, ["queued", "running"]));
}

export async function markCronRun(db: Db, id: string, status: CronRunStatus, message: string): Promise<void> {
  await db
    .update(cronRuns)
    .set({ status, message, finishedAt: new Date() })
    .where(and(eq(cronRuns.id, id), inArray(cronRuns.status, ["queued", "running"])));
}

/** Whether a run of the job is queued or running now. */
export async function cronJobBusy(db: Db, jobId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: cronRuns.id })
    .from(cronRuns)
    .where(and(eq(cronRuns.cronJobId, jobId), inArray(cronRuns.status, ["queued", "running"])))
    .limit(1);
  return row !== undefined;
}

/** Keeps each job's newest `keep` runs, none older than `days`; answers how many were removed. */
export async function pruneCronRuns(db: Db, keep = 100, days = 30): Promise<number> {
  const result = (await db.execute(sql`
    delete from cron_runs r
    using (
      select id, row_number() over (partition by cron_job_id order by created_at desc) as n
      from cron_runs
    ) ranked
    where r.id = ranked.id
      and (ranked.n > ${keep} or r.created_at < now() - make_interval(days => ${days}))
      and r.status not in ('queued', 'running')
    returning r.id
  `)) as unknown;
  const rows = Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? []);
  return rows.length;
}
