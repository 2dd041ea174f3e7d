/**
 * One message, shaped for each receiver: Slack blocks, a Discord embed, Telegram HTML, ntfy
 * headers, plain and HTML email, and the signed webhook's JSON. Pure; the senders post these.
 */
import { createHmac } from "node:crypto";
import type { NotificationMessage, NotificationSeverity } from "../../contract/api.ts";

const SEVERITY_EMOJI: Record<NotificationSeverity, string> = {
  info: "ℹ️",
  success: "✅",
  warning: "⚠️",
  critical: "🚨",
};
const SEVERITY_COLOR: Record<NotificationSeverity, number> = {
  info: 0x3b82f6,
  success: 0x22c55e,
  warning: 0xf59e0b,
  critical: 0xef4444,
};
const SEVERITY_HEX: Record<NotificationSeverity, string> = {
  info: "#3b82f6",
  success: "#16a34a",
  warning: "#d97706",
  critical: "#dc2626",
};
export const NTFY_PRIORITY: Record<NotificationSeverity, string> = {
  info: "default",
  success: "default",
  warning: "high",
  critical: "urgent",
};
const NTFY_TAG: Record<NotificationSeverity, string> = {
  info: "information_source",
  success: "white_check_mark",
  warning: "warning",
  critical: "rotating_light",
};

export const LINK_LABEL = "Open in Switchyard";

/** "#12 (abc1234)": how a release is named in a message. */
export function releaseLabel(release: NotificationMessage["release"]): string | null {
  if (!release) return null;
  return `#${release.number}${release.commitSha ? ` (${release.commitSha.slice(0, 7)})` : ""}`;
}

/** The app and release first, then the message's own facts. */
export function facts(message: NotificationMessage): { label: string; value: string }[] {
  const release = releaseLabel(message.release);
  return [
    ...(message.app ? [{ label: "App", value: message.app }] : []),
    ...(release ? [{ label: "Release", value: release }] : []),
    ...message.fields,
  ];
}

/** Cuts text to `max` characters, saying so with an ellipsis. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** The last lines that fit in `max` characters (log tails matter at their end); says how many were left out. */
export function tailLines(lines: string[], max: number): string {
  const kept: string[] = [];
  let size = 0;
  let i = lines.length - 1;
  for (; i >= 0; i--) {
    const line = lines[i] as string;
    const add = line.length + (kept.length > 0 ? 1 : 0);
    if (size + add > max) break;
    kept.unshift(line);
    size += add;
  }
  if (i < 0) return kept.join("\n");
  const note = (n: number) => `… ${n} earlier line${n === 1 ? "" : "s"}`;
  let skipped = i + 1;
  while (kept.length > 0 && size + note(skipped).length + 1 > max) {
    const dropped = kept.shift() as string;
    size -= dropped.length + (kept.length > 0 ? 1 : 0);
    skipped++;
  }
  if (kept.length === 0) return truncate(lines[lines.length - 1] ?? "", max);
  return [note(skipped), ...kept].join("\n");
}

/** A one-line header value: no line breaks (they would end the header). */
const oneLine = (text: string) => text.replace(/[\r\n]+/g, " ").trim();

// ── Slack (incoming webhook) ──

/** Slack's mrkdwn reserves these three; everything else is shown as written. */
export const slackEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
/** A code block ends at the next ```; one inside the lines is broken up. */
const fence = (text: string) => text.replace(/```/g, "`\u200b`\u200b`");

export function slackPayload(message: NotificationMessage): { text: string; blocks: unknown[] } {
  const emoji = SEVERITY_EMOJI[message.severity];
  const blocks: unknown[] = [
    { type: "header", text: { type: "plain_text", text: truncate(`${emoji} ${oneLine(message.title)}`, 150), emoji: true } },
  ];
  if (message.text.trim()) blocks.push({ type: "section", text: { type: "mrkdwn", text: truncate(slackEscape(message.text), 3000) } });
  const list = facts(message);
  // A section holds at most 10 fields.
  for (let i = 0; i < list.length && i < 20; i += 10) {
    blocks.push({
      type: "section",
      fields: list
        .slice(i, i + 10)
        .map((f) => ({ type: "mrkdwn", text: truncate(`*${slackEscape(f.label)}*\n${slackEscape(f.value)}`, 2000) })),
    });
  }
  if (message.lines.length > 0) {
    blocks.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: `\`\`\`${tailLines(
          message.lines.map((l) => fence(slackEscape(l))),
          2990,
        )}\`\`\``,
      },
    });
  }
  const seconds = Math.floor(Date.parse(message.at) / 1000);
  blocks.push({
    type: "context",
    elements: [{ type: "mrkdwn", text: `Switchyard · ${message.event} · <!date^${seconds}^{date_short_pretty} {time}|${message.at}>` }],
  });
  if (message.url) {
    blocks.push({ type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: LINK_LABEL }, url: message.url }] });
  }
  return { text: slackEscape(`${emoji} ${oneLine(message.title)}`), blocks };
}

// ── Discord (webhook) ──

/** Discord markdown: the characters that would style text are shown as written. */
export const discordEscape = (text: string) => text.replace(/([\\*_~`|])/g, "\\$1");

export function discordPayload(message: NotificationMessage): {
  username: string;
  allowed_mentions: { parse: never[] };
  embeds: Array<Record<string, unknown>>;
} {
  const code = message.lines.length > 0 ? `\n\`\`\`\n${tailLines(message.lines.map(fence), 3000)}\n\`\`\`` : "";
  const description = truncate(discordEscape(message.text), 4096 - code.length) + code;
  const embed: Record<string, unknown> = {
    title: truncate(`${SEVERITY_EMOJI[message.severity]} ${oneLine(message.title)}`, 256),
    description,
    color: SEVERITY_COLOR[message.severity],
    fields: facts(message)
      .slice(0, 25)
      .map((f) => ({ name: truncate(f.label, 256) || "—", value: truncate(discordEscape(f.value), 1024) || "—", inline: true })),
    timestamp: message.at,
    footer: { text: `Switchyard · ${message.event}` },
  };
  if (message.url) embed.url = message.url;
  // Nobody is pinged, whatever a commit message or log line says (@everyone).
  return { username: "Switchyard", allowed_mentions: { parse: [] }, embeds: [embed] };
}

// ── Telegram (Bot API, parse_mode HTML) ──

/** Telegram's HTML mode knows only these entities. */
export const htmlEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const TELEGRAM_MAX = 4096;

export function telegramText(message: NotificationMessage): string {
  const head = [`<b>${htmlEscape(`${SEVERITY_EMOJI[message.severity]} ${oneLine(message.title)}`)}</b>`];
  if (message.text.trim()) head.push(htmlEscape(message.text));
  const list = facts(message);
  if (list.length > 0) head.push(list.map((f) => `<b>${htmlEscape(f.label)}:</b> ${htmlEscape(f.value)}`).join("\n"));
  const tail = message.url ? [`<a href="${htmlEscape(message.url)}">${LINK_LABEL}</a>`] : [];
  const fixed = [...head, ...tail].join("\n\n");
  if (message.lines.length === 0) return truncate(fixed, TELEGRAM_MAX);
  const room = TELEGRAM_MAX - fixed.length - "\n\n<pre></pre>".length;
  if (room < 100) return truncate(fixed, TELEGRAM_MAX);
  // Escaping can only lengthen a line, so the tail is cut to fit after escaping.
  const pre = `<pre>${tailLines(message.lines.map(htmlEscape), room)}</pre>`;
  return [...head, pre, ...tail].join("\n\n");
}

export function telegramBody(chatId: string, message: NotificationMessage): Record<string, unknown> {
  return { chat_id: chatId, text: telegramText(message), parse_mode: "HTML", link_preview_options: { is_disabled: true } };
}

// ── ntfy ──

/** A header value ntfy decodes (RFC 2047) when it is not plain ASCII. */
export function headerText(text: string): string {
  const line = oneLine(text);
  return /^[\x20-\x7e]*$/.test(line) ? line : `=?UTF-8?B?${Buffer.from(line, "utf8").toString("base64")}?=`;
}

export function ntfyRequest(message: NotificationMessage): { headers: Record<string, string>; body: string } {
  const parts: string[] = [];
  if (message.text.trim()) parts.push(message.text);
  const list = facts(message);
  if (list.length > 0) parts.push(list.map((f) => `${f.label}: ${f.value}`).join("\n"));
  const fixed = parts.join("\n\n");
  // ntfy turns a body over 4096 bytes into an attachment; log lines give way first.
  const room = 4000 - Buffer.byteLength(fixed) - 2;
  if (message.lines.length > 0 && room > 100) parts.push(tailLines(message.lines, Math.floor(room / 2)));
  const headers: Record<string, string> = {
    Title: headerText(message.title),
    Priority: NTFY_PRIORITY[message.severity],
    Tags: [NTFY_TAG[message.severity], message.event, ...(message.app ? [message.app] : [])].join(","),
  };
  if (message.url) headers.Click = message.url;
  return { headers, body: truncate(parts.join("\n\n") || message.title, 4000) };
}

// ── Email ──

export function emailContent(message: NotificationMessage): { subject: string; text: string; html: string } {
  const subject = truncate(`[Switchyard] ${oneLine(message.title)}`, 200);
  const list = facts(message);
  const text = [
    message.title,
    ...(message.text.trim() ? ["", message.text] : []),
    ...(list.length > 0 ? ["", ...list.map((f) => `${f.label}: ${f.value}`)] : []),
    ...(message.lines.length > 0 ? ["", "Last lines:", ...message.lines.map((l) => `    ${l}`)] : []),
    ...(message.url ? ["", `${LINK_LABEL}: ${message.url}`] : []),
    "",
    "--",
    `Sent by Switchyard (${message.event}) at ${message.at}.`,
    "",
  ].join("\n");
  const color = SEVERITY_HEX[message.severity];
  const rows = list
    .map(
      (f) =>
        `<tr><td style="padding:4px 12px 4px 0;color:#6b7280;vertical-align:top">${htmlEscape(f.label)}</td><td style="padding:4px 0">${htmlEscape(f.value)}</td></tr>`,
    )
    .join("");
  const html = [
    "<!doctype html>",
    '<html><body style="margin:0;padding:24px;background:#f9fafb;font-family:system-ui,-apple-system,Segoe UI,sans-serif;color:#111827">',
    `<div style="max-width:640px;margin:0 auto;background:#fff;border:1px solid #e5e7eb;border-top:4px solid ${color};border-radius:6px;padding:20px">`,
    `<h1 style="font-size:18px;margin:0 0 12px">${htmlEscape(message.title)}</h1>`,
    ...(message.text.trim() ? [`<p style="margin:0 0 12px;white-space:pre-wrap">${htmlEscape(message.text)}</p>`] : []),
    ...(rows ? [`<table style="border-collapse:collapse;font-size:14px;margin:0 0 12px">${rows}</table>`] : []),
    ...(message.lines.length > 0
      ? [
          `<pre style="background:#111827;color:#e5e7eb;padding:12px;border-radius:4px;font-size:12px;overflow-x:auto;white-space:pre-wrap">${htmlEscape(message.lines.join("\n"))}</pre>`,
        ]
      : []),
    ...(message.url
      ? [
          `<p style="margin:16px 0 0"><a href="${htmlEscape(message.url)}" style="background:${color};color:#fff;padding:8px 14px;border-radius:4px;text-decoration:none">${LINK_LABEL}</a></p>`,
        ]
      : []),
    `<p style="margin:20px 0 0;font-size:12px;color:#9ca3af">Sent by Switchyard (${htmlEscape(message.event)}) at ${htmlEscape(message.at)}.</p>`,
    "</div></body></html>",
  ].join("\n");
  return { subject, text, html };
}

// ── Signed webhook ──

export const SIGNATURE_HEADER = "X-Switchyard-Signature";
export const TIMESTAMP_HEADER = "X-Switchyard-Timestamp";
export const EVENT_HEADER = "X-Switchyard-Event";

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: the timestamp is signed too, so a replay cannot be re-dated. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export function webhookRequest(
  message: NotificationMessage,
  secret: string,
  now: Date = new Date(),
): { headers: Record<string, string>; body: string; timestamp: number } {
  const body = JSON.stringify(message);
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    body,
    timestamp,
    headers: {
      "Content-Type": "application/json",
      [EVENT_HEADER]: message.event,
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body),
    },
  };
}
