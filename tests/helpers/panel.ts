import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RateLimiter } from "../../backend/auth/rate-limit.ts";
import { type Config, loadConfig } from "../../backend/config.ts";
import { createHttpApp, type HttpApp } from "../../backend/http/server.ts";
import { createLogger } from "../../backend/log.ts";
import { createServices, startBackground, stopBackground } from "../../backend/main.ts";
import type { Services } from "../../backend/services.ts";
import { freshDatabase, type TestDatabase } from "./database.ts";
import { freePort } from "./ports.ts";

export const ORIGIN = "http://localhost:3000";

export interface RequestOptions {
  body?: unknown;
  /** Raw body text, sent as is. */
  raw?: string;
  cookie?: string | null;
  token?: string;
  origin?: string | null;
  headers?: Record<string, string>;
}

export interface TestResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** The HTTP app in-process (no port) over a fresh database, with a small request helper. */
export interface TestApi {
  app: HttpApp;
  services: Services;
  database: TestDatabase;
  config: Config;
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<TestResponse<T>>;
  /** The first-run setup code, as the panel keeps it in `<dataDir>/setup-code`. */
  setupCode(): Promise<string>;
  /** Runs setup (with the setup code) and returns the owner's session cookie. */
  setupOwner(email?: string, password?: string): Promise<string>;
  close(): Promise<void>;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ SWITCHYARD_DATA_DIR: "/tmp/switchyard-test-unused", SWITCHYARD_LOG_LEVEL: "silent", ...overrides });
}

export interface TestApiOptions {
  /** Start the event bus and job workers (needed for deploys and SSE). */
  background?: boolean;
  overrides?: Partial<Services>;
  /** Extra configuration, as environment variables (GITHUB_CLIENT_ID, SWITCHYARD_PUBLIC_URL…). */
  config?: Record<string, string>;
}

export async function createTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const database = await freshDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), "sy-data-"));
  const config = testConfig({
    SWITCHYARD_DATA_DIR: dataDir,
    SWITCHYARD_PROXY_PORT: String(freePort()),
    SWITCHYARD_PROXY_TLS_PORT: String(freePort()),
    ...options.config,
  });
  const services = createServices(
    config,
    database,
    {
      log: createLogger(process.env.TEST_LOG === "1" ? "debug" : "silent"),
      guiDir: null,
      masterKey: Buffer.from(crypto.getRandomValues(new Uint8Array(32))),
      limits: { loginByIp: new RateLimiter(30, 60_000), loginByAccount: new RateLimiter(10, 60_000) },
      ...options.overrides,
    },
    { heartbeatMs: 500, pollMs: 250 },
  );
  if (options.background) await startBackground(services);
  const app = createHttpApp(services);

  async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<TestResponse<T>> {
    const headers = new Headers(options.headers);
    if (options.body !== undefined) headers.set("content-type", "application/json");
    if (options.cookie) headers.set("cookie", options.cookie);
    if (options.token) headers.set("authorization", `Bearer ${options.token}`);
    const origin = options.origin === undefined ? (method === "GET" ? null : ORIGIN) : options.origin;
    if (origin) headers.set("origin", origin);
    const res = await app.fetch(
      new Request(`http://localhost:3000${path}`, {
        method,
        headers,
        body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
      }),
    );
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, headers: res.headers, body: body as T };
  }

  async function setupCode(): Promise<string> {
    // GET /setup makes sure there is a code while setup is needed, as the panel's start does.
    await request("GET", "/api/v1/setup");
    return readFileSync(join(config.dataDir, "setup-code"), "utf8").trim();
  }

  async function setupOwner(email = "owner@example.com", password = "correct-horse-battery"): Promise<string> {
    const res = await request("POST", "/api/v1/setup", { body: { email, password, name: "Owner", code: await setupCode() } });
    if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${JSON.stringify(res.body)}`);
    return cookieFrom(res.headers);
  }

  const close = async () => {
    if (options.background) await stopBackground(services);
    // The panel's stop leaves its nginx running for the next start; a test's must not.
    await services.proxy.stop();
    for (const app of await services.runtime.list().catch(() => [])) await services.runtime.remove(app.app).catch(() => {});
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { app, services, database, config, request, setupCode, setupOwner, close };
}

export function cookieFrom(headers: Headers): string {
  const cookie = headers.getSetCookie().find((c) => c.startsWith("sy_session="));
  if (!cookie) throw new Error("no session cookie set");
  return cookie.split(";")[0] as string;
}
