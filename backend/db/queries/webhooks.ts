import { desc, eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type WebhookDelivery, webhookDeliveries } from "../schema/index.ts";

export type NewDelivery = typeof webhookDeliveries.$inferInsert;

/** Records a delivery once: null when its delivery id was recorded before (a replay). */
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
