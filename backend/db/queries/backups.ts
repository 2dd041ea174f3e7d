import { and, desc, eq, inArray, isNotNull, isNull, or, sql } from "drizzle-orm";
import { decryptSecret, encryptSecret } from "../../domain/vault.ts";
import type { Db } from "../client.ts";
import { type Backup, type BackupDestination, backupDestinations, backups, type DatabaseRow, databases, jobs } from "../schema/index.ts";

/** The keys are bound to their destination row, so two rows' secrets cannot be swapped. */
const aad = (id: string) => `backup-destination:${id}`;

export interface S3Secret {
  accessKeyId: string;
  secretAccessKey: string;
}

export async function listDestinations(db: Db): Promise<BackupDestination[]> {
  return db.select().from(backupDestinations).orderBy(backupDestinations.name);
}

export async function findDestination(db: Db, id: string): Promise<BackupDestination | null> {
  const [row] = await db.select().from(backupDestinations).where(eq(backupDestinations.id, id));
  return row ?? null;
}

export async function findDestinationByName(db: Db, name: string): Promise<BackupDestination | null> {
  const [row] = await db.select().from(backupDestinations).where(eq(backupDestinations.name, name));
  return row ?? null;
}

export function destinationSecret(masterKey: Buffer, row: BackupDestination): S3Secret | null {
  return row.secret ? (JSON.parse(decryptSecret(masterKey, row.secret, aad(row.id))) as S3Secret) : null;
}

export async function insertDestination(
  db: Db,
  masterKey: Buffer,
  input: { id: string; name: string; kind: "local" | "s3"; config: Record<string, string>; secret: S3Secret | null },
): Promise<BackupDestination> {
  const [row] = await db
    .insert(backupDestinations)
    .values({
      id: input.id,
      name: input.name,
      kind: input.kind,
      config: input.config,
      secret: input.secret ? encryptSecret(masterKey, JSON.stringify(input.secret), aad(input.id)) : null,
    })
    .returning();
  return row as BackupDestination;
}

/** The databases whose backups go to the destination (their schedule names it). */
export async function databasesUsingDestination(db: Db, id: string): Promise<string[]> {
  const rows = await db.select({ name: databases.name }).from(databases).where(eq(databases.destinationId, id));
  return rows.map((r) => r.name);
}

export async function deleteDestination(db: Db, id: string): Promise<boolean> {
  const rows = await db.delete(backupDestinations).where(eq(backupDestinations.id, id)).returning({ id: backupDestinations.id });
  return rows.length > 0;
}

export async function insertBackup(
  db: Db,
  input: Pick<Backup, "databaseId" | "databaseName" | "engine" | "kind" | "destinationId" | "jobId">,
): Promise<Backup> {
  const [row] = await db.insert(backups).values(input).returning();
  return row as Backup;
}

export async function updateBackup(db: Db, id: string, values: Partial<Omit<Backup, "id">>): Promise<Backup | null> {
  const [row] = await db.update(backups).set(values).where(eq(backups.id, id)).returning();
  return row ?? null;
}

export async function findBackup(db: Db, id: string): Promise<Backup | null> {
  const [row] = await db.select().from(backups).where(eq(backups.id, id));
  return row ?? null;
}

/** A database's backups (null: the panel's own), newest first. */
export async function listBackups(db: Db, databaseId: string | null, limit = 200): Promise<Backup[]> {
  return db
    .select()
    .from(backups)
    .where(databaseId ? eq(backups.databaseId, databaseId) : and(isNull(backups.databaseId), eq(backups.engine, "panel")))
    .orderBy(desc(backups.startedAt))
    .limit(limit);
}

/** Backups that failed or did not verify, newest first (the dashboard's red list). */
export async function listFailedBackups(db: Db, limit = 50): Promise<Backup[]> {
  return db
    .select()
    .from(backups)
    .where(or(eq(backups.status, "failed"), eq(backups.verified, "failed")))
    .orderBy(desc(backups.startedAt))
    .limit(limit);
}

/** Every backup of any database, newest first. */
export async function listAllBackups(db: Db, limit = 200): Promise<Backup[]> {
  return db.select().from(backups).orderBy(desc(backups.startedAt)).limit(limit);
}

/** The newest backup of each database given. */
export async function lastBackups(db: Db, databaseIds: string[]): Promise<Map<string, Backup>> {
  if (databaseIds.length === 0) return new Map();
  const rows = await db
    .selectDistinctOn([backups.databaseId])
    .from(backups)
    .where(inArray(backups.databaseId, databaseIds))
    .orderBy(backups.databaseId, desc(backups.startedAt));
  return new Map(rows.map((r) => [r.databaseId as string, r]));
}

export async function deleteBackupRow(db: Db, id: string): Promise<void> {
  await db.delete(backups).where(eq(backups.id, id));
}

export async function setSchedule(
  db: Db,
  databaseId: string,
  schedule: { cron: string | null; keepCount: number; keepDays: number; destinationId: string | null },
): Promise<DatabaseRow | null> {
  const [row] = await db
    .update(databases)
    .set({
      scheduleCron: schedule.cron,
      keepCount: schedule.keepCount,
      keepDays: schedule.keepDays,
      destinationId: schedule.destinationId,
      updatedAt: new Date(),
    })
    .where(eq(databases.id, databaseId))
    .returning();
  return row ?? null;
}

/** Databases with a schedule, each with when its last scheduled backup started. */
export async function scheduledDatabases(db: Db): Promise<Array<{ database: DatabaseRow; lastScheduled: Date | null }>> {
  const rows = await db
    .select({
      database: databases,
      lastScheduled: sql<
        string | Date | null
      >`(select max(b.started_at) from backups b where b.database_id = ${databases.id} and b.kind = 'scheduled')`,
    })
    .from(databases)
    .where(and(isNotNull(databases.scheduleCron), eq(databases.status, "ready")));
  return rows.map((r) => ({ database: r.database, lastScheduled: r.lastScheduled ? new Date(r.lastScheduled) : null }));
}

/** Backups left "running" by a panel that died mid-way (their job is no longer running). */
export async function failOrphanedBackups(db: Db): Promise<number> {
  const rows = await db
    .update(backups)
    .set({ status: "failed", verified: "failed", error: "The panel stopped while this backup was running.", finishedAt: new Date() })
    .where(
      and(
        eq(backups.status, "running"),
        sql`not exists (select 1 from jobs j where j.id = ${backups.jobId} and j.status in ('queued', 'running'))`,
      ),
    )
    .returning({ id: backups.id });
  return rows.length;
}

const SCHEDULER_LOCK = 0x5359_6273; // "SYbs"

/**
 * Runs `fn` while holding the backup scheduler's lock, so one panel of several queues scheduled
 * backups; false when another panel holds it. `fn` may use other connections (the lock stays held
 * until it returns).
 */
export async function withSchedulerLock(db: Db, fn: () => Promise<void>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const result = (await tx.execute(sql`select pg_try_advisory_xact_lock(${SCHEDULER_LOCK}) as held`)) as unknown;
    const rows = Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? []);
    if (!(rows[0] as { held?: boolean } | undefined)?.held) return false;
    await fn();
    return true;
  });
}

/** Whether a backup job of the database is queued or running. */
export async function backupJobPending(db: Db, databaseId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: jobs.id })
    .from(jobs)
    .where(
      and(
        eq(jobs.databaseId, databaseId),
        inArray(jobs.kind, ["db-backup", "db-restore", "db-delete"]),
        inArray(jobs.status, ["queued", "running"]),
      ),
    )
    .limit(1);
  return Boolean(row);
}

function resultRows<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? [])) as T[];
}

/** Exact row counts of every table of the panel's own database (for a check of its backup). */
export async function countPanelTables(db: Db): Promise<Record<string, number>> {
  const tables = resultRows<{ schema: string; name: string }>(
    await db.execute(sql`select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%' order by 1, 2`),
  );
  const counts: Record<string, number> = {};
  for (const t of tables) {
    const [row] = resultRows<{ n: string | number }>(
      await db.execute(sql`select count(*)::bigint as n from ${sql.identifier(t.schema)}.${sql.identifier(t.name)}`),
    );
    counts[`${t.schema}.${t.name}`] = Number(row?.n ?? 0);
  }
  return counts;
}

export async function currentDatabaseName(db: Db): Promise<string> {
  const [row] = resultRows<{ name: string }>(await db.execute(sql`select current_database() as name`));
  return row?.name ?? "postgres";
}
