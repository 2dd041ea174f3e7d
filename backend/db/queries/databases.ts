import { and, asc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import type { DatabaseEngine, DatabaseStatus } from "../../contract/api.ts";
import { decryptSecret, encryptSecret } from "../../domain/vault.ts";
import type { Db } from "../client.ts";
import { apps, type DatabaseRow, databaseAttachments, databases, jobs } from "../schema/index.ts";

/** The ciphertext is bound to its database, so passwords cannot be swapped between rows. */
const aad = (id: string) => `database:${id}`;

export async function listDatabases(db: Db): Promise<DatabaseRow[]> {
  return db.select().from(databases).orderBy(asc(databases.name));
}

export async function findDatabaseByName(db: Db, name: string): Promise<DatabaseRow | null> {
  const [row] = await db.select().from(databases).where(eq(databases.name, name));
  return row ?? null;
}

export async function findDatabaseById(db: Db, id: string): Promise<DatabaseRow | null> {
  const [row] = await db.select().from(databases).where(eq(databases.id, id));
  return row ?? null;
}

/** A new row in `provisioning` with its password encrypted; the unique name index refuses a taken name. */
export async function insertDatabase(
  db: Db,
  masterKey: Buffer,
  input: { name: string; engine: DatabaseEngine; password: string },
): Promise<DatabaseRow> {
  return db.transaction(async (tx) => {
    const [row] = await tx.insert(databases).values({ name: input.name, engine: input.engine, status: "provisioning" }).returning();
    const created = row as DatabaseRow;
    const [withPassword] = await tx
      .update(databases)
      .set({ password: encryptSecret(masterKey, input.password, aad(created.id)) })
      .where(eq(databases.id, created.id))
      .returning();
    return withPassword as DatabaseRow;
  });
}

export function databasePassword(masterKey: Buffer, row: DatabaseRow): string {
  if (!row.password) throw new Error(`database ${row.name} has no password`);
  return decryptSecret(masterKey, row.password, aad(row.id));
}

export async function updateDatabase(
  db: Db,
  id: string,
  values: { status?: DatabaseStatus; config?: Record<string, unknown> },
): Promise<DatabaseRow | null> {
  const [row] = await db
    .update(databases)
    .set({ ...values, updatedAt: new Date() })
    .where(eq(databases.id, id))
    .returning();
  return row ?? null;
}

export async function setDatabasePassword(db: Db, masterKey: Buffer, id: string, password: string): Promise<void> {
  await db
    .update(databases)
    .set({ password: encryptSecret(masterKey, password, aad(id)), updatedAt: new Date() })
    .where(eq(databases.id, id));
}

export async function setDatabaseStats(db: Db, id: string, stats: { sizeBytes: number; connections: number }, at: Date): Promise<void> {
  await db.update(databases).set({ sizeBytes: stats.sizeBytes, connections: stats.connections, polledAt: at }).where(eq(databases.id, id));
}

/**
 * Ready databases not polled since `before`, claimed by stamping `polled_at` in the same statement:
 * when two panels poll at once, each database goes to one of them.
 */
export async function claimDatabasesToPoll(db: Db, before: Date, now: Date): Promise<DatabaseRow[]> {
  return db
    .update(databases)
    .set({ polledAt: now })
    .where(and(eq(databases.status, "ready"), or(isNull(databases.polledAt), lt(databases.polledAt, before))))
    .returning();
}

export async function databasesWithStatus(db: Db, status: DatabaseStatus): Promise<DatabaseRow[]> {
  return db.select().from(databases).where(eq(databases.status, status)).orderBy(asc(databases.name));
}

export async function deleteDatabaseRow(db: Db, id: string): Promise<void> {
  await db.delete(databases).where(eq(databases.id, id));
}

export interface AttachmentRow {
  databaseId: string;
  appId: string;
  app: string;
  envVar: string;
}

export async function listAttachments(db: Db, databaseIds: string[]): Promise<AttachmentRow[]> {
  if (databaseIds.length === 0) return [];
  return db
    .select({
      databaseId: databaseAttachments.databaseId,
      appId: databaseAttachments.appId,
      app: apps.name,
      envVar: databaseAttachments.envVar,
    })
    .from(databaseAttachments)
    .innerJoin(apps, eq(apps.id, databaseAttachments.appId))
    .where(inArray(databaseAttachments.databaseId, databaseIds))
    .orderBy(asc(apps.name));
}

export async function insertAttachment(db: Db, input: { databaseId: string; appId: string; envVar: string }): Promise<void> {
  await db.insert(databaseAttachments).values(input);
}

export async function deleteAttachment(db: Db, databaseId: string, appId: string): Promise<AttachmentRow | null> {
  const [row] = await db
    .delete(databaseAttachments)
    .where(and(eq(databaseAttachments.databaseId, databaseId), eq(databaseAttachments.appId, appId)))
    .returning();
  return row ? { databaseId: row.databaseId, appId: row.appId, envVar: row.envVar, app: "" } : null;
}

/**
 * Databases left `provisioning` or `deleting` by a job that is no longer queued or running (its
 * panel died): marked failed, so they can be deleted (or the delete tried again).
 */
export async function failOrphanedDatabases(db: Db): Promise<DatabaseRow[]> {
  return db
    .update(databases)
    .set({ status: "failed", updatedAt: new Date() })
    .where(
      and(
        inArray(databases.status, ["provisioning", "deleting"]),
        sql`not exists (select 1 from ${jobs} j where j.database_id = ${databases.id} and j.status in ('queued', 'running'))`,
      ),
    )
    .returning();
}

/** The pending rotation kept in `config.rotation` (nothing secret: job ids, app names, states). */
export async function setRotationState(
  db: Db,
  id: string,
  rotation: Record<string, unknown>,
  /** Only when the stored rotation is this job's (null: only when none is stored). */
  ifJob?: string | null,
): Promise<DatabaseRow | null> {
  const guard =
    ifJob === undefined
      ? undefined
      : ifJob === null
        ? sql`not coalesce(${databases.config} ? 'rotation', false)`
        : sql`${databases.config}->'rotation'->>'jobId' = ${ifJob}`;
  const [row] = await db
    .update(databases)
    .set({
      config: sql`jsonb_set(coalesce(${databases.config}, '{}'::jsonb), '{rotation}', ${JSON.stringify(rotation)}::jsonb)`,
      updatedAt: new Date(),
    })
    .where(and(eq(databases.id, id), guard))
    .returning();
  return row ?? null;
}

/** Removes the pending rotation of `jobId`; false when another (or none) is stored. */
export async function clearRotationState(db: Db, id: string, jobId: string): Promise<boolean> {
  const rows = await db
    .update(databases)
    .set({ config: sql`${databases.config} - 'rotation'`, updatedAt: new Date() })
    .where(and(eq(databases.id, id), sql`${databases.config}->'rotation'->>'jobId' = ${jobId}`))
    .returning({ id: databases.id });
  return rows.length > 0;
}

/**
 * Marks the rotation of `jobId` as finishing, so one panel drops the old password: true for the
 * caller that won. A claim older than `staleBefore` (its panel died) may be taken again.
 */
export async function claimRotationFinish(db: Db, id: string, jobId: string, now: Date, staleBefore: Date): Promise<boolean> {
  const rows = await db
    .update(databases)
    .set({
      config: sql`jsonb_set(jsonb_set(${databases.config}, '{rotation,state}', '"finishing"'::jsonb), '{rotation,claimedAt}', ${JSON.stringify(now.toISOString())}::jsonb)`,
    })
    .where(
      and(
        eq(databases.id, id),
        sql`${databases.config}->'rotation'->>'jobId' = ${jobId}`,
        sql`(${databases.config}->'rotation'->>'state' in ('waiting-for-deploys', 'needs-attention') or (${databases.config}->'rotation'->>'state' = 'finishing' and ${databases.config}->'rotation'->>'claimedAt' < ${staleBefore.toISOString()}))`,
      ),
    )
    .returning({ id: databases.id });
  return rows.length > 0;
}

export async function databasesWithRotation(db: Db): Promise<DatabaseRow[]> {
  return db.select().from(databases).where(sql`coalesce(${databases.config} ? 'rotation', false)`).orderBy(asc(databases.name));
}

export interface DeployRun {
  id: string;
  status: string;
  error: string | null;
}

/** The app's deploy jobs from `since` (a job's id: that job and every later deploy of the app), oldest first. */
export async function deploysSince(db: Db, appId: string, sinceJobId: string): Promise<DeployRun[]> {
  return db
    .select({ id: jobs.id, status: jobs.status, error: jobs.error })
    .from(jobs)
    .where(
      and(
        eq(jobs.appId, appId),
        eq(jobs.kind, "deploy"),
        sql`${jobs.createdAt} >= (select s.created_at from jobs s where s.id = ${sinceJobId})`,
      ),
    )
    .orderBy(asc(jobs.createdAt));
}

export async function jobStatus(db: Db, jobId: string): Promise<string | null> {
  const [row] = await db.select({ status: jobs.status }).from(jobs).where(eq(jobs.id, jobId));
  return row?.status ?? null;
}
