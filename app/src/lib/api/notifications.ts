/**
 * Notifications and alerts: channels (their secrets are sent, and come back masked), a channel's
 * test message, the deliveries log, alert rules, alerts with ack and snooze. Through the one client.
 */
import { ApiError, api, type RequestOptions } from "./client.ts";
import type {
  Alert,
  AlertRule,
  AlertState,
  CreateAlertRuleInput,
  CreateChannelInput,
  DeliveryAttempt,
  NotificationChannel,
  NotificationDelivery,
  UpdateChannelInput,
} from "./types.ts";

/** The list itself, or the list under `key` (`{ channels: [...] }`). */
function listOf<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  const inner = (body as Record<string, unknown> | null | undefined)?.[key];
  return Array.isArray(inner) ? (inner as T[]) : [];
}

/** The object itself, or the object under `key` (`{ channel: {...} }`). */
function oneOf<T>(body: unknown, key: string): T {
  const inner = (body as Record<string, unknown> | null | undefined)?.[key];
  return (inner && typeof inner === "object" ? inner : body) as T;
}

const channelPath = (id: string) => `/notifications/channels/${encodeURIComponent(id)}`;

export async function listChannels(options?: RequestOptions): Promise<NotificationChannel[]> {
  return listOf<NotificationChannel>(await api.get<unknown>("/notifications/channels", options), "channels");
}

/** A created channel, and the secrets generated for it that are shown this once (a webhook's signing secret). */
export interface CreatedChannel {
  channel: NotificationChannel;
  signingSecret: string | null;
}

/** The generated signing secret, wherever the answer puts it (`signingSecret`, `secrets.signingSecret`). */
function generatedSecret(body: unknown): string | null {
  const b = body as Record<string, unknown> | null | undefined;
  for (const candidate of [b?.signingSecret, (b?.secrets as Record<string, unknown> | undefined)?.signingSecret]) {
    if (typeof candidate === "string" && candidate && !candidate.includes("•")) return candidate;
  }
  return null;
}

export async function createChannel(input: CreateChannelInput): Promise<CreatedChannel> {
  const body = await api.post<unknown>("/notifications/channels", input);
  return { channel: oneOf<NotificationChannel>(body, "channel"), signingSecret: generatedSecret(body) };
}

export async function updateChannel(id: string, patch: UpdateChannelInput): Promise<NotificationChannel> {
  return oneOf<NotificationChannel>(await api.patch<unknown>(channelPath(id), patch), "channel");
}

export async function deleteChannel(id: string): Promise<void> {
  await api.delete<void>(channelPath(id));
}

/** What a test message did: delivered, or why not (the receiver's status or the SMTP reply, and its words). */
export interface ChannelTestResult {
  ok: boolean;
  status: number | null;
  ms: number | null;
  error: string | null;
}

function testResult(body: unknown): ChannelTestResult {
  const b = (body ?? {}) as Record<string, unknown>;
  const inner = [b.result, b.attempt, b.test].find((v) => v && typeof v === "object") as Record<string, unknown> | undefined;
  const r = inner ?? b;
  const error = typeof r.error === "string" && r.error ? r.error : null;
  const ok = typeof r.ok === "boolean" ? r.ok : error === null;
  return {
    ok,
    status: typeof r.status === "number" ? r.status : null,
    ms: typeof r.ms === "number" ? r.ms : null,
    error: ok ? null : (error ?? "The channel did not accept the message."),
  };
}

/**
 * Sends a test message through the channel now. A refusal by the receiver is an answer, not an
 * error: it comes back as `{ ok: false, error }`, also when the server answers it with a 4xx/5xx
 * (but a session that ended or a missing permission still throws).
 */
export async function testChannel(id: string): Promise<ChannelTestResult> {
  try {
    return testResult(await api.post<unknown>(`${channelPath(id)}/test`, {}));
  } catch (error) {
    if (error instanceof ApiError && error.status !== 401 && error.status !== 403 && error.status !== 404 && !error.isNetwork) {
      const details = (error.details ?? {}) as Record<string, unknown>;
      return {
        ok: false,
        status: typeof details.status === "number" ? details.status : null,
        ms: typeof details.ms === "number" ? details.ms : null,
        error: error.message,
      };
    }
    throw error;
  }
}

export interface DeliveryQuery {
  channel?: string | null;
  status?: string | null;
  limit?: number;
}

export async function listNotificationDeliveries(query: DeliveryQuery = {}, options?: RequestOptions): Promise<NotificationDelivery[]> {
  const params = new URLSearchParams();
  if (query.channel) params.set("channel", query.channel);
  if (query.status) params.set("status", query.status);
  if (query.limit) params.set("limit", String(query.limit));
  const search = params.toString();
  return listOf<NotificationDelivery>(
    await api.get<unknown>(`/notifications/deliveries${search ? `?${search}` : ""}`, options),
    "deliveries",
  );
}

/** The attempts of a delivery, oldest first (the log may be stored either way round). */
export function attemptsOf(delivery: Pick<NotificationDelivery, "log">): DeliveryAttempt[] {
  return [...(delivery.log ?? [])].sort((a, b) => a.at.localeCompare(b.at));
}

// --- Alerts ----------------------------------------------------------------------------------

const rulePath = (id: string) => `/alerts/rules/${encodeURIComponent(id)}`;
const alertPath = (id: string) => `/alerts/${encodeURIComponent(id)}`;

export async function listAlertRules(options?: RequestOptions): Promise<AlertRule[]> {
  return listOf<AlertRule>(await api.get<unknown>("/alerts/rules", options), "rules");
}

export async function createAlertRule(input: CreateAlertRuleInput): Promise<AlertRule> {
  return oneOf<AlertRule>(await api.post<unknown>("/alerts/rules", input), "rule");
}

export async function updateAlertRule(id: string, patch: Partial<CreateAlertRuleInput>): Promise<AlertRule> {
  return oneOf<AlertRule>(await api.patch<unknown>(rulePath(id), patch), "rule");
}

export async function deleteAlertRule(id: string): Promise<void> {
  await api.delete<void>(rulePath(id));
}

export async function listAlerts(state?: AlertState, options?: RequestOptions): Promise<Alert[]> {
  return listOf<Alert>(await api.get<unknown>(`/alerts${state ? `?state=${state}` : ""}`, options), "alerts");
}

export async function ackAlert(id: string): Promise<Alert> {
  return oneOf<Alert>(await api.post<unknown>(`${alertPath(id)}/ack`, {}), "alert");
}

export async function snoozeAlert(id: string, minutes: number): Promise<Alert> {
  return oneOf<Alert>(await api.post<unknown>(`${alertPath(id)}/snooze`, { minutes }), "alert");
}
