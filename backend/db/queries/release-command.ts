import { and, desc, eq, inArray, isNotNull } from "drizzle-orm";
import type { ReleaseCommandRun } from "../../contract/api.ts";
import { releaseCommandOf } from "../../domain/release-command.ts";
import type { Db } from "../client.ts";
import { type App, jobLogs, jobSteps, jobs, type Release, releases, slots } from "../schema/index.ts";

/** The step both a deploy and a release-command job run the command in. */
const STEP = "release-command";
const OUTPUT_LINES = 200;
const RAN = ["running", "succeeded", "failed", "cancelled"] as const;

/** The release in the app's live slot, or null. */
export async function liveRelease(db: Db, appId: string): Promise<Release | null> {
  const [row] = await db
    .select({ release: releases })
    .from(slots)
    .innerJoin(releases, eq(releases.id, slots.releaseId))
    .where(and(eq(slots.appId, appId), eq(slots.state, "live")))
    .limit(1);
  return row?.release ?? null;
}

/**
 * Each app's last release-command run (apps that never ran one are absent): the newest
 * `release-command` step that ran, of a deploy or of a release-command job, with its log lines.
 */
export async function lastReleaseCommandRuns(db: Db, appIds: string[]): Promise<Map<string, ReleaseCommandRun>> {
  const runs = new Map<string, ReleaseCommandRun>();
  if (appIds.length === 0) return runs;
  const rows = await db
    .selectDistinctOn([jobs.appId], {
      appId: jobs.appId,
      jobId: jobSteps.jobId,
      status: jobSteps.status,
      startedAt: jobSteps.startedAt,
      finishedAt: jobSteps.finishedAt,
    })
    .from(jobSteps)
    .innerJoin(jobs, eq(jobs.id, jobSteps.jobId))
    // A step never reached is marked skipped or cancelled with no start: only started ones ran.
    .where(and(inArray(jobs.appId, appIds), eq(jobSteps.name, STEP), inArray(jobSteps.status, [...RAN]), isNotNull(jobSteps.startedAt)))
    .orderBy(jobs.appId, desc(jobSteps.startedAt), desc(jobs.createdAt));
  for (const row of rows) {
    if (!row.appId) continue;
    const lines = await db
      .select({ line: jobLogs.line })
      .from(jobLogs)
      .where(and(eq(jobLogs.jobId, row.jobId), eq(jobLogs.step, STEP)))
      .orderBy(desc(jobLogs.seq))
      .limit(OUTPUT_LINES);
    const at = row.finishedAt ?? (row.startedAt as Date);
    runs.set(row.appId, {
      status: row.status as ReleaseCommandRun["status"],
      jobId: row.jobId,
      at: at.toISOString(),
      output: lines.map((l) => l.line).reverse(),
    });
  }
  return runs;
}

/** One app's last release-command run, or null. */
export async function lastReleaseCommandRun(db: Db, appId: string): Promise<ReleaseCommandRun | null> {
  return (await lastReleaseCommandRuns(db, [appId])).get(appId) ?? null;
}

/** What `GET /apps/:app/release-command` shows, and what a run again needs: the command and the live release. */
export async function releaseCommandInfo(
  db: Db,
  app: App,
): Promise<{ command: string | null; live: Release | null; lastRun: ReleaseCommandRun | null }> {
  const [live, lastRun] = await Promise.all([liveRelease(db, app.id), lastReleaseCommandRun(db, app.id)]);
  return { command: releaseCommandOf(app.releaseCommand, live), live, lastRun };
}
