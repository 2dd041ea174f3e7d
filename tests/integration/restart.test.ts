import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../backend/config.ts";
import { createLogger } from "../../backend/log.ts";
import { startPanel } from "../../backend/main.ts";
import { freshDatabase, TEST_DB, type TestDatabase } from "../helpers/database.ts";
import { freePort } from "../helpers/ports.ts";

describe(`panel restart (${TEST_DB})`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-restart-"));
  let external: TestDatabase | null = null;
  afterAll(async () => {
    await external?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("users and sessions survive a restart; the master key is created 0600 and kept", async () => {
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

    const first = await startPanel(config, overrides);
    const origin = first.url;
    const setup = await fetch(`${first.url}/api/v1/setup`, {
      method: "POST",
      headers: { "content-type": "application/json", origin },
      body: JSON.stringify({
        email: "keep@example.com",
        password: "survives-restart",
        name: "Keep",
        code: readFileSync(join(dataDir, "setup-code"), "utf8").trim(),
      }),
    });
    expect(setup.status).toBe(201);
    const cookie = (setup.headers.getSetCookie()[0] ?? "").split(";")[0] as string;
    expect(((await (await fetch(`${first.url}/api/v1/health`)).json()) as { database: string }).database).toBe(TEST_DB);
    const keyFile = join(dataDir, "secret.key");
    const key = await Bun.file(keyFile).text();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    await first.stop();

    const second = await startPanel(config, overrides);
    try {
      const me = await fetch(`${second.url}/api/v1/auth/me`, { headers: { cookie } });
      expect(me.status).toBe(200);
      expect(((await me.json()) as { user: { email: string } }).user.email).toBe("keep@example.com");
      const setupAgain = await fetch(`${second.url}/api/v1/setup`);
      expect(await setupAgain.json()).toEqual({ needed: false, codeRequired: true });
      expect(await Bun.file(keyFile).text()).toBe(key);
    } finally {
      await second.stop();
      // The panel's stop leaves its nginx serving the apps; the test's must not outlive it.
      await second.services.proxy.stop();
    }
  }, 60_000);
});
