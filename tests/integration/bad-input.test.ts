import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { count, eq } from "drizzle-orm";
import { encryptHookSecret, setAppHook } from "../../backend/db/queries/github.ts";
import { apiTokens, apps, envVars, users, webhookDeliveries } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

/** Bad input is a 4xx that names the field, and nothing of it is saved. */
describe(`bad input is refused whole (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let token: string;
  let repo: TestRepo;

  beforeAll(async () => {
    api = await createTestApi();
    repo = await createRepo({ "index.html": "<h1>test</h1>" });
    cookie = await api.setupOwner();
    const created = await api.request("POST", "/api/v1/tokens", { cookie, body: { name: "fuzz" } });
    token = created.body.token;
    const app = await api.request("POST", "/api/v1/apps", { token, body: { name: "app1", repoUrl: repo.url } });
    expect(app.status).toBe(201);
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  const rows = async (table: typeof apiTokens | typeof users | typeof envVars | typeof apps | typeof webhookDeliveries) =>
    (await api.services.db.select({ n: count() }).from(table))[0]?.n ?? 0;

  function expectRefused(res: { status: number; body: any }, status: number, field: RegExp): void {
    expect({ status: res.status, code: typeof res.body?.error?.code }).toEqual({ status, code: "string" });
    expect(res.body.error.message).toMatch(field);
  }

  test("a NUL byte in the login email is a 400 naming email", async () => {
    const res = await api.request("POST", "/api/v1/auth/login", { body: { email: "owner@example.com\u0000", password: "x-password" } });
    expectRefused(res, 400, /^email\b/);
  });

  test("a NUL byte in a token name is a 400 naming name, and no token is stored", async () => {
    const before = await rows(apiTokens);
    const res = await api.request("POST", "/api/v1/tokens", { token, body: { name: "ci\u0000bot" } });
    expectRefused(res, 400, /^name\b/);
    expect(await rows(apiTokens)).toBe(before);
  });

  test("a NUL byte in a user's name is a 400 naming name, and no user is stored", async () => {
    const before = await rows(users);
    const res = await api.request("POST", "/api/v1/users", {
      token,
      body: { email: "nul@example.com", name: "Nu\u0000ll", password: "correct-horse-battery", role: "viewer" },
    });
    expectRefused(res, 400, /^name\b/);
    expect(await rows(users)).toBe(before);
  });

  test("a token named with a lone surrogate is a 400 naming name, and no token is stored", async () => {
    const before = await rows(apiTokens);
    const res = await api.request("POST", "/api/v1/tokens", {
      token,
      raw: '{"name":"\\ud800"}',
      headers: { "content-type": "application/json" },
    });
    expectRefused(res, 400, /^name\b.*surrogate/);
    expect(await rows(apiTokens)).toBe(before);
  });

  test("a 140,000-character env key is a 400 naming the key, and nothing is stored", async () => {
    const res = await api.request("PUT", "/api/v1/apps/app1/env", { token, body: { vars: [{ key: "K".repeat(140_000), value: "v" }] } });
    expectRefused(res, 400, /^vars\.0\.key\b.*256/);
    expect(await rows(envVars)).toBe(0);
  });

  test("a value over 64 KiB, or an environment over 1 MiB in all, is refused by name", async () => {
    const big = await api.request("PUT", "/api/v1/apps/app1/env", {
      token,
      body: { vars: [{ key: "BIG", value: "x".repeat(65 * 1024) }] },
    });
    expectRefused(big, 400, /^vars\.0\.value\b/);
    const many = Array.from({ length: 20 }, (_, i) => ({ key: `PART_${i}`, value: "y".repeat(60 * 1024) }));
    const total = await api.request("PUT", "/api/v1/apps/app1/env", { token, body: { vars: many } });
    expectRefused(total, 400, /^vars\b.*1 MiB/);
    expect(await rows(envVars)).toBe(0);
  });

  test("__proto__ as an env key is refused, not silently dropped", async () => {
    const res = await api.request("PUT", "/api/v1/apps/app1/env", { token, raw: '{"vars":[{"key":"__proto__","value":"x"}]}' });
    expectRefused(res, 400, /^vars\.0\.key\b.*__proto__/);
    expect(await rows(envVars)).toBe(0);
  });

  test("HOST and PORT, which the platform sets, are refused by name", async () => {
    for (const key of ["HOST", "PORT"]) {
      const res = await api.request("PUT", "/api/v1/apps/app1/env", {
        token,
        body: {
          vars: [
            { key: "OK", value: "1" },
            { key, value: "0.0.0.0" },
          ],
        },
      });
      expectRefused(res, 400, new RegExp(`^vars\\.1\\.key\\b.*${key}.*set by Switchyard`));
    }
    expect(await rows(envVars)).toBe(0);
  });

  test("an app name holding the preview separator -- is refused (app1--blue would take app1's preview host)", async () => {
    const before = await rows(apps);
    for (const name of ["app1--blue", "app1--green", "a--b"]) {
      const res = await api.request("POST", "/api/v1/apps", { token, body: { name, repoUrl: repo.url } });
      expectRefused(res, 400, /^name\b.*--/);
    }
    expect(await rows(apps)).toBe(before);
  });

  test("a repository URL must be absolute: file:relative and scheme-only forms are refused", async () => {
    const before = await rows(apps);
    for (const repoUrl of ["file:relative", "file:relative/path.git", "file:/abs/but/one-slash", "https:example.com/a.git", "http:/a/b"]) {
      const res = await api.request("POST", "/api/v1/apps", { token, body: { name: "relrepo", repoUrl } });
      expectRefused(res, 400, /^repoUrl\b/);
      const patched = await api.request("PATCH", "/api/v1/apps/app1", { token, body: { repoUrl } });
      expectRefused(patched, 400, /^repoUrl\b/);
    }
    expect(await rows(apps)).toBe(before);
    const [app1] = await api.services.db.select().from(apps).where(eq(apps.name, "app1"));
    expect(app1?.repoUrl).toBe(repo.url);
  });

  test("the 5 MB webhook limit counts bytes: a signed 15.7 MB chunked body is a 413 and is not stored", async () => {
    const [app1] = await api.services.db.select().from(apps).where(eq(apps.name, "app1"));
    if (!app1) throw new Error("app1 is missing");
    const secret = "fuzz-hook-secret";
    await api.services.db.update(apps).set({ githubRepo: "acme/app1" }).where(eq(apps.id, app1.id));
    await setAppHook(api.services.db, app1.id, { id: 1, secretEncrypted: encryptHookSecret(api.services.masterKey, app1.id, secret) });
    // 5.2 million characters of a 3-byte character: under 5 Mi UTF-16 units, 15.7 MB of UTF-8.
    const body = JSON.stringify({ zen: "€".repeat(5_230_000), repository: { full_name: "acme/app1" } });
    const bytes = new TextEncoder().encode(body);
    expect(body.length).toBeLessThan(5 * 1024 * 1024);
    expect(bytes.byteLength).toBeGreaterThan(15_000_000);
    const signature = `sha256=${createHmac("sha256", secret).update(bytes).digest("hex")}`;
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.byteLength; at += 1 << 20) controller.enqueue(bytes.subarray(at, at + (1 << 20)));
        controller.close();
      },
    });
    const before = await rows(webhookDeliveries);
    const res = await api.app.fetch(
      new Request("http://localhost:3000/api/v1/webhooks/github?app=app1", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "ping",
          "x-github-delivery": "big-1",
          "x-hub-signature-256": signature,
        },
        body: chunked,
      }),
    );
    const answer = (await res.json()) as { error?: { code: string; message: string } };
    expect({ status: res.status, code: answer.error?.code }).toEqual({ status: 413, code: "payload_too_large" });
    expect(await rows(webhookDeliveries)).toBe(before);
  });

  test("a JSON body counts bytes too, read as a stream with no Content-Length", async () => {
    const body = new TextEncoder().encode(JSON.stringify({ name: "€".repeat(400_000) }));
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body);
        controller.close();
      },
    });
    const res = await api.app.fetch(
      new Request("http://localhost:3000/api/v1/tokens", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: chunked,
      }),
    );
    expect(res.status).toBe(413);
  });
});
