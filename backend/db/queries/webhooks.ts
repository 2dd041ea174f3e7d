import { and, desc, eq, inArray, lte } from "drizzle-orm";
import type { Db } from "../client.ts";
import { releases, type WebhookDelivery, webhookDeliveries } from "../schema/index.ts";

export type NewDelivery = typeof webhookDeliveries.$inferInsert;

/** Records a delivery; a verified one only once: null when a verified delivery with its id was recorded before (a replay). */
export async function insertDelivery(db: Db, values: NewDelivery): Promise<WebhookDelivery | null> {
  const [row] = await db.insert(webhookDeliveries).values(values).onConflictDoNothing().returning();
  return row ?? null;
}

export async function updateDelivery(db: Db, id: string, values: Partial<NewDelivery>): Promise<WebhookDelivery | null> {
  const [row] = await db.update(webhookDeliveries).set(values).where(eq(webhookDeliveries.id, id)).returning();
  return row ?? null;
}

export async function findDelivery(db: Db, id: string): Promise<WebhookDelivery | null> {
  const [row] = await db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id));
  return row ?? null;
}

/** The app's deliveries, newest first. */
export function listDeliveries(db: Db, appId: string, limit: number): Promise<WebhookDelivery[]> {
  return db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.appId, appId))
    .orderBy(desc(webhookDeliveries.receivedAt))
    .limit(limit);
}

/** Keeps only the newest `keep` unverified deliveries, so junk cannot fill the disk. */
export async function pruneUnverifiedDeliveries(db: Db, keep: number): Promise<void> {
  const unverified = eq(webhookDeliveries.verified, false);
  const [edge] = await db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(unverified)
    .orderBy(desc(webhookDeliveries.receivedAt))
    .offset(keep)
    .limit(1);
  if (!edge) return;
  const older = db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(unverified)
    .orderBy(desc(webhookDeliveries.receivedAt), desc(webhookDeliveries.id))
    .offset(keep);
  await db.delete(webhookDeliveries).where(inArray(webhookDeliveries.id, older));
}

/** The live release's commit, and the commits of it and every release before it (none when nothing is live). */
export async function shippedCommits(db: Db, appId: string): Promise<{ live: string | null; shipped: Set<string> }> {
  const [live] = await db
    .select({ number: releases.number, commitSha: releases.commitSha })
    .from(releases)
    .where(and(eq(releases.appId, appId), eq(releases.status, "live")))
    .orderBy(desc(releases.number))
    .limit(1);
  if (!live) return { live: null, shipped: new Set() };
  const rows = await db
    .select({ commitSha: releases.commitSha })
    .from(releases)
    .where(and(eq(releases.appId, appId), lte(releases.number, live.number)));
  return { live: live.commitSha, shipped: new Set(rows.map((r) => r.commitSha)) };
}
