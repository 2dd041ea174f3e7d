import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";

export const VERSION: string = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string })
  .version;

const urlString = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

const schema = z
  .object({
    SWITCHYARD_MODE: z.enum(["local", "server"], { error: "must be 'local' or 'server'" }).default("local"),
    SWITCHYARD_DATA_DIR: z.string().min(1).optional(),
    DATABASE_URL: z
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
    SWITCHYARD_SECRET_KEY: z
      .string()
      .refine((v) => decodeKey(v) !== null, "must be 32 bytes as base64 or 64 hex characters")
      .optional(),
    SWITCHYARD_PUBLIC_URL: urlString.default("http://localhost:3000"),
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
  secretKey: Buffer | null;
  publicUrl: URL;
  github: { clientId: string; clientSecret: string; url: string; apiUrl: string } | null;
  githubUrl: string;
  githubApiUrl: string;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** A running job without a heartbeat for this long belongs to a dead panel. */
  jobStaleSeconds: number;
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
  if (!existsSync(file)) return env;
  return { ...parseEnvFile(readFileSync(file, "utf8")), ...env };
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
    secretKey: v.SWITCHYARD_SECRET_KEY ? decodeKey(v.SWITCHYARD_SECRET_KEY) : null,
    publicUrl: new URL(v.SWITCHYARD_PUBLIC_URL),
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
  };
}
