import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { and, desc, eq } from "drizzle-orm";
import { hashPassword } from "../../backend/auth/passwords.ts";
import { findUserByEmail, resetPassword } from "../../backend/db/queries/users.ts";
import { auditLog } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";

const CHECKOUT = join(import.meta.dir, "..", "..");
const OWNER = "owner@example.com";
const OWNER_PASSWORD = "correct-horse-battery";

describe(`account safety (${TEST_DB})`, () => {
  let api: TestApi;
  afterEach(async () => {
    await api?.close();
  });

  async function addUser(owner: string, email: string, role: string, password = "a-long-password-1"): Promise<string> {
    const res = await api.request("POST", "/api/v1/users", { cookie: owner, body: { email, name: email, password, role } });
    expect(res.status).toBe(201);
    return res.body.user.id;
  }

  async function login(email: string, password: string, headers: Record<string, string> = {}) {
    return api.request("POST", "/api/v1/auth/login", { body: { email, password }, headers });
  }

  async function signIn(email: string, password: string): Promise<string> {
    const res = await login(email, password);
    expect(res.status).toBe(200);
    return cookieFrom(res.headers);
  }

  async function newToken(cookie: string): Promise<string> {
    const res = await api.request("POST", "/api/v1/tokens", { cookie, body: { name: "ci" } });
    expect(res.status).toBe(201);
    return res.body.token;
  }

  test("an admin cannot change, demote or delete another admin; the owner can", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const aliceId = await addUser(owner, "alice@example.com", "admin");
    const bobId = await addUser(owner, "bob@example.com", "admin", "bobs-own-password");
    const deployerId = await addUser(owner, "dev@example.com", "deployer");
    const alice = await signIn("alice@example.com", "a-long-password-1");

    for (const body of [{ password: "taken-over-password" }, { role: "viewer" }, { name: "Mallory" }]) {
      const res = await api.request("PATCH", `/api/v1/users/${bobId}`, { cookie: alice, body });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
    }
    expect((await api.request("DELETE", `/api/v1/users/${bobId}`, { cookie: alice })).status).toBe(403);
    expect((await login("bob@example.com", "taken-over-password")).status).toBe(401);
    const bob = await login("bob@example.com", "bobs-own-password");
    expect(bob.status).toBe(200);
    expect(bob.body.user.role).toBe("admin");

    // An admin still manages deployers and viewers, and their own name and password.
    expect((await api.request("PATCH", `/api/v1/users/${deployerId}`, { cookie: alice, body: { role: "viewer" } })).status).toBe(200);
    expect((await api.request("PATCH", `/api/v1/users/${aliceId}`, { cookie: alice, body: { name: "Alice A." } })).status).toBe(200);
    expect((await api.request("DELETE", `/api/v1/users/${deployerId}`, { cookie: alice })).status).toBe(204);

    expect((await api.request("PATCH", `/api/v1/users/${bobId}`, { cookie: owner, body: { role: "viewer" } })).status).toBe(200);
    expect((await api.request("DELETE", `/api/v1/users/${bobId}`, { cookie: owner })).status).toBe(204);
  });

  test("a password reset through the API revokes sessions and API tokens; changing one's own password keeps tokens", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const devId = await addUser(owner, "dev@example.com", "deployer");
    const adminId = await addUser(owner, "admin@example.com", "admin");
    const dev = await signIn("dev@example.com", "a-long-password-1");
    const devToken = await newToken(dev);
    expect((await api.request("GET", "/api/v1/auth/me", { token: devToken })).status).toBe(200);

    expect((await api.request("PATCH", `/api/v1/users/${devId}`, { cookie: owner, body: { password: "reset-by-owner-1" } })).status).toBe(
      200,
    );
    expect((await api.request("GET", "/api/v1/auth/me", { token: devToken })).status).toBe(401);
    expect((await api.request("GET", "/api/v1/auth/me", { cookie: dev })).status).toBe(401);
    expect(
      (await api.request("GET", "/api/v1/tokens", { cookie: await signIn("dev@example.com", "reset-by-owner-1") })).body.tokens,
    ).toEqual([]);

    const admin = await signIn("admin@example.com", "a-long-password-1");
    const adminToken = await newToken(admin);
    expect(
      (await api.request("PATCH", `/api/v1/users/${adminId}`, { cookie: admin, body: { password: "my-new-password-2" } })).status,
    ).toBe(400);
    const changed = await api.request("POST", "/api/v1/auth/password", {
      cookie: admin,
      body: { currentPassword: "a-long-password-1", newPassword: "my-new-password-2" },
    });
    expect(changed.status).toBe(200);
    expect((await api.request("GET", "/api/v1/auth/me", { token: adminToken })).status).toBe(200);
  });

  test("reset-password from the command line revokes the user's sessions and API tokens", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const token = await newToken(owner);
    expect((await api.request("GET", "/api/v1/auth/me", { token })).status).toBe(200);

    if (api.database.url) {
      const cli = Bun.spawnSync(
        [process.execPath, join(CHECKOUT, "backend/cli.ts"), "reset-password", OWNER, "--password", "after-the-reset-1"],
        {
          cwd: CHECKOUT,
          env: { ...process.env, SWITCHYARD_DATA_DIR: api.config.dataDir, SWITCHYARD_LOG_LEVEL: "warn", DATABASE_URL: api.database.url },
          stdout: "pipe",
          stderr: "pipe",
        },
      );
      expect(cli.stderr.toString()).toBe("");
      expect(cli.exitCode).toBe(0);
    } else {
      // An in-memory PGlite cannot be opened by a second process: call what the command calls.
      const user = await findUserByEmail(api.services.db, OWNER);
      await resetPassword(api.services.db, user?.id as string, await hashPassword("after-the-reset-1"));
    }
    expect((await api.request("GET", "/api/v1/auth/me", { token })).status).toBe(401);
    expect((await api.request("GET", "/api/v1/auth/me", { cookie: owner })).status).toBe(401);
    expect((await login(OWNER, "after-the-reset-1")).status).toBe(200);
  });

  test("forwarded addresses from a TCP peer are ignored: forged headers neither dodge the throttle nor reach the audit log", async () => {
    api = await createTestApi();
    await api.setupOwner(OWNER, OWNER_PASSWORD);
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const forged = `198.51.100.${i + 1}`;
      const res = await login(`nobody${i}@example.com`, "wrong-password-1", { "x-forwarded-for": forged, "x-real-ip": forged });
      statuses.push(res.status);
    }
    expect(statuses).toContain(429);
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    const [row] = await api.services.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.action, "auth.login_failed"))
      .orderBy(desc(auditLog.at))
      .limit(1);
    expect(row?.ip).not.toStartWith("198.51.100.");
  });

  test("behind nginx on the unix socket, its X-Real-IP is the client's address", async () => {
    api = await createTestApi({ config: { SWITCHYARD_SOCKET: join("/tmp", `sy-${crypto.randomUUID()}.sock`) } });
    await api.setupOwner(OWNER, OWNER_PASSWORD);
    expect((await login(OWNER, "wrong-password-1", { "x-real-ip": "203.0.113.7", "x-forwarded-for": "203.0.113.7" })).status).toBe(401);
    const [row] = await api.services.db.select().from(auditLog).where(eq(auditLog.action, "auth.login_failed")).limit(1);
    expect(row?.ip).toBe("203.0.113.7");
  });

  test("strangers' failures lock strangers out of the account, not an address it signed in from before", async () => {
    api = await createTestApi({ config: { SWITCHYARD_SOCKET: join("/tmp", `sy-${crypto.randomUUID()}.sock`) } });
    await api.setupOwner(OWNER, OWNER_PASSWORD);
    const home = { "x-real-ip": "203.0.113.5" };
    expect((await login(OWNER, OWNER_PASSWORD, home)).status).toBe(200);

    const attacker = [] as number[];
    for (let i = 0; i < 12; i++) attacker.push((await login(OWNER, "wrong-password-1", { "x-real-ip": `198.51.100.${i + 1}` })).status);
    expect(attacker.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(attacker.slice(10)).toEqual([429, 429]);
    // A stranger with the right password is still turned away while the account is throttled.
    expect((await login(OWNER, OWNER_PASSWORD, { "x-real-ip": "192.0.2.44" })).status).toBe(429);

    const owner = await login(OWNER, OWNER_PASSWORD, home);
    expect(owner.status).toBe(200);
    const signedIn = await api.services.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, "auth.login"), eq(auditLog.ip, "203.0.113.5")));
    expect(signedIn.length).toBe(2);

    // The known address has its own allowance: guessing from there is throttled too.
    const fromHome = [] as number[];
    for (let i = 0; i < 11; i++) fromHome.push((await login(OWNER, "wrong-password-1", home)).status);
    expect(fromHome.at(-1)).toBe(429);
  });
});
