import { and, desc, eq, inArray, like, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type App, apps, type Backup, backups, jobs, settings } from "../schema/index.ts";

/** An app's volume backup schedule and retention (kept in settings under `volume-backups:<app id>`). */
export interface VolumeBackupSchedule {
  /** Cron expression in UTC; null: on demand only (the default). */
  cron: string | null;
  keep: number;
  keepDays: number;
  destinationId: string | null;
  /** When the schedule was last set: the first run is judged from it. */
  setAt: string | null;
}

export const DEFAULT_VOLUME_SCHEDULE: VolumeBackupSchedule = { cron: null, keep: 7, keepDays: 30, destinationId: null, setAt: null };

const keyOf = (appId: string) => `volume-backups:${appId}`;

function scheduleOf(value: unknown): VolumeBackupSchedule {
  const v = (value ?? {}) as Partial<Record<keyof VolumeBackupSchedule, unknown>>;
  const int = (n: unknown, max: number, fallback: number) =>
    typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= max ? n : fallback;
  return {
    cron: typeof v.cron === "string" && v.cron ? v.cron : null,
    keep: int(v.keep, 1000, DEFAULT_VOLUME_SCHEDULE.keep),
    keepDays: int(v.keepDays, 3650, DEFAULT_VOLUME_SCHEDULE.keepDays),
    destinationId: typeof v.destinationId === "string" ? v.destinationId : null,
    setAt: typeof v.setAt === "string" ? v.setAt : null,
  };
}

export async function getVolumeSchedule(db: Db, appId: string): Promise<VolumeBackupSchedule> {
  const [row] = await db
    .select()
    .from(settings)
    .where(eq(settings.key, keyOf(appId)));
  return scheduleOf(row?.value);
}

export async function setVolumeSchedule(
  db: Db,
  appId: string,
  schedule: Omit<VolumeBackupSchedule, "setAt">,
): Promise<VolumeBackupSchedule> {
  const value = { ...schedule, setAt: new Date().toISOString() };
  await db
    .insert(settings)
    .values({ key: keyOf(appId), value })
    .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt: new Date() } });
  return value;
}

/** Apps with a volume backup schedule, each with when its last scheduled volume backup started. */
export async function scheduledVolumeApps(
  db: Db,
): Promise<Array<{ app: App; schedule: VolumeBackupSchedule; lastScheduled: Date | null }>> {
  const rows = await db.select().from(settings).where(like(settings.key, "volume-backups:%"));
  const out: Array<{ app: App; schedule: VolumeBackupSchedule; lastScheduled: Date | null }> = [];
  for (const row of rows) {
    const schedule = scheduleOf(row.value);
    if (!schedule.cron) continue;
    const [app] = await db
      .select()
      .from(apps)
      .where(eq(apps.id, row.key.slice("volume-backups:".length)));
    // The app was deleted: its schedule goes with it.
    if (!app) {
      await db.delete(settings).where(eq(settings.key, row.key));
      continue;
    }
    const [last] = await db
      .select({ at: sql<string | Date | null>`max(${backups.startedAt})` })
      .from(backups)
      .where(and(eq(backups.appId, app.id), eq(backups.engine, "volume"), eq(backups.kind, "scheduled")));
    out.push({ app, schedule, lastScheduled: last?.at ? new Date(last.at) : null });
  }
  return out;
}

export async function insertVolumeBackup(
  db: Db,
  input: Pick<Backup, "appId" | "volume" | "databaseName" | "kind" | "destinationId" | "jobId">,
): Promise<Backup> {
  const [row] = await db
    .insert(backups)
    .values({ ...input, databaseId: null, engine: "volume" })
    .returning();
  return row as Backup;
}

/** An app's volume backups (one volume's, when named), newest first. */
export async function listVolumeBackups(db: Db, appId: string, volume?: string, limit = 200): Promise<Backup[]> {
  return db
    .select()
    .from(backups)
    .where(and(eq(backups.appId, appId), eq(backups.engine, "volume"), volume === undefined ? undefined : eq(backups.volume, volume)))
    .orderBy(desc(backups.startedAt))
    .limit(limit);
}

/** Whether a volume backup or restore of the app is queued or running. */
export async function volumeJobPending(db: Db, appId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.appId, appId), inArray(jobs.kind, ["volume-backup", "volume-restore"]), inArray(jobs.status, ["queued", "running"])))
    .limit(1);
  return Boolean(row);
}

/** The apps whose volume backups go to the destination (their schedule names it), as "volumes of <app>". */
export async function appsUsingDestination(db: Db, id: string): Promise<string[]> {
  const rows = await db.select().from(settings).where(like(settings.key, "volume-backups:%"));
  const names: string[] = [];
  for (const row of rows) {
    if (scheduleOf(row.value).destinationId !== id) continue;
    const [app] = await db
      .select({ name: apps.name })
      .from(apps)
      .where(eq(apps.id, row.key.slice("volume-backups:".length)));
    if (app) names.push(`the volumes of ${app.name}`);
  }
  return names;
}
