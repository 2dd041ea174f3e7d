import { and, asc, desc, eq, gt, gte, inArray, lt } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type Job, type JobKind, type JobStep, jobLogs, jobSteps, jobs } from "../schema/index.ts";

export async function findJob(db: Db, id: string): Promise<Job | null> {
  const [job] = await db.select().from(jobs).where(eq(jobs.id, id));
  return job ?? null;
}

export function stepsOfJob(db: Db, jobId: string): Promise<JobStep[]> {
  return db.select().from(jobSteps).where(eq(jobSteps.jobId, jobId)).orderBy(asc(jobSteps.position));
}

const LINE = { seq: jobLogs.seq, step: jobLogs.step, stream: jobLogs.stream, line: jobLogs.line, at: jobLogs.at };

export interface LogLine {
  seq: number;
  step: string | null;
  stream: "stdout" | "stderr" | "system";
  line: string;
  at: Date;
}

/** Up to `limit` log lines after `after`, in order. */
export function logLinesAfter(db: Db, jobId: string, after: number, limit: number): Promise<LogLine[]> {
  return db
    .select({ seq: jobLogs.seq, step: jobLogs.step, stream: jobLogs.stream, line: jobLogs.line, at: jobLogs.at })
    .from(jobLogs)
    .where(and(eq(jobLogs.jobId, jobId), gt(jobLogs.seq, after)))
    .orderBy(asc(jobLogs.seq))
    .limit(limit);
}

/**
 * The newest `limit` lines before `before` (or the newest of all when null), returned in order,
 * and whether older lines exist before the first of them. Lines are numbered 1, 2, 3 …, so the
 * page is read as a range of seqs (cheap even on a table without planner statistics); a log with
 * gaps falls back to reading by order.
 */
export async function logLinesBefore(
  db: Db,
  jobId: string,
  before: number | null,
  limit: number,
): Promise<{ lines: LogLine[]; more: boolean }> {
  let end = before;
  if (end === null) {
    const [last] = await db.select({ seq: jobLogs.seq }).from(jobLogs).where(eq(jobLogs.jobId, jobId)).orderBy(desc(jobLogs.seq)).limit(1);
    end = (last?.seq ?? 0) + 1;
  }
  const from = end - limit - 1;
  const ranged = await db
    .select(LINE)
    .from(jobLogs)
    .where(and(eq(jobLogs.jobId, jobId), gte(jobLogs.seq, Math.max(1, from)), lt(jobLogs.seq, end)))
    .orderBy(asc(jobLogs.seq));
  if (ranged.length > limit) return { lines: ranged.slice(1), more: true };
  if (from < 1) return { lines: ranged, more: false };
  const rows = await db
    .select(LINE)
    .from(jobLogs)
    .where(and(eq(jobLogs.jobId, jobId), lt(jobLogs.seq, end)))
    .orderBy(desc(jobLogs.seq))
    .limit(limit + 1);
  const more = rows.length > limit;
  if (more) rows.pop();
  return { lines: rows.reverse(), more };
}

export function listJobs(db: Db, limit: number): Promise<Job[]> {
  return db.select().from(jobs).orderBy(desc(jobs.createdAt)).limit(limit);
}

export function listAppJobs(db: Db, appId: string, limit: number): Promise<Job[]> {
  return db.select().from(jobs).where(eq(jobs.appId, appId)).orderBy(desc(jobs.createdAt)).limit(limit);
}

export async function latestJobOfKind(db: Db, kind: JobKind): Promise<Job | null> {
  const [job] = await db.select().from(jobs).where(eq(jobs.kind, kind)).orderBy(desc(jobs.createdAt)).limit(1);
  return job ?? null;
}

/** The app's jobs that are queued or running. */
export async function activeAppJobIds(db: Db, appId: string): Promise<string[]> {
  const rows = await db
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.appId, appId), inArray(jobs.status, ["queued", "running"])));
  return rows.map((r) => r.id);
}
