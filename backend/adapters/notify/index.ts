/**
 * Sending one message to one channel, formatted for it. The formatting is format.ts (pure); this
 * posts it and says how it went. Nothing a receiver or a socket says reaches the result with a
 * secret still in it.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { ChannelKind, NotificationMessage } from "../../contract/api.ts";
import { createMasker } from "../../domain/masking.ts";
import type {
  DiscordConfig,
  EmailConfig,
  NtfyConfig,
  SlackConfig,
  TelegramConfig,
  WebhookConfig,
} from "../../domain/notification-channels.ts";
import { sendEmail } from "./email.ts";
import { discordPayload, ntfyRequest, slackPayload, telegramBody, webhookRequest } from "./format.ts";
import { type PostOutcome, post } from "./http.ts";

export interface ChannelTarget {
  kind: ChannelKind;
  /** The non-secret configuration. */
  config: Record<string, unknown>;
  /** The decrypted secret fields. */
  secret: Record<string, string>;
}

export interface SendResult {
  ok: boolean;
  /** The receiver's HTTP status or SMTP reply code; null when none answered. */
  status: number | null;
  /** In words, why it failed (null when ok). Never contains a secret. */
  error: string | null;
  ms: number;
}

export const DEFAULT_SEND_TIMEOUT_MS = 10_000;

/** Sends the message; never throws (a failure is the result). */
export async function sendMessage(
  target: ChannelTarget,
  message: NotificationMessage,
  options?: { timeoutMs?: number },
): Promise<SendResult> {
  const started = performance.now();
  const timeoutMs = options?.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  const mask = createMasker(Object.values(target.secret));
  let outcome: PostOutcome;
  try {
    outcome = await send(target, message, timeoutMs);
  } catch (error) {
    outcome = { ok: false, status: null, error: `could not send: ${(error as Error)?.message ?? String(error)}` };
  }
  return {
    ok: outcome.ok,
    status: outcome.status,
    error: outcome.ok ? null : mask(outcome.error ?? "failed"),
    ms: Math.round(performance.now() - started),
  };
}

function send(target: ChannelTarget, message: NotificationMessage, timeoutMs: number): Promise<PostOutcome> {
  const config = { ...target.config, ...target.secret };
  switch (target.kind) {
    case "email":
      return sendEmail(config as unknown as EmailConfig, message, timeoutMs);
    case "slack": {
      const { webhookUrl } = config as unknown as SlackConfig;
      return postJson(webhookUrl, slackPayload(message), "Slack", timeoutMs);
    }
    case "discord": {
      const { webhookUrl } = config as unknown as DiscordConfig;
      return postJson(webhookUrl, discordPayload(message), "Discord", timeoutMs);
    }
    case "telegram": {
      const { apiBaseUrl, botToken, chatId } = config as unknown as TelegramConfig;
      return postJson(`${apiBaseUrl}/bot${botToken}/sendMessage`, telegramBody(chatId, message), "Telegram", timeoutMs);
    }
    case "ntfy": {
      const { serverUrl, topic, token } = config as unknown as NtfyConfig;
      const { headers, body } = ntfyRequest(message);
      return post(
        `${serverUrl}/${encodeURIComponent(topic)}`,
        {
          headers: { "Content-Type": "text/plain; charset=utf-8", ...headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
          body,
        },
        { who: "ntfy", timeoutMs },
      );
    }
    case "webhook": {
      const { url, signingSecret } = config as unknown as WebhookConfig;
      const { headers, body } = webhookRequest(message, signingSecret);
      return post(url, { headers, body }, { who: "the webhook", timeoutMs });
    }
  }
}

function postJson(url: string, payload: unknown, who: string, timeoutMs: number): Promise<PostOutcome> {
  return post(url, { headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) }, { who, timeoutMs });
}

const LOOKUP_TIMEOUT_MS = 5000;

/** Whether a host name resolves (as the mail library will resolve it: the system's resolver, /etc/hosts included). */
export async function resolveHost(host: string): Promise<{ ok: true; address: string } | { ok: false; reason: string }> {
  if (isIP(host)) return { ok: true, address: host };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("timeout"), { code: "ETIMEOUT" })), LOOKUP_TIMEOUT_MS);
  });
  try {
    const { address } = await Promise.race([lookup(host), timeout]);
    return { ok: true, address };
  } catch (error) {
    const code = (error as { code?: string }).code ?? "";
    const reason =
      code === "ENOTFOUND" || code === "ENODATA" || code === "EAI_NONAME"
        ? `${host} does not resolve: there is no such host name`
        : code === "ETIMEOUT" || code === "EAI_AGAIN"
          ? `${host} could not be resolved: DNS did not answer in time`
          : `${host} could not be resolved (${code || (error as Error).message})`;
    return { ok: false, reason };
  } finally {
    clearTimeout(timer);
  }
}
