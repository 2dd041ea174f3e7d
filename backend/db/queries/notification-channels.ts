import { and, asc, desc, eq, inArray, lt, type SQL, sql } from "drizzle-orm";
import type { ChannelKind, DeliveryStatus } from "../../contract/api.ts";
import { decryptSecret, encryptSecret } from "../../domain/vault.ts";
import type { Db } from "../client.ts";
import {
  apps,
  type NotificationChannelRow,
  type NotificationDeliveryRow,
  notificationChannels,
  notificationDeliveries,
} from "../schema/index.ts";

/** The ciphertext is bound to its channel's id, so secrets cannot be swapped between rows. */
const aad = (id: string) => id;

export interface ChannelFields {
  name: string;
  /** Non-secret configuration (shown). */
  config: Record<string, unknown>;
  /** Secret fields (stored encrypted; never answered). */
  secret: Record<string, string>;
  events: string[] | null;
  appIds: string[] | null;
  enabled: boolean;
}

export function listChannels(db: Db): Promise<NotificationChannelRow[]> {
  return db.select().from(notificationChannels).orderBy(asc(notificationChannels.name));
}

export async function findChannel(db: Db, id: string): Promise<NotificationChannelRow | null> {
  const [row] = await db.select().from(notificationChannels).where(eq(notificationChannels.id, id));
  return row ?? null;
}

export async function findChannelByName(db: Db, name: string): Promise<NotificationChannelRow | null> {
  const [row] = await db.select().from(notificationChannels).where(eq(notificationChannels.name, name));
  return row ?? null;
}

export async function insertChannel(db: Db, masterKey: Buffer, kind: ChannelKind, fields: ChannelFields): Promise<NotificationChannelRow> {
  const id = crypto.randomUUID();
  const [row] = await db
    .insert(notificationChannels)
    .values({
      id,
      kind,
      name: fields.name,
      config: fields.config,
      secret: encryptSecret(masterKey, JSON.stringify(fields.secret), aad(id)),
      events: fields.events,
      appIds: fields.appIds,
      enabled: fields.enabled,
    })
    .returning();
  return row as NotificationChannelRow;
}

export async function updateChannel(db: Db, masterKey: Buffer, id: string, fields: ChannelFields): Promise<NotificationChannelRow | null> {
  const [row] = await db
    .update(notificationChannels)
    .set({
      name: fields.name,
      config: fields.config,
      secret: encryptSecret(masterKey, JSON.stringify(fields.secret), aad(id)),
      events: fields.events,
      appIds: fields.appIds,
      enabled: fields.enabled,
      updatedAt: new Date(),
    })
    .where(eq(notificationChannels.id, id))
    .returning();
  return row ?? null;
}

export async function deleteChannel(db: Db, id: string): Promise<boolean> {
  const rows = await db.delete(notificationChannels).where(eq(notificationChannels.id, id)).returning({ id: notificationChannels.id });
  return rows.length > 0;
}

/** The decrypted secret fields, for a send (and for keeping them on an edit); never answered. */
export function channelSecret(masterKey: Buffer, row: Pick<NotificationChannelRow, "id" | "secret">): Record<string, string> {
  if (!row.secret) return {};
  return JSON.parse(decryptSecret(masterKey, row.secret, aad(row.id))) as Record<string, string>;
}

/** What `sendMessage` takes: the kind, the shown configuration and the decrypted secrets. */
export function channelTarget(
  masterKey: Buffer,
  row: NotificationChannelRow,
): { kind: ChannelKind; config: Record<string, unknown>; secret: Record<string, string> } {
  return { kind: row.kind, config: row.config, secret: channelSecret(masterKey, row) };
}

/**
 * A send's outcome on the channel's health: a success clears the failures in a row, a failure
 * counts one more and keeps what the receiver said.
 */
export async function recordChannelResult(
  db: Db,
  id: string,
  result: { ok: boolean; error: string | null },
  at: Date = new Date(),
): Promise<void> {
  const set = result.ok
    ? { consecutiveFailures: 0, lastSuccessAt: at }
    : {
        consecutiveFailures: sql`${notificationChannels.consecutiveFailures} + 1`,
        lastError: result.error ?? "failed",
        lastFailureAt: at,
      };
  await db.update(notificationChannels).set(set).where(eq(notificationChannels.id, id));
}

/** App ids by name (the API takes names); a name not found is absent from the map. */
export async function appIdsByName(db: Db, names: string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const rows = await db.select({ id: apps.id, name: apps.name }).from(apps).where(inArray(apps.name, names));
  return new Map(rows.map((r) => [r.name, r.id]));
}

/** App names by id, for answers. */
export async function appNamesById(db: Db, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.select({ id: apps.id, name: apps.name }).from(apps).where(inArray(apps.id, ids));
  return new Map(rows.map((r) => [r.id, r.name]));
}

export interface DeliveryListRow {
  delivery: NotificationDeliveryRow;
  channel: { id: string; name: string; kind: ChannelKind };
  app: string | null;
}

/** The outbox, newest first: per channel and status, pages by id (`before`). */
export async function listDeliveries(
  db: Db,
  filter: { channelId?: string; status?: DeliveryStatus; before?: number; limit: number },
): Promise<DeliveryListRow[]> {
  const where: SQL[] = [];
  if (filter.channelId) where.push(eq(notificationDeliveries.channelId, filter.channelId));
  if (filter.status) where.push(eq(notificationDeliveries.status, filter.status));
  if (filter.before !== undefined) where.push(lt(notificationDeliveries.id, filter.before));
  const rows = await db
    .select({
      delivery: notificationDeliveries,
      channel: { id: notificationChannels.id, name: notificationChannels.name, kind: notificationChannels.kind },
      app: apps.name,
    })
    .from(notificationDeliveries)
    .innerJoin(notificationChannels, eq(notificationChannels.id, notificationDeliveries.channelId))
    .leftJoin(apps, eq(apps.id, notificationDeliveries.appId))
    .where(where.length > 0 ? and(...where) : undefined)
    .orderBy(desc(notificationDeliveries.id))
    .limit(filter.limit);
  return rows;
}
