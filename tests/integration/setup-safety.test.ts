/**
 * First-run setup cannot be claimed from outside: a request addressed to a host name the panel
 * does not answer to (a DNS-rebound page) is refused, and creating the owner needs the one-time
 * setup code the panel prints at start and keeps in `<dataDir>/setup-code`.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopPrivateNginx } from "../../backend/adapters/proxy/index.ts";
import { ConfigError, loadConfig } from "../../backend/config.ts";
import { countUsers } from "../../backend/db/queries/users.ts";
import { createLogger } from "../../backend/log.ts";
import { startPanel } from "../../backend/main.ts";
import { freshDatabase, TEST_DB, type TestDatabase } from "../helpers/database.ts";
import { createTestApi, type TestApi, type TestResponse } from "../helpers/panel.ts";
import { freePort } from "../helpers/ports.ts";

const ROOT = join(import.meta.dir, "..", "..");
const OWNER = { email: "owner@example.com", password: "correct-horse-battery", name: "Owner" };
const CODE_FORMAT = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

describe(`first-run setup safety (${TEST_DB})`, () => {
  let api: TestApi;
  afterEach(async () => {
    await api?.close();
  });

  const codeFile = () => join(api.config.dataDir, "setup-code");
  /** The code as the panel keeps it (GET /setup makes sure there is one while setup is needed). */
  async function currentCode(): Promise<string> {
    expect((await api.request("GET", "/api/v1/setup")).status).toBe(200);
    return readFileSync(codeFile(), "utf8").trim();
  }
  async function nothingCreated(): Promise<void> {
    expect(await countUsers(api.services.db)).toBe(0);
    expect((await api.request("GET", "/api/v1/setup")).body).toEqual({ needed: true, codeRequired: true });
  }

  test("a DNS-rebound request (foreign Host, matching Origin) is refused with 421 and creates nothing", async () => {
    api = await createTestApi();
    const code = await currentCode().catch(() => "0000-0000-0000");
    const rebound = await api.request("POST", "/api/v1/setup", {
      body: { ...OWNER, code },
      headers: { host: "attacker.example:3323" },
      origin: "http://attacker.example:3323",
    });
    expect(rebound.status).toBe(421);
    expect(rebound.body.error.code).toBe("unknown_host");
    expect(rebound.body.error.message).toContain("attacker.example");
    expect(rebound.body.error.message).toContain("SWITCHYARD_ALLOWED_HOSTS");
    expect(rebound.headers.getSetCookie()).toEqual([]);
    await nothingCreated();
    // Reading is refused too (a rebound page must not read the API), and so is the GUI.
    for (const path of ["/api/v1/setup", "/api/v1/health", "/", "/setup"]) {
      const res = await api.request("GET", path, { headers: { host: "attacker.example:3323" } });
      expect(res.status).toBe(421);
      expect(res.body.error.code).toBe("unknown_host");
    }
  });

  test("the panel answers to its public URL's host, loopback names, IP addresses and SWITCHYARD_ALLOWED_HOSTS only", async () => {
    api = await createTestApi({
      config: { SWITCHYARD_PUBLIC_URL: "https://panel.example.com", SWITCHYARD_ALLOWED_HOSTS: "Panel.Internal, ops.example.net" },
    });
    const status = async (host: string) => (await api.request("GET", "/api/v1/health", { headers: { host } })).status;
    for (const host of [
      "panel.example.com",
      "PANEL.example.com:443",
      "panel.example.com.",
      "localhost:3000",
      "app.localhost:3000",
      "127.0.0.1:3000",
      "127.3.4.5",
      "[::1]:3000",
      "203.0.113.7",
      "[2001:db8::1]:8443",
      "panel.internal",
      "ops.example.net:8080",
    ]) {
      expect([host, await status(host)]).toEqual([host, 200]);
    }
    for (const host of [
      "attacker.example",
      "panel.example.com.attacker.example",
      "localhost.attacker.example",
      "127.0.0.1.nip.io",
      "example.com",
      "bad host",
      "user@panel.example.com",
    ]) {
      expect([host, await status(host)]).toEqual([host, 421]);
    }
    expect(() => loadConfig({ SWITCHYARD_ALLOWED_HOSTS: "ok.example.com,not a host" })).toThrow(ConfigError);
  });

  test("setup needs the code: without it or with a wrong one nothing is written; the right one works once", async () => {
    api = await createTestApi();
    expect((await api.request("GET", "/api/v1/setup")).body).toEqual({ needed: true, codeRequired: true });
    const code = await currentCode();
    expect(code).toMatch(CODE_FORMAT);
    expect(statSync(codeFile()).mode & 0o777).toBe(0o600);
    // The same code while setup is needed.
    expect(await currentCode()).toBe(code);

    const missing = await api.request("POST", "/api/v1/setup", { body: OWNER });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toContain("code");
    await nothingCreated();

    const wrongCode = code === "AAAA-AAAA-AAAA" ? "BBBB-BBBB-BBBB" : "AAAA-AAAA-AAAA";
    for (const wrong of [wrongCode, code.slice(0, -1), "", `${code}X`]) {
      const res = await api.request("POST", "/api/v1/setup", { body: { ...OWNER, code: wrong } });
      expect([wrong, res.status]).toEqual([wrong, wrong === "" ? 400 : 403]);
      if (wrong !== "") expect(res.body.error.code).toBe("invalid_setup_code");
      expect(res.headers.getSetCookie()).toEqual([]);
    }
    await nothingCreated();
    expect(readFileSync(codeFile(), "utf8").trim()).toBe(code);

    // Typed loosely (lower case, spaces instead of dashes) it is still the code.
    const ok = await api.request("POST", "/api/v1/setup", { body: { ...OWNER, code: ` ${code.toLowerCase().replaceAll("-", " ")} ` } });
    expect(ok.status).toBe(201);
    expect(ok.headers.getSetCookie().some((c) => c.startsWith("sy_session="))).toBe(true);
    expect(existsSync(codeFile())).toBe(false);
    expect((await api.request("GET", "/api/v1/setup")).body).toEqual({ needed: false, codeRequired: true });
    expect(existsSync(codeFile())).toBe(false);

    const again = await api.request("POST", "/api/v1/setup", { body: { ...OWNER, email: "second@example.com", code } });
    expect(again.status).toBe(409);
    expect(await countUsers(api.services.db)).toBe(1);
  });

  test("wrong codes are rate-limited per address: then even the right code waits (429)", async () => {
    api = await createTestApi();
    const code = await currentCode();
    let limited: TestResponse | null = null;
    for (let i = 0; i < 50 && !limited; i++) {
      const res = await api.request("POST", "/api/v1/setup", { body: { ...OWNER, code: "WRNG-WRNG-WRNG" } });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(403);
    }
    expect(limited?.body.error.code).toBe("rate_limited");
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThan(0);
    const right = await api.request("POST", "/api/v1/setup", { body: { ...OWNER, code } });
    expect(right.status).toBe(429);
    await nothingCreated();
  });
});

describe(`the setup code across panel starts (${TEST_DB})`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-setup-code-"));
  let external: TestDatabase | null = null;
  afterAll(async () => {
    // The panel's stop leaves its nginx running for the next start; a test's must not.
    await stopPrivateNginx(dataDir).catch(() => {});
    await external?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) =>
    Bun.spawnSync([process.execPath, join(ROOT, "backend/cli.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_LOG_LEVEL: "silent", DATABASE_URL: external?.url ?? "" },
    });

  test("a restart keeps the code; `switchyard setup-code` prints it; the code is gone once the owner exists", async () => {
    if (TEST_DB === "postgres") {
      external = await freshDatabase();
      await external.close();
    }
    const config = loadConfig({
      SWITCHYARD_DATA_DIR: dataDir,
      PORT: "0",
      SWITCHYARD_PROXY_PORT: String(freePort()),
      SWITCHYARD_PROXY_TLS_PORT: String(freePort()),
      SWITCHYARD_LOG_LEVEL: "silent",
      ...(external?.url ? { DATABASE_URL: external.url } : {}),
    });
    const overrides = { log: createLogger("silent"), guiDir: null };
    const file = join(dataDir, "setup-code");

    const first = await startPanel(config, overrides);
    const code = readFileSync(file, "utf8").trim();
    expect(code).toMatch(CODE_FORMAT);
    await first.stop();

    const second = await startPanel(config, overrides);
    try {
      expect(readFileSync(file, "utf8").trim()).toBe(code);
      const printed = cli("setup-code");
      expect(printed.stderr.toString()).toBe("");
      expect(printed.exitCode).toBe(0);
      expect(printed.stdout.toString()).toContain(code);

      // Over real HTTP: the rebound request with the right code is still refused.
      const post = (host: string | null, origin: string, body: unknown) =>
        fetch(`${second.url}/api/v1/setup`, {
          method: "POST",
          headers: { "content-type": "application/json", origin, ...(host ? { host } : {}) },
          body: JSON.stringify(body),
        });
      const rebound = await post("attacker.example:3323", "http://attacker.example:3323", { ...OWNER, code });
      expect(rebound.status).toBe(421);
      expect(existsSync(file)).toBe(true);
      const ok = await post(null, second.url, { ...OWNER, code });
      expect(ok.status).toBe(201);
      expect(existsSync(file)).toBe(false);

      const done = cli("setup-code");
      expect(done.exitCode).toBe(0);
      expect(done.stdout.toString()).toContain("already set up");
    } finally {
      await second.stop();
      await second.services.proxy.stop();
    }

    // A later start with the owner in place makes no new code.
    const third = await startPanel(config, overrides);
    try {
      expect(existsSync(file)).toBe(false);
    } finally {
      await third.stop();
      await third.services.proxy.stop();
    }
  }, 120_000);
});
