import { and, asc, desc, eq, gt, inArray } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type Job, type JobKind, type JobStep, jobLogs, jobSteps, jobs } from "../schema/index.ts";

export async function findJob(db: Db, id: string): Promise<Job | null> {
  const [job] = await db.select().from(jobs).where(eq(jobs.id, id));
  return job ?? null;
}

export function stepsOfJob(db: Db, jobId: string): Promise<JobStep[]> {
  return db.select().from(jobSteps).where(eq(jobSteps.jobId, jobId)).orderBy(asc(jobSteps.position));
}

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
