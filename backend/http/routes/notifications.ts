/**
 * Notification channels (email, Slack, Discord, Telegram, ntfy, signed webhook) and the delivery
 * log. Admins only, reads included: a channel's configuration names mail servers, recipients and
 * chats, and the log quotes what was sent.
 */
import { z } from "zod";
import { RateLimiter } from "../../auth/rate-limit.ts";
import {
  CHANNEL_KINDS,
  DELIVERY_STATUSES,
  NOTIFICATION_EVENTS,
  type NotificationChannel,
  type NotificationDelivery,
  type NotificationEvent,
} from "../../contract/api.ts";
import {
  appNamesById,
  channelSecret,
  type DeliveryListRow,
  deleteChannel,
  findChannel,
  listChannels,
  listDeliveries,
} from "../../db/queries/notification-channels.ts";
import type { NotificationChannelRow } from "../../db/schema/index.ts";
import { APP_NAME_PATTERN } from "../../domain/apps.ts";
import { maskedConfig } from "../../domain/notification-channels.ts";
import { ChannelRefused, changeChannel, createChannel, testChannel } from "../../jobs/notification-channels.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams, readQuery } from "../context.ts";
import { HttpError, notFound } from "../errors.ts";
import type { Router } from "../router.ts";

/** What a channel may subscribe to: every event but the test, which goes to one channel on demand. */
const ROUTABLE_EVENTS = NOTIFICATION_EVENTS.filter((e) => e !== "test");

const idParam = z.object({ id: z.uuid({ error: "must be a channel id" }) });

const channelName = z
  .string({ error: "must be a name" })
  .trim()
  .min(1, "must not be empty")
  .max(80, "must be at most 80 characters")
  .refine((v) => !/[\r\n\t]/.test(v), "must be one line");

const events = z
  .array(z.string({ error: "must be a list of event names" }), { error: "must be a list of event names, or null for every event" })
  .max(100)
  .superRefine((list, ctx) => {
    const unknown = list.filter((e) => !(ROUTABLE_EVENTS as readonly string[]).includes(e));
    if (unknown.length > 0) {
      ctx.addIssue({
        code: "custom",
        message: `${unknown.map((e) => JSON.stringify(e)).join(", ")} ${unknown.length === 1 ? "is not an event" : "are not events"}; the events are ${ROUTABLE_EVENTS.join(", ")}`,
      });
    } else if (list.length === 0) {
      ctx.addIssue({ code: "custom", message: "must name at least one event, or be null for every event" });
    }
  })
  .transform((list) => [...new Set(list)] as NotificationEvent[])
  .nullable();

const apps = z
  .array(z.string({ error: "must be a list of app names" }), { error: "must be a list of app names, or null for every app" })
  .max(200)
  .superRefine((list, ctx) => {
    const bad = list.find((a) => !APP_NAME_PATTERN.test(a));
    if (bad !== undefined) ctx.addIssue({ code: "custom", message: `there is no app named ${JSON.stringify(bad)}` });
    else if (list.length === 0) ctx.addIssue({ code: "custom", message: "must name at least one app, or be null for every app" });
  })
  .nullable();

const config = z.record(z.string(), z.unknown(), { error: "must be an object" });
const enabled = z.boolean({ error: "must be true or false" });

const createBody = z.strictObject({
  kind: z.enum(CHANNEL_KINDS, { error: `must be one of ${CHANNEL_KINDS.join(", ")}` }),
  name: channelName,
  config,
  events: events.optional(),
  apps: apps.optional(),
  enabled: enabled.optional(),
});

const changeBody = z.strictObject({
  kind: z.never({ error: "cannot be changed: create a channel of the other kind instead" }).optional(),
  name: channelName.optional(),
  config: config.optional(),
  events: events.optional(),
  apps: apps.optional(),
  enabled: enabled.optional(),
});

const deliveriesQuery = z.object({
  channel: z.uuid({ error: "must be a channel id" }).optional(),
  status: z.enum(DELIVERY_STATUSES, { error: `must be one of ${DELIVERY_STATUSES.join(", ")}` }).optional(),
  limit: z.coerce
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(1, "must be 1-500")
    .max(500, "must be 1-500")
    .default(100),
  before: z.coerce.number({ error: "must be a delivery id" }).int("must be a delivery id").positive("must be a delivery id").optional(),
});

// ── Shapes ──

function channelJson(c: Context, row: NotificationChannelRow, appNames: Map<string, string>): NotificationChannel {
  const secret = channelSecret(c.services.masterKey, row);
  const failing = row.consecutiveFailures > 0;
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    config: maskedConfig(row.kind, row.config, Object.keys(secret)),
    events: (row.events as NotificationEvent[] | null) ?? null,
    // An app deleted since is no longer routed to; it is left out rather than shown as an id.
    apps: row.appIds ? row.appIds.flatMap((id) => appNames.get(id) ?? []) : null,
    enabled: row.enabled,
    health: {
      state: failing ? "failing" : row.lastSuccessAt ? "ok" : "unknown",
      consecutiveFailures: row.consecutiveFailures,
      lastError: row.lastError,
      lastFailureAt: row.lastFailureAt?.toISOString() ?? null,
      lastSuccessAt: row.lastSuccessAt?.toISOString() ?? null,
    },
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

async function channelsJson(c: Context, rows: NotificationChannelRow[]): Promise<NotificationChannel[]> {
  const names = await appNamesById(c.services.db, [...new Set(rows.flatMap((r) => r.appIds ?? []))]);
  return rows.map((row) => channelJson(c, row, names));
}

function deliveryJson({ delivery: d, channel, app }: DeliveryListRow): NotificationDelivery {
  return {
    id: d.id,
    channel,
    event: d.event as NotificationEvent,
    app,
    title: d.message.title,
    status: d.status,
    attempts: d.attempts,
    log: d.log,
    nextAttemptAt: d.status === "pending" || d.status === "sending" ? d.nextAttemptAt.toISOString() : null,
    lastError: d.lastError,
    createdAt: d.createdAt.toISOString(),
    sentAt: d.sentAt?.toISOString() ?? null,
  };
}

// ── Helpers ──

function refused(error: unknown): never {
  if (error instanceof ChannelRefused) {
    throw new HttpError(error.status, error.code, error.field === "id" ? error.message : `${error.field}: ${error.message}.`, {
      issues: [{ path: error.field, message: error.message }],
    });
  }
  throw error;
}

async function loadChannel(c: Context): Promise<NotificationChannelRow> {
  const { id } = readParams(c, idParam);
  const row = await findChannel(c.services.db, id);
  if (!row) throw notFound("Notification channel");
  return row;
}

/** A test reaches out to someone's phone or inbox: a button held down must not become a flood. */
const testLimits = new WeakMap<object, RateLimiter>();
function limitTests(c: Context, key: string): void {
  let limiter = testLimits.get(c.services);
  if (!limiter) {
    limiter = new RateLimiter(10, 60_000);
    testLimits.set(c.services, limiter);
  }
  const wait = limiter.retryAfter(key);
  if (wait > 0) {
    throw new HttpError(429, "rate_limited", `Tested too often; test again in ${wait} s.`, undefined, { "retry-after": String(wait) });
  }
  limiter.fail(key);
}

/** What the audit log keeps of a change: which settings changed, never their values. */
function changeSummary(body: z.output<typeof changeBody>): Record<string, unknown> {
  return {
    ...(body.name === undefined ? {} : { name: body.name }),
    ...(body.config === undefined ? {} : { config: Object.keys(body.config).sort() }),
    ...(body.events === undefined ? {} : { events: body.events }),
    ...(body.apps === undefined ? {} : { apps: body.apps }),
    ...(body.enabled === undefined ? {} : { enabled: body.enabled }),
  };
}

export function notificationRoutes(r: Router): void {
  r.get("/api/v1/notifications/channels", { auth: "admin" }, async (c) => {
    return Response.json({ channels: await channelsJson(c, await listChannels(c.services.db)) });
  });

  r.post("/api/v1/notifications/channels", { auth: "admin" }, async (c) => {
    const body = await readJson(c, createBody);
    const { channel, signingSecret } = await createChannel(c.services, body.kind, {
      name: body.name,
      config: body.config,
      events: body.events ?? null,
      apps: body.apps ?? null,
      enabled: body.enabled ?? true,
    }).catch(refused);
    await audit(c, "notification_channel.created", `notification-channel:${channel.name}`, {
      kind: channel.kind,
      events: channel.events,
      apps: body.apps ?? null,
    });
    const [json] = await channelsJson(c, [channel]);
    // A generated signing secret is answered this once; afterwards it is "••••" like every secret.
    return Response.json({ channel: json, ...(signingSecret ? { signingSecret } : {}) }, { status: 201 });
  });

  r.patch("/api/v1/notifications/channels/:id", { auth: "admin" }, async (c) => {
    const row = await loadChannel(c);
    const body = await readJson(c, changeBody);
    const channel = await changeChannel(c.services, row, body).catch(refused);
    await audit(c, "notification_channel.updated", `notification-channel:${channel.name}`, changeSummary(body));
    const [json] = await channelsJson(c, [channel]);
    return Response.json({ channel: json });
  });

  r.delete("/api/v1/notifications/channels/:id", { auth: "admin" }, async (c) => {
    const row = await loadChannel(c);
    if (!(await deleteChannel(c.services.db, row.id))) throw notFound("Notification channel");
    await audit(c, "notification_channel.deleted", `notification-channel:${row.name}`, { kind: row.kind });
    return new Response(null, { status: 204 });
  });

  /** Sends a test message now, not through the outbox: {ok, status, error, ms}; a failure says why and marks the channel failing. */
  r.post("/api/v1/notifications/channels/:id/test", { auth: "admin" }, async (c) => {
    const row = await loadChannel(c);
    limitTests(c, row.id);
    const result = await testChannel(c.services, row, c.auth?.user.email ?? null);
    await audit(c, "notification_channel.tested", `notification-channel:${row.name}`, { ok: result.ok, status: result.status });
    return Response.json(result);
  });

  r.get("/api/v1/notifications/deliveries", { auth: "admin" }, async (c) => {
    const query = readQuery(c, deliveriesQuery);
    const rows = await listDeliveries(c.services.db, {
      limit: query.limit,
      ...(query.channel ? { channelId: query.channel } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.before ? { before: query.before } : {}),
    });
    return Response.json({ deliveries: rows.map(deliveryJson) });
  });
}
