import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { desc } from "drizzle-orm";
import { auditLog } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";

describe(`auth API (${TEST_DB})`, () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await createTestApi();
  });
  afterEach(async () => {
    await api.close();
  });

  test("health names the database driver", async () => {
    const res = await api.request("GET", "/api/v1/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok", database: TEST_DB });
    expect(res.body.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  test("setup works once, then answers 409", async () => {
    expect((await api.request("GET", "/api/v1/setup")).body).toEqual({ needed: true, codeRequired: true });
    const cookie = await api.setupOwner();
    expect(cookie).toMatch(/^sy_session=[a-z2-7]{32}$/);
    expect((await api.request("GET", "/api/v1/setup")).body).toEqual({ needed: false, codeRequired: true });
    const again = await api.request("POST", "/api/v1/setup", { body: { email: "x@example.com", password: "another-password", name: "X" } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("already_set_up");
  });

  test("the session cookie is HttpOnly and SameSite=Lax, and me returns the owner", async () => {
    const res = await api.request("POST", "/api/v1/setup", {
      body: { email: "Owner@Example.com", password: "correct-horse-battery", name: "Owner", code: await api.setupCode() },
    });
    const setCookie = res.headers.getSetCookie()[0] ?? "";
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Lax");
    expect(setCookie).not.toContain("Secure");
    const me = await api.request("GET", "/api/v1/auth/me", { cookie: cookieFrom(res.headers) });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ email: "Owner@Example.com", role: "owner", name: "Owner" });
    expect(me.body.user.passwordHash).toBeUndefined();
  });

  test("login with a wrong password or unknown email is the same 401", async () => {
    await api.setupOwner();
    const wrongPassword = await api.request("POST", "/api/v1/auth/login", {
      body: { email: "owner@example.com", password: "nope-nope-nope" },
    });
    const unknownUser = await api.request("POST", "/api/v1/auth/login", {
      body: { email: "nobody@example.com", password: "nope-nope-nope" },
    });
    expect(wrongPassword.status).toBe(401);
    expect(unknownUser.status).toBe(401);
    expect(wrongPassword.body).toEqual(unknownUser.body);
    expect(wrongPassword.body.error.message).not.toMatch(/password is wrong|no such user|unknown/i);
  });

  test("login (case-insensitive email), me, logout", async () => {
    await api.setupOwner();
    const login = await api.request("POST", "/api/v1/auth/login", {
      body: { email: "OWNER@example.com", password: "correct-horse-battery" },
    });
    expect(login.status).toBe(200);
    const cookie = cookieFrom(login.headers);
    expect((await api.request("GET", "/api/v1/auth/me", { cookie })).status).toBe(200);
    const out = await api.request("POST", "/api/v1/auth/logout", { cookie });
    expect(out.status).toBe(204);
    expect(out.headers.getSetCookie()[0]).toContain("Max-Age=0");
    expect((await api.request("GET", "/api/v1/auth/me", { cookie })).status).toBe(401);
  });

  test("the 11th rapid wrong login is 429 with Retry-After, even with the right password", async () => {
    await api.setupOwner();
    for (let i = 0; i < 10; i++) {
      const res = await api.request("POST", "/api/v1/auth/login", {
        body: { email: "owner@example.com", password: `wrong-${i}-password` },
      });
      expect(res.status).toBe(401);
    }
    const blocked = await api.request("POST", "/api/v1/auth/login", {
      body: { email: "owner@example.com", password: "correct-horse-battery" },
    });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe("rate_limited");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("per-IP limit covers guesses spread over many accounts", async () => {
    await api.setupOwner();
    for (let i = 0; i < 30; i++) {
      await api.request("POST", "/api/v1/auth/login", { body: { email: `user${i}@example.com`, password: "wrong-password" } });
    }
    const blocked = await api.request("POST", "/api/v1/auth/login", {
      body: { email: "owner@example.com", password: "correct-horse-battery" },
    });
    expect(blocked.status).toBe(429);
  });

  test("a cookie-authenticated POST from a foreign Origin, or with none, is 403", async () => {
    const cookie = await api.setupOwner();
    const foreign = await api.request("POST", "/api/v1/tokens", { cookie, origin: "https://evil.example", body: { name: "x" } });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe("origin_mismatch");
    const missing = await api.request("POST", "/api/v1/tokens", { cookie, origin: null, body: { name: "x" } });
    expect(missing.status).toBe(403);
    const same = await api.request("POST", "/api/v1/tokens", { cookie, body: { name: "x" } });
    expect(same.status).toBe(201);
  });

  test("malformed JSON and missing fields are 400s naming the problem", async () => {
    const bad = await api.request("POST", "/api/v1/setup", { raw: "{not json", headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_json");
    const missing = await api.request("POST", "/api/v1/setup", { body: { email: "a@example.com", password: "long-enough-pw" } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe("validation_failed");
    expect(missing.body.error.message).toContain("name");
    expect(missing.body.error.details.issues[0].path).toBe("name");
    const badEmail = await api.request("POST", "/api/v1/setup", { body: { email: "not-an-email", password: "long-enough-pw", name: "A" } });
    expect(badEmail.body.error.message).toContain("email");
    expect((await api.request("GET", "/api/v1/setup")).body.needed).toBe(true);
  });

  test("an oversized body is 413", async () => {
    const res = await api.request("POST", "/api/v1/setup", { raw: JSON.stringify({ name: "x".repeat(2 * 1024 * 1024) }) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
  });

  test("unknown API paths are JSON 404s, wrong methods 405", async () => {
    const res = await api.request("GET", "/api/v1/does-not-exist");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.body.error.code).toBe("not_found");
    const wrongMethod = await api.request("DELETE", "/api/v1/health");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET");
  });

  test("API tokens authenticate with Bearer, need no Origin, and can be revoked", async () => {
    const cookie = await api.setupOwner();
    const created = await api.request("POST", "/api/v1/tokens", { cookie, body: { name: "ci" } });
    expect(created.body.token).toMatch(/^sy_/);
    const token = created.body.token as string;
    const me = await api.request("GET", "/api/v1/auth/me", { token });
    expect(me.body.user.role).toBe("owner");
    const list = await api.request("GET", "/api/v1/tokens", { token });
    expect(JSON.stringify(list.body)).not.toContain(token);
    expect((await api.request("POST", "/api/v1/tokens", { token, origin: null, body: { name: "from-token" } })).status).toBe(201);
    expect((await api.request("DELETE", `/api/v1/tokens/${created.body.id}`, { token })).status).toBe(204);
    const revoked = await api.request("GET", "/api/v1/auth/me", { token });
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.code).toBe("invalid_token");
  });

  test("roles are enforced: a viewer cannot manage users; the owner can", async () => {
    const cookie = await api.setupOwner();
    const created = await api.request("POST", "/api/v1/users", {
      cookie,
      body: { email: "viewer@example.com", name: "Vi", password: "viewer-password", role: "viewer" },
    });
    expect(created.status).toBe(201);
    const login = await api.request("POST", "/api/v1/auth/login", { body: { email: "viewer@example.com", password: "viewer-password" } });
    const viewer = cookieFrom(login.headers);
    const denied = await api.request("GET", "/api/v1/users", { cookie: viewer });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toContain("admin");
    expect((await api.request("GET", "/api/v1/users", { cookie })).body.users).toHaveLength(2);
    const grantOwner = await api.request("PATCH", `/api/v1/users/${created.body.user.id}`, { cookie, body: { role: "owner" } });
    expect(grantOwner.status).toBe(403);
  });

  test("every mutation leaves an audit row with who, what and from where", async () => {
    const cookie = await api.setupOwner();
    await api.request("POST", "/api/v1/tokens", { cookie, body: { name: "audited" }, headers: { "user-agent": "test-agent" } });
    await api.request("POST", "/api/v1/auth/login", { body: { email: "owner@example.com", password: "wrong-password" } });
    const rows = await api.services.db.select().from(auditLog).orderBy(desc(auditLog.id));
    const actions = rows.map((r) => r.action);
    expect(actions).toEqual(["auth.login_failed", "token.created", "setup.owner_created"]);
    expect(rows[1]).toMatchObject({ actor: "owner@example.com", ip: "127.0.0.1", userAgent: "test-agent" });
    expect(rows[1]?.at).toBeInstanceOf(Date);
  });
});
