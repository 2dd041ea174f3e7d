import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { gitHeadRevision, readText, readTextIfExists } from "./adapters/host.ts";

export const VERSION: string = (JSON.parse(readText(fileURLToPath(new URL("../package.json", import.meta.url)))) as { version: string })
  .version;

/**
 * The git revision of this code: `.revision`, written by the installer and the self-update into
 * each release directory, or the checkout's HEAD; null when neither can be read.
 */
export const REVISION: string | null = readRevision(fileURLToPath(new URL("..", import.meta.url)));

function readRevision(root: string): string | null {
  const text = readTextIfExists(`${root}/.revision`)?.trim() ?? "";
  if (/^[0-9a-f]{7,40}$/.test(text)) return text;
  const head = gitHeadRevision(root) ?? "";
  return /^[0-9a-f]{7,40}$/.test(head) ? head : null;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const urlString = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

const schema = z
  .object({
    SWITCHYARD_MODE: z.enum(["local", "server"], { error: "must be 'local' or 'server'" }).default("local"),
    SWITCHYARD_DATA_DIR: z.string().min(1).optional(),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
      .optional(),
    SWITCHYARD_DATABASE_ADMIN_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
      .optional(),
    PORT: z.coerce
      .number({ error: "must be a port number" })
      .int("must be a whole number")
      .min(0, "must be 0-65535 (0 picks a free port)")
      .max(65535, "must be 0-65535 (0 picks a free port)")
      .default(3000),
    HOST: z.string().min(1, "must not be empty").default("127.0.0.1"),
    SWITCHYARD_PROXY_PORT: z.coerce
      .number({ error: "must be a port number" })
      .int("must be a whole number")
      .min(1, "must be 1-65535")
      .max(65535, "must be 1-65535")
      .optional(),
    SWITCHYARD_PROXY_TLS_PORT: z.coerce
      .number({ error: "must be a port number" })
      .int("must be a whole number")
      .min(1, "must be 1-65535")
      .max(65535, "must be 1-65535")
      .optional(),
    SWITCHYARD_ACME_SERVER: urlString.default("https://acme-v02.api.letsencrypt.org/directory"),
    SWITCHYARD_ACME_CA_BUNDLE: z.string().regex(/^\//, "must be an absolute path").optional(),
    SWITCHYARD_ACME_EMAIL: z.email({ error: "must be an email address" }).optional(),
    SWITCHYARD_DNS_RESOLVER: z
      .string()
      .transform((v) =>
        v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .refine(
        (list) => list.every((s) => /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(:\d{1,5})?$|^[0-9a-fA-F:]+$/.test(s)),
        "must be DNS server addresses separated by commas, like 1.1.1.1 or 127.0.0.1:8053",
      )
      .optional(),
    SWITCHYARD_SECRET_KEY: z
      .string()
      .refine((v) => decodeKey(v) !== null, "must be 32 bytes as base64 or 64 hex characters")
      .optional(),
    SWITCHYARD_PUBLIC_URL: urlString.default("http://localhost:3000"),
    SWITCHYARD_ALLOWED_HOSTS: z
      .string()
      .transform((v) =>
        v
          .split(",")
          .map((name) => name.trim().toLowerCase().replace(/\.$/, ""))
          .filter(Boolean),
      )
      .refine((names) => names.every((name) => HOST_NAME.test(name)), "must be host names separated by commas, like panel.example.com")
      .optional(),
    GITHUB_CLIENT_ID: z.string().min(1).optional(),
    GITHUB_CLIENT_SECRET: z.string().min(1).optional(),
    GITHUB_URL: urlString.default("https://github.com"),
    GITHUB_API_URL: urlString.default("https://api.github.com"),
    SWITCHYARD_LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
    SWITCHYARD_JOB_STALE_SECONDS: z.coerce
      .number({ error: "must be a number of seconds" })
      .int()
      .min(5, "must be at least 5")
      .max(3600)
      .default(30),
    SWITCHYARD_METRICS: z.enum(["on", "off"], { error: "must be 'on' or 'off'" }).default("on"),
    SWITCHYARD_INGEST_MS: z.coerce
      .number({ error: "must be a number of milliseconds" })
      .int()
      .min(100, "must be 100-60000")
      .max(60_000, "must be 100-60000")
      .default(5_000),
    SWITCHYARD_SAMPLE_MS: z.coerce
      .number({ error: "must be a number of milliseconds" })
      .int()
      .min(500, "must be 500-600000")
      .max(600_000, "must be 500-600000")
      .default(10_000),
    SWITCHYARD_APP_USER: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a system user name (lower-case letters, digits, _ and -, at most 32)")
      .refine((v) => v !== "root", "must not be root")
      .default("switchyard-app"),
    SWITCHYARD_SOCKET: z
      .string()
      .regex(/^\/[A-Za-z0-9._\-/]+$/, "must be an absolute path of letters, digits, . _ - /")
      .optional(),
    SWITCHYARD_PANEL_SLOT: z.enum(["blue", "green"], { error: "must be 'blue' or 'green'" }).optional(),
    SWITCHYARD_PANEL_ROOT: z.string().regex(/^\//, "must be an absolute path").optional(),
    SWITCHYARD_UPDATE_SOURCE: z
      .string()
      .regex(/^(\/|file:\/\/\/|https?:\/\/)[^\s]*$/, "must be a directory or a git URL (https://, http://, file:///)")
      .optional(),
    SWITCHYARD_UPDATE_BRANCH: z
      .string()
      .regex(/^(?!-)[A-Za-z0-9._/-]{1,100}$/, "must be a git branch or tag name")
      .default("main"),
    SWITCHYARD_UPDATE_WATCH_SECONDS: z.coerce
      .number({ error: "must be a number of seconds" })
      .int()
      .min(5, "must be at least 5")
      .max(3600)
      .default(60),
  })
  .refine((v) => !v.GITHUB_CLIENT_ID === !v.GITHUB_CLIENT_SECRET, {
    path: ["GITHUB_CLIENT_SECRET"],
    message: "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET must be set together",
  });

export type Mode = "local" | "server";

export interface Config {
  mode: Mode;
  dataDir: string;
  databaseUrl: string | null;
  port: number;
  host: string;
  proxyPort: number;
  /** Where nginx serves apps on https: 8443 locally, 443 on a server (SWITCHYARD_PROXY_TLS_PORT). */
  proxyTlsPort: number;
  /**
   * Certificates: the ACME directory certbot asks (SWITCHYARD_ACME_SERVER, Let's Encrypt's by
   * default), a CA bundle to trust it with (a test CA), and the account's email (else the owner's).
   */
  acme: { server: string; caBundle: string | null; email: string | null };
  /** DNS servers the domain checks ask ("ip" or "ip:port"); empty: the system's resolver. */
  dnsResolvers: string[];
  secretKey: Buffer | null;
  publicUrl: URL;
  /**
   * Host names the panel answers to besides the public URL's, loopback names and IP addresses
   * (`SWITCHYARD_ALLOWED_HOSTS`); any other Host is refused, so a DNS-rebound page cannot reach it.
   */
  allowedHosts: string[];
  github: { clientId: string; clientSecret: string; url: string; apiUrl: string } | null;
  githubUrl: string;
  githubApiUrl: string;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** A running job without a heartbeat for this long belongs to a dead panel. */
  jobStaleSeconds: number;
  /** A unix socket to listen on instead of HOST:PORT (the panel's slots on a server). */
  socket: string | null;
  /**
   * Request metrics (access-log ingestion) and resource sampling. `enabled: false`
   * (SWITCHYARD_METRICS=off) turns both off; the intervals are SWITCHYARD_INGEST_MS / _SAMPLE_MS.
   */
  metrics: { enabled: boolean; ingestMs: number; sampleMs: number };
  /** Local mode, panel run as root: the unprivileged user apps and their builds run as (created when missing). */
  appUser: string;
  /**
   * App databases: `adminUrl` is a PostgreSQL role that may create databases and roles
   * (SWITCHYARD_DATABASE_ADMIN_URL); null falls back to the server of DATABASE_URL.
   */
  databases: { adminUrl: string | null };
  /** The panel's own blue-green slots (server mode; see backend/adapters/panel.ts). */
  panel: {
    /** The slot this process runs in, or null when it was not started as a slot. */
    slot: "blue" | "green" | null;
    /** releases/<revision> and slots/<color> of the panel's own code. */
    root: string;
    /** Where updates come from: the directory or git URL install.sh was given. */
    updateSource: string | null;
    updateBranch: string;
    /** How long a new panel version is watched after the switch before the old one stops. */
    watchSeconds: number;
  };
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Accepts 32 raw bytes as base64 (with or without padding) or as 64 hex characters. */
export function decodeKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, "hex");
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, "base64");
    if (bytes.length === 32) return bytes;
  }
  return null;
}

/** Parses `KEY=value` lines (comments, blank lines, optional quotes); later files do not override. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2] ?? "";
    const quoted = /^(['"])(.*)\1$/.exec(value);
    value = quoted ? (quoted[2] ?? "") : value.replace(/\s+#.*$/, "");
    out[match[1] as string] = value;
  }
  return out;
}

/**
 * The environment as the panel sees it: the process environment wins over the optional env file
 * (`/etc/switchyard/switchyard.env` in server mode, `.env` in local mode).
 */
export function readEnvironment(env: Record<string, string | undefined> = process.env): Record<string, string | undefined> {
  const mode = env.SWITCHYARD_MODE === "server" ? "server" : "local";
  const file = env.SWITCHYARD_ENV_FILE ?? (mode === "server" ? "/etc/switchyard/switchyard.env" : ".env");
  const text = readTextIfExists(file);
  if (text === null) return env;
  return { ...parseEnvFile(text), ...env };
}

export function loadConfig(env: Record<string, string | undefined> = readEnvironment()): Config {
  // Empty strings mean "unset", as in most env-file conventions.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = issue?.path.join(".") || "environment";
    const value = typeof cleaned[variable] === "string" ? ` (got ${JSON.stringify(cleaned[variable])})` : "";
    throw new ConfigError(`Invalid ${variable}${value}: ${issue?.message ?? "invalid value"}`);
  }
  const v = parsed.data;
  const server = v.SWITCHYARD_MODE === "server";
  return {
    mode: v.SWITCHYARD_MODE,
    dataDir: resolve(v.SWITCHYARD_DATA_DIR ?? (server ? "/var/lib/switchyard" : "./.switchyard")),
    databaseUrl: v.DATABASE_URL ?? null,
    port: v.PORT,
    host: v.HOST,
    proxyPort: v.SWITCHYARD_PROXY_PORT ?? (server ? 80 : 8080),
    proxyTlsPort: v.SWITCHYARD_PROXY_TLS_PORT ?? (server ? 443 : 8443),
    acme: { server: v.SWITCHYARD_ACME_SERVER, caBundle: v.SWITCHYARD_ACME_CA_BUNDLE ?? null, email: v.SWITCHYARD_ACME_EMAIL ?? null },
    dnsResolvers: v.SWITCHYARD_DNS_RESOLVER ?? [],
    secretKey: v.SWITCHYARD_SECRET_KEY ? decodeKey(v.SWITCHYARD_SECRET_KEY) : null,
    publicUrl: new URL(v.SWITCHYARD_PUBLIC_URL),
    allowedHosts: v.SWITCHYARD_ALLOWED_HOSTS ?? [],
    github:
      v.GITHUB_CLIENT_ID && v.GITHUB_CLIENT_SECRET
        ? {
            clientId: v.GITHUB_CLIENT_ID,
            clientSecret: v.GITHUB_CLIENT_SECRET,
            url: v.GITHUB_URL.replace(/\/$/, ""),
            apiUrl: v.GITHUB_API_URL.replace(/\/$/, ""),
          }
        : null,
    githubUrl: v.GITHUB_URL.replace(/\/$/, ""),
    githubApiUrl: v.GITHUB_API_URL.replace(/\/$/, ""),
    logLevel: v.SWITCHYARD_LOG_LEVEL,
    jobStaleSeconds: v.SWITCHYARD_JOB_STALE_SECONDS,
    socket: v.SWITCHYARD_SOCKET ?? null,
    metrics: { enabled: v.SWITCHYARD_METRICS === "on", ingestMs: v.SWITCHYARD_INGEST_MS, sampleMs: v.SWITCHYARD_SAMPLE_MS },
    appUser: v.SWITCHYARD_APP_USER,
    databases: { adminUrl: v.SWITCHYARD_DATABASE_ADMIN_URL ?? null },
    panel: {
      slot: v.SWITCHYARD_PANEL_SLOT ?? null,
      root: resolve(v.SWITCHYARD_PANEL_ROOT ?? "/opt/switchyard"),
      updateSource: v.SWITCHYARD_UPDATE_SOURCE ?? null,
      updateBranch: v.SWITCHYARD_UPDATE_BRANCH,
      watchSeconds: v.SWITCHYARD_UPDATE_WATCH_SECONDS,
    },
  };
}
