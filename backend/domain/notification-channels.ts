/**
 * What each kind of channel needs, which of it is secret, and how an edit keeps a secret the
 * client only saw masked. Pure: the host check (DNS) and the sending are the adapter's.
 */
import { z } from "zod";
import type { ChannelKind } from "../contract/api.ts";
import { MASK } from "./masking.ts";

export const SMTP_SECURITY = ["starttls", "tls", "none"] as const;
export type SmtpSecurity = (typeof SMTP_SECURITY)[number];

export interface EmailConfig {
  host: string;
  port: number;
  security: SmtpSecurity;
  username: string | null;
  password: string | null;
  from: string;
  to: string[];
  /** Off only for a relay with a self-signed certificate one trusts anyway. */
  verifyCertificate: boolean;
}
export interface SlackConfig {
  webhookUrl: string;
}
export interface DiscordConfig {
  webhookUrl: string;
}
export interface TelegramConfig {
  botToken: string;
  chatId: string;
  apiBaseUrl: string;
}
export interface NtfyConfig {
  serverUrl: string;
  topic: string;
  token: string | null;
}
export interface WebhookConfig {
  url: string;
  signingSecret: string;
}

export interface ChannelConfigs {
  email: EmailConfig;
  slack: SlackConfig;
  discord: DiscordConfig;
  telegram: TelegramConfig;
  ntfy: NtfyConfig;
  webhook: WebhookConfig;
}

/** The fields stored encrypted and answered as "••••". */
export const SECRET_FIELDS: { [K in ChannelKind]: readonly (keyof ChannelConfigs[K] & string)[] } = {
  email: ["password"],
  slack: ["webhookUrl"],
  discord: ["webhookUrl"],
  telegram: ["botToken"],
  ntfy: ["token"],
  webhook: ["url", "signingSecret"],
};

export const DEFAULT_SMTP_PORTS: Record<SmtpSecurity, number> = { starttls: 587, tls: 465, none: 25 };
export const DEFAULT_TELEGRAM_API = "https://api.telegram.org";
export const DEFAULT_NTFY_SERVER = "https://ntfy.sh";

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
const IPV6 = /^\[?[0-9a-f:.]+\]?$/i;
const ADDRESS = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;
/** "ops@example.com" or "Switchyard <ops@example.com>". */
const NAMED_ADDRESS = /^[^<>\r\n"]{0,100}<([^\s@<>]+@[^\s@<>]+)>$/;

const str = (what: string) => z.string({ error: `must be ${what}` }).trim();

const httpUrl = (what: string) =>
  str(what)
    .max(2000, "must be at most 2000 characters")
    .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), `must be an http:// or https:// URL (${what})`);

const baseUrl = (what: string, fallback: string) =>
  httpUrl(what)
    .refine((v) => !new URL(v).search && !new URL(v).hash, "must not have a query or a fragment")
    .transform((v) => v.replace(/\/+$/, ""))
    .optional()
    .transform((v) => v || fallback);

const emailAddress = str("an email address like ops@example.com")
  .max(320, "must be at most 320 characters")
  .refine((v) => ADDRESS.test(v), "must be an email address like ops@example.com");

const sender = str('an address like ops@example.com or "Switchyard <ops@example.com>"')
  .max(420, "must be at most 420 characters")
  .refine(
    (v) => ADDRESS.test(v) || ADDRESS.test(NAMED_ADDRESS.exec(v)?.[1] ?? ""),
    'must be an address like ops@example.com or "Switchyard <ops@example.com>"',
  );

const optionalText = (what: string, max: number) =>
  z
    .union([str(what).max(max, `must be at most ${max} characters`), z.null()], { error: `must be ${what}` })
    .optional()
    .transform((v) => v || null);

const emailSchema = z
  .strictObject({
    host: str("the SMTP server's host name")
      .toLowerCase()
      .refine((v) => HOST_NAME.test(v) || (v.includes(":") && IPV6.test(v)), "must be a host name or IP address like smtp.example.com")
      .transform((v) => v.replace(/^\[|\]$/g, "").replace(/\.$/, "")),
    port: z
      .number({ error: "must be a port number" })
      .int("must be a whole number")
      .min(1, "must be 1-65535")
      .max(65535, "must be 1-65535")
      .optional(),
    security: z.enum(SMTP_SECURITY, { error: `must be one of ${SMTP_SECURITY.join(", ")}` }).default("starttls"),
    username: optionalText("the SMTP user name", 320),
    password: optionalText("the SMTP password", 1000),
    from: sender,
    to: z
      .union(
        [
          z.array(emailAddress, { error: "must be a list of email addresses" }),
          str("a list of email addresses").transform((v) =>
            v
              .split(/[,;\s]+/)
              .map((a) => a.trim())
              .filter(Boolean),
          ),
        ],
        { error: "must be a list of email addresses" },
      )
      .pipe(
        z
          .array(emailAddress, { error: "must be a list of email addresses" })
          .min(1, "must name at least one address")
          .max(20, "must be at most 20 addresses"),
      )
      .transform((list) => [...new Set(list)]),
    verifyCertificate: z.boolean({ error: "must be true or false" }).default(true),
  })
  .superRefine((v, ctx) => {
    if (v.username && !v.password) ctx.addIssue({ code: "custom", path: ["password"], message: "is required with a user name" });
    if (v.password && !v.username) ctx.addIssue({ code: "custom", path: ["username"], message: "is required with a password" });
  })
  .transform((v): EmailConfig => ({ ...v, port: v.port ?? DEFAULT_SMTP_PORTS[v.security] }));

const webhookUrlOf = (what: string) => z.strictObject({ webhookUrl: httpUrl(what) });

const telegramSchema = z.strictObject({
  botToken: str("the bot's token from @BotFather, like 123456:ABC-DEF…").regex(
    /^\d{1,20}:[A-Za-z0-9_-]{20,100}$/,
    "must be the bot's token from @BotFather, like 123456789:AAF…",
  ),
  chatId: z
    .union([z.number().int().transform(String), str("a chat id")], { error: "must be a chat id like -1001234567890 or @channelname" })
    .pipe(z.string().regex(/^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$/, "must be a chat id like -1001234567890 or @channelname")),
  apiBaseUrl: baseUrl("the Bot API's base URL", DEFAULT_TELEGRAM_API),
});

const ntfySchema = z.strictObject({
  serverUrl: baseUrl("the ntfy server's URL", DEFAULT_NTFY_SERVER),
  topic: str("a topic name").regex(/^[-_A-Za-z0-9]{1,64}$/, "must be a topic name: 1-64 letters, digits, dashes or underscores"),
  token: optionalText("an access token", 500),
});

const webhookSchema = z.strictObject({
  url: httpUrl("the URL that receives the POSTs"),
  signingSecret: z
    .union([str("the signing secret").min(16, "must be at least 16 characters").max(500, "must be at most 500 characters"), z.null()], {
      error: "must be the signing secret (at least 16 characters)",
    })
    .optional(),
});

const SCHEMAS = {
  email: emailSchema,
  slack: webhookUrlOf("the Slack incoming webhook's URL"),
  discord: webhookUrlOf("the Discord webhook's URL"),
  telegram: telegramSchema,
  ntfy: ntfySchema,
  webhook: webhookSchema,
} satisfies Record<ChannelKind, z.ZodType>;

export type ConfigCheck<K extends ChannelKind = ChannelKind> =
  | { ok: true; config: Omit<ChannelConfigs[K], "signingSecret"> & { signingSecret?: string | null } }
  | { ok: false; field: string; message: string };

/** Checks a channel's whole configuration; a problem names its field as `config.<name>`. */
export function parseChannelConfig<K extends ChannelKind>(kind: K, raw: unknown): ConfigCheck<K> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return { ok: false, field: "config", message: "must be an object" };
  const parsed = (SCHEMAS[kind] as z.ZodType).safeParse(raw);
  if (parsed.success) return { ok: true, config: parsed.data as ConfigCheck<K> extends { config: infer C } ? C : never };
  const issue = parsed.error.issues[0];
  if (issue?.code === "unrecognized_keys") {
    const key = issue.keys[0] ?? "";
    return { ok: false, field: `config.${key}`, message: `is not a setting of a ${kind} channel` };
  }
  const path = (issue?.path ?? []).map(String);
  // A field left out fails as a wrong type (or no member of a union) against undefined; say it plainly.
  const missing = issue?.code !== "custom" && path.length > 0 && getPath(raw, path) === undefined;
  return { ok: false, field: ["config", ...path].join("."), message: missing ? "is required" : (issue?.message ?? "is not valid") };
}

function getPath(value: unknown, path: string[]): unknown {
  let at = value;
  for (const key of path) at = at && typeof at === "object" ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}

/** A checked configuration split into what may be shown and what is stored encrypted (null and absent secrets are left out). */
export function splitConfig(
  kind: ChannelKind,
  whole: Record<string, unknown>,
): { config: Record<string, unknown>; secret: Record<string, string> } {
  const secretFields = SECRET_FIELDS[kind] as readonly string[];
  const config: Record<string, unknown> = {};
  const secret: Record<string, string> = {};
  for (const [key, value] of Object.entries(whole)) {
    if (!secretFields.includes(key)) config[key] = value;
    else if (typeof value === "string" && value !== "") secret[key] = value;
  }
  return { config, secret };
}

/** The configuration as answered: every stored secret present as "••••". */
export function maskedConfig(kind: ChannelKind, shown: Record<string, unknown>, secretKeys: Iterable<string>): Record<string, unknown> {
  const masked: Record<string, unknown> = { ...shown };
  const stored = new Set(secretKeys);
  for (const key of SECRET_FIELDS[kind] as readonly string[]) if (stored.has(key)) masked[key] = MASK;
  return masked;
}

/**
 * The configuration an edit asks for: the stored one with the given fields over it (null removes
 * an optional one); a secret sent back as "••••" keeps its stored value.
 */
export function mergeConfig(
  kind: ChannelKind,
  stored: { config: Record<string, unknown>; secret: Record<string, string> },
  patch: Record<string, unknown>,
): { ok: true; config: Record<string, unknown> } | { ok: false; field: string; message: string } {
  const merged: Record<string, unknown> = { ...stored.config, ...stored.secret };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return keepMasked(kind, merged, stored.secret);
}

/** "••••" stands for the stored secret; where none is stored it is a mistake, not a value. */
export function keepMasked(
  kind: ChannelKind,
  config: Record<string, unknown>,
  stored: Record<string, string>,
): { ok: true; config: Record<string, unknown> } | { ok: false; field: string; message: string } {
  const out = { ...config };
  for (const [key, value] of Object.entries(config)) {
    if (value !== MASK) continue;
    if (!(SECRET_FIELDS[kind] as readonly string[]).includes(key) || stored[key] === undefined) {
      return {
        ok: false,
        field: `config.${key}`,
        message: `is "${MASK}", which stands for a stored secret, and none is stored: give the value`,
      };
    }
    out[key] = stored[key];
  }
  return { ok: true, config: out };
}
