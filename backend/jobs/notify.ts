/**
 * Notifications: an event becomes one outbox row per channel that wants it; the delivery worker
 * (notification-worker.ts) sends them. Called by the panel where the fact happened, never from
 * the event bus (every panel hears that), so each fact is written once.
 */
import { and, eq } from "drizzle-orm";
import type { NotificationEvent, NotificationMessage } from "../contract/api.ts";
import type { Db, Tx } from "../db/client.ts";
import { alertSends, type NotificationChannelRow, notificationChannels, notificationDeliveries } from "../db/schema/index.ts";
import { type Built, suppressedNote } from "../domain/notification-messages.ts";
import type { Services } from "../services.ts";

export interface NotifyInput {
  event: NotificationEvent;
  /** The app it is about (routing by app); null: the panel or the server. */
  appId: string | null;
  /**
   * `url`: absolute, or a panel path ("/apps/shop?job=…") made absolute with the public URL;
   * absent: the app's page when the message names an app.
   */
  message: Omit<NotificationMessage, "event" | "at" | "url"> & { url?: string | null; at?: string };
  /**
   * Alert messages: at most one message per rule, subject and channel per `minIntervalSeconds`;
   * the transitions held back are counted and told in the next message.
   */
  throttle?: { ruleId: string; subject: string; minIntervalSeconds: number };
}

type NotifyServices = Pick<Services, "db" | "config" | "log" | "events">;

/**
 * Whether a channel takes the event: `events` null takes every event; `appIds` null takes every
 * app. An app filter narrows the app events only: the panel's and the server's own events
 * (certificates, sign-ins, updates) are routed by `events` alone.
 */
export function channelWants(
  channel: Pick<NotificationChannelRow, "enabled" | "events" | "appIds">,
  event: string,
  appId: string | null,
): boolean {
  if (!channel.enabled) return false;
  if (channel.events && !channel.events.includes(event)) return false;
  if (channel.appIds && appId !== null && !channel.appIds.includes(appId)) return false;
  return true;
}

export function messageUrl(config: NotifyServices["config"], url: string | null | undefined, app: string | null): string | null {
  const path = url === undefined ? (app ? `/apps/${encodeURIComponent(app)}` : null) : url;
  if (!path) return null;
  return new URL(path, config.publicUrl).href;
}

/** Writes the outbox rows and wakes the delivery workers; returns how many were queued. */
export async function notify(services: NotifyServices, input: NotifyInput): Promise<number> {
  const { db, config, events } = services;
  const channels = (await db.select().from(notificationChannels)).filter((c) => channelWants(c, input.event, input.appId));
  if (channels.length === 0) return 0;
  const { at, url, ...rest } = input.message;
  const message: NotificationMessage = {
    ...rest,
    event: input.event,
    at: at ?? new Date().toISOString(),
    url: messageUrl(config, url, rest.app),
  };
  const queued: Array<{ id: number; channelId: string }> = [];
  for (const channel of channels) {
    const row = input.throttle
      ? await throttled(db, channel.id, input, input.throttle, message)
      : await insertDelivery(db, channel.id, input, message);
    if (row) queued.push(row);
  }
  for (const row of queued) {
    await events.publish({ type: "notification.delivery", deliveryId: row.id, channelId: row.channelId, status: "pending" });
  }
  return queued.length;
}

/**
 * A notification that fails to be written is logged, never thrown: a deploy, a backup or a
 * sign-in does not fail because telling someone about it did.
 */
export async function notifySafely(services: NotifyServices, built: Built, appId: string | null): Promise<void> {
  try {
    await notify(services, { event: built.event, appId, message: built.message });
  } catch (error) {
    services.log.error("a notification could not be queued", { event: built.event, error });
  }
}

async function insertDelivery(
  db: Db | Tx,
  channelId: string,
  input: NotifyInput,
  message: NotificationMessage,
): Promise<{ id: number; channelId: string }> {
  const [row] = await db
    .insert(notificationDeliveries)
    .values({ channelId, event: input.event, appId: input.appId, message })
    .returning({ id: notificationDeliveries.id, channelId: notificationDeliveries.channelId });
  if (!row) throw new Error("the delivery was not written");
  return row;
}

/**
 * Per rule, subject and channel: a message within the interval of the last one is held back and
 * counted; the next one that goes out says how many were held back.
 */
async function throttled(
  db: Db,
  channelId: string,
  input: NotifyInput,
  throttle: NonNullable<NotifyInput["throttle"]>,
  message: NotificationMessage,
): Promise<{ id: number; channelId: string } | null> {
  const { ruleId, subject, minIntervalSeconds } = throttle;
  return db.transaction(async (tx) => {
    const now = new Date();
    const key = and(eq(alertSends.ruleId, ruleId), eq(alertSends.channelId, channelId), eq(alertSends.subject, subject));
    const [last] = await tx.select().from(alertSends).where(key).for("update");
    if (!last) {
      const inserted = await tx
        .insert(alertSends)
        .values({ ruleId, channelId, subject, sentAt: now, suppressed: 0 })
        .onConflictDoNothing()
        .returning({ id: alertSends.id });
      // Another panel wrote the first message this instant: this one is within its interval.
      if (inserted.length === 0) return null;
      return insertDelivery(tx, channelId, input, message);
    }
    if (now.getTime() - last.sentAt.getTime() < minIntervalSeconds * 1000) {
      await tx
        .update(alertSends)
        .set({ suppressed: last.suppressed + 1 })
        .where(eq(alertSends.id, last.id));
      return null;
    }
    await tx.update(alertSends).set({ sentAt: now, suppressed: 0 }).where(eq(alertSends.id, last.id));
    const told = last.suppressed > 0 ? { ...message, text: `${message.text} ${suppressedNote(last.suppressed)}` } : message;
    return insertDelivery(tx, channelId, input, told);
  });
}
