/** Mail through the configured SMTP server: STARTTLS, TLS from the first byte, or plain. */
import { isIP } from "node:net";
import type { NotificationMessage } from "../../contract/api.ts";
import type { EmailConfig } from "../../domain/notification-channels.ts";
import { EVENT_HEADER, emailContent } from "./format.ts";
import type { PostOutcome } from "./http.ts";
import { networkReason } from "./http.ts";

export async function sendEmail(config: EmailConfig, message: NotificationMessage, timeoutMs: number): Promise<PostOutcome> {
  // Loaded on the first mail: an idle panel does not carry the SMTP client.
  const { default: nodemailer } = await import("nodemailer");
  const transport = nodemailer.createTransport({
    host: config.host,
    port: config.port,
    secure: config.security === "tls",
    requireTLS: config.security === "starttls",
    ignoreTLS: config.security === "none",
    ...(config.username && config.password ? { auth: { user: config.username, pass: config.password } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    // SNI carries a name, never an address.
    tls: { rejectUnauthorized: config.verifyCertificate, ...(isIP(config.host) ? {} : { servername: config.host }) },
  });
  const { subject, text, html } = emailContent(message);
  try {
    const info = await transport.sendMail({
      from: config.from,
      to: config.to,
      subject,
      text,
      html,
      headers: { [EVENT_HEADER]: message.event },
    });
    return { ok: true, status: replyCode(info.response), error: null };
  } catch (error) {
    return {
      ok: false,
      status: smtpCode(error),
      error: `the mail server ${config.host}:${config.port} ${smtpReason(error, config, timeoutMs)}`,
    };
  } finally {
    transport.close();
  }
}

function replyCode(response: unknown): number | null {
  const match = typeof response === "string" ? /^(\d{3})/.exec(response) : null;
  return match ? Number(match[1]) : null;
}

function smtpCode(error: unknown): number | null {
  const code = (error as { responseCode?: unknown }).responseCode;
  return typeof code === "number" ? code : null;
}

function smtpReason(error: unknown, config: EmailConfig, timeoutMs: number): string {
  const e = error as { code?: string; response?: string; message?: string; command?: string; cause?: unknown };
  const said = (e.response ?? "").replace(/\s+/g, " ").trim();
  switch (e.code) {
    case "EAUTH":
      return `refused the sign-in as ${config.username ?? "(no user)"}${said ? `: ${said}` : ""}`;
    case "ENOAUTH":
      return "asks for a sign-in: set a user name and password";
    case "ETLS":
      return `could not start TLS: ${e.message ?? "handshake failed"}`;
    case "EENVELOPE":
      return `refused the sender or recipients${said ? `: ${said}` : ""}`;
    case "EMESSAGE":
      return `refused the message${said ? `: ${said}` : ""}`;
    case "ETIMEDOUT":
      return `did not answer within ${Math.round(timeoutMs / 100) / 10} s`;
    default: {
      const inner = (e.cause ?? error) as { code?: string; message?: string };
      if (/certificate|self[- ]signed/i.test(inner.message ?? "") || /CERT|SELF_SIGNED/.test(inner.code ?? "")) {
        return `has a TLS certificate that is not trusted (${inner.message ?? inner.code}): use a trusted certificate, or turn off verifyCertificate`;
      }
      if (config.security === "starttls" && /STARTTLS/i.test(e.message ?? "")) {
        return "does not offer STARTTLS: choose security tls or none";
      }
      if (said) return `answered: ${said}`;
      // A socket error reaches us as "connect ECONNREFUSED 127.0.0.1:25" under a code of nodemailer's own.
      const system = /\b(E[A-Z]{4,}|EAI_[A-Z]+)\b/.exec(inner.message ?? "")?.[1];
      return `could not be reached: ${networkReason(system ? { code: system, message: inner.message } : inner, timeoutMs)}`;
    }
  }
}
