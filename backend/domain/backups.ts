/** Pure decisions about backups: schedules, retention, file names, verification verdicts. */
import { Cron } from "croner";

/** A cron expression the scheduler accepts: five fields (minute precision) or a nickname, in UTC. */
export function parseSchedule(expression: string): { ok: true; cron: string } | { ok: false; message: string } {
  const cron = expression.trim().replace(/\s+/g, " ");
  if (!cron) return { ok: false, message: "must be a cron expression such as 0 3 * * * (daily at 03:00 UTC)" };
  try {
    const job = new Cron(cron, { timezone: "UTC", paused: true, mode: "5-part" });
    const next = job.nextRun(new Date());
    job.stop();
    if (!next) return { ok: false, message: "never matches a date" };
    return { ok: true, cron };
  } catch (error) {
    return { ok: false, message: `is not a valid cron expression (${(error as Error).message.replace(/^CronPattern: /, "")})` };
  }
}

/** The first run of `cron` strictly after `after`, or null. */
export function nextRun(cron: string, after: Date): Date | null {
  try {
    const job = new Cron(cron, { timezone: "UTC", paused: true, mode: "5-part" });
    const next = job.nextRun(after);
    job.stop();
    return next ?? null;
  } catch {
    return null;
  }
}

/**
 * Whether a scheduled backup is due now: the schedule's first run after the last scheduled backup
 * (or, before the first one, after the schedule was set) has come. A panel restarted after a run
 * sees that run's row and does not repeat it; runs missed while it was down make one catch-up run.
 */
export function scheduleDue(cron: string, lastScheduled: Date | null, scheduleSetAt: Date, now: Date): boolean {
  const base = lastScheduled && lastScheduled > scheduleSetAt ? lastScheduled : scheduleSetAt;
  const next = nextRun(cron, base);
  return next !== null && next.getTime() <= now.getTime();
}

export interface RetainedBackup {
  id: string;
  status: "running" | "succeeded" | "failed";
  verified: "pending" | "verified" | "failed";
  startedAt: Date;
}

/** A backup that finished and whose restore matched the source. */
export const isGood = (b: Pick<RetainedBackup, "status" | "verified">): boolean => b.status === "succeeded" && b.verified === "verified";

/**
 * Which backups retention removes: good ones beyond the newest `keepCount` or older than
 * `keepDays`, and failed ones older than `keepDays` (kept until then so they stay visible). The
 * newest good backup is never removed, whatever its age; running ones are never touched.
 */
export function backupsToPrune<T extends RetainedBackup>(all: T[], keepCount: number, keepDays: number, now: Date): T[] {
  const cutoff = now.getTime() - keepDays * 86_400_000;
  const newestFirst = [...all].sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime());
  const good = newestFirst.filter(isGood);
  const out: T[] = [];
  good.forEach((b, i) => {
    if (i === 0) return;
    if (i >= Math.max(1, keepCount) || b.startedAt.getTime() < cutoff) out.push(b);
  });
  for (const b of newestFirst) {
    if (b.status === "running" || isGood(b)) continue;
    if (b.startedAt.getTime() < cutoff) out.push(b);
  }
  return out;
}

/** The file's key at its destination: `<database>/<UTC time>-<id>.<ext>`. */
export function backupKey(databaseName: string, id: string, startedAt: Date, ext: string): string {
  const stamp = startedAt
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${databaseName}/${stamp}-${id.slice(0, 8)}.${ext}`;
}

/** Row counts compared, as sentences (empty: they match). */
export function countDifferences(expected: Record<string, number>, actual: Record<string, number>): string[] {
  const problems: string[] = [];
  for (const [table, n] of Object.entries(expected)) {
    if (!(table in actual)) problems.push(`table ${table} is missing`);
    else if (actual[table] !== n) problems.push(`table ${table} has ${actual[table]} rows, expected ${n}`);
  }
  for (const table of Object.keys(actual)) if (!(table in expected)) problems.push(`table ${table} was not in the source`);
  return problems;
}
