import { afterEach, describe, expect, test } from "bun:test";
import { and, desc, eq } from "drizzle-orm";
import { createSession } from "../../backend/auth/sessions.ts";
import { createUser, findUserByEmail } from "../../backend/db/queries/users.ts";
import { auditLog, sessions } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";

const OWNER = "owner@example.com";
const OWNER_PASSWORD = "correct-horse-battery";
const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI_IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

describe(`your account: password and sessions (${TEST_DB})`, () => {
  let api: TestApi;
  afterEach(async () => {
    await api?.close();
  });

  async function addUser(owner: string, email: string, role: string, password = "a-long-password-1"): Promise<string> {
    const res = await api.request("POST", "/api/v1/users", { cookie: owner, body: { email, name: email, password, role } });
    expect(res.status).toBe(201);
    return res.body.user.id;
  }

  async function signIn(email: string, password: string, userAgent = FIREFOX_LINUX): Promise<string> {
    const res = await api.request("POST", "/api/v1/auth/login", { body: { email, password }, headers: { "user-agent": userAgent } });
    expect(res.status).toBe(200);
    return cookieFrom(res.headers);
  }

  async function newToken(cookie: string): Promise<string> {
    const res = await api.request("POST", "/api/v1/tokens", { cookie, body: { name: "ci" } });
    expect(res.status).toBe(201);
    return res.body.token;
  }

  const me = async (auth: { cookie?: string; token?: string }) => (await api.request("GET", "/api/v1/auth/me", auth)).status;
  const changePassword = (cookie: string, body: Record<string, unknown>) => api.request("POST", "/api/v1/auth/password", { cookie, body });

  test("a password change needs the right current password, keeps this session, signs out the others and keeps API tokens", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    await addUser(owner, "dev@example.com", "deployer");
    const laptop = await signIn("dev@example.com", "a-long-password-1", FIREFOX_LINUX);
    const phone = await signIn("dev@example.com", "a-long-password-1", SAFARI_IPHONE);
    const token = await newToken(laptop);

    const wrong = await changePassword(laptop, { currentPassword: "not-my-password", newPassword: "a-new-password-2" });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe("invalid_password");
    expect(wrong.body.error.message).toBe("Your current password is not right.");
    expect(await me({ cookie: phone })).toBe(200);

    const missing = await changePassword(laptop, { newPassword: "a-new-password-2" });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toBe("currentPassword is required.");
    const short = await changePassword(laptop, { currentPassword: "a-long-password-1", newPassword: "short" });
    expect(short.status).toBe(400);
    expect(short.body.error.message).toBe("newPassword: must be at least 10 characters.");
    const same = await changePassword(laptop, { currentPassword: "a-long-password-1", newPassword: "a-long-password-1" });
    expect(same.status).toBe(400);
    expect(same.body.error.message).toBe("newPassword: must differ from the current password.");
    // Nothing changed by the refused attempts.
    expect(
      (await api.request("POST", "/api/v1/auth/login", { body: { email: "dev@example.com", password: "a-long-password-1" } })).status,
    ).toBe(200);

    const ok = await changePassword(laptop, { currentPassword: "a-long-password-1", newPassword: "a-new-password-2" });
    expect(ok.status).toBe(200);
    // The two sessions signed in by this test's `signIn`s plus the login just above, less this one.
    expect(ok.body).toEqual({ signedOutSessions: 2, revokedTokens: 0 });
    expect(await me({ cookie: laptop })).toBe(200);
    expect(await me({ cookie: phone })).toBe(401);
    expect(await me({ token })).toBe(200);
    expect(
      (await api.request("POST", "/api/v1/auth/login", { body: { email: "dev@example.com", password: "a-long-password-1" } })).status,
    ).toBe(401);
    await signIn("dev@example.com", "a-new-password-2");

    const [entry] = await api.services.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.action, "auth.password_changed"))
      .orderBy(desc(auditLog.id))
      .limit(1);
    expect(entry?.actor).toBe("dev@example.com");
    expect(entry?.details).toEqual({ signedOutSessions: 2, revokedTokens: 0 });
    const failed = await api.services.db.select().from(auditLog).where(eq(auditLog.action, "auth.password_check_failed"));
    expect(failed.map((f) => f.details)).toEqual([{ during: "password-change" }]);
  });

  test("a password change revokes API tokens when asked, and can leave the other sessions signed in", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const other = await signIn(OWNER, OWNER_PASSWORD, SAFARI_IPHONE);
    const token = await newToken(owner);
    const res = await changePassword(owner, {
      currentPassword: OWNER_PASSWORD,
      newPassword: "a-new-password-2",
      signOutOtherSessions: false,
      revokeTokens: true,
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ signedOutSessions: 0, revokedTokens: 1 });
    expect(await me({ token })).toBe(401);
    expect(await me({ cookie: owner })).toBe(200);
    expect(await me({ cookie: other })).toBe(200);
    expect((await api.request("GET", "/api/v1/tokens", { cookie: owner })).body.tokens).toEqual([]);

    const badFlag = await changePassword(owner, {
      currentPassword: "a-new-password-2",
      newPassword: "a-third-password-3",
      revokeTokens: "yes",
    });
    expect(badFlag.status).toBe(400);
    expect(badFlag.body.error.message).toBe("revokeTokens: must be true or false.");
  });

  test("wrong current passwords are throttled like failed sign-ins, and the right one waits too", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      statuses.push((await changePassword(owner, { currentPassword: `guess-number-${i}`, newPassword: "a-new-password-2" })).status);
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(400));
    expect(statuses[10]).toBe(429);
    const right = await changePassword(owner, { currentPassword: OWNER_PASSWORD, newPassword: "a-new-password-2" });
    expect(right.status).toBe(429);
    expect(right.body.error.code).toBe("rate_limited");
    expect(Number(right.headers.get("retry-after"))).toBeGreaterThan(0);
    // The guesses count against the account's sign-in allowance, as failed sign-ins do; an address
    // the owner signed in from before keeps its own and still gets in.
    await signIn(OWNER, OWNER_PASSWORD);
  });

  test("an account without a password (GitHub sign-in) is told so", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    await createUser(api.services.db, { email: "octo@example.com", name: "Octo", passwordHash: null, role: "viewer" });
    const user = await findUserByEmail(api.services.db, "octo@example.com");
    const { token } = await createSession(api.services.db, user?.id as string);
    const res = await changePassword(`sy_session=${token}`, { currentPassword: "anything-at-all", newPassword: "a-new-password-2" });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("has no password");
    expect(await me({ cookie: owner })).toBe(200);
  });

  test("PATCH /users/:id cannot change one's own password; it points to /auth/password", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const { id } = (await api.request("GET", "/api/v1/auth/me", { cookie: owner })).body.user;
    const res = await api.request("PATCH", `/api/v1/users/${id}`, { cookie: owner, body: { password: "changed-without-current" } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("POST /api/v1/auth/password");
    expect(await me({ cookie: owner })).toBe(200);
    expect((await api.request("POST", "/api/v1/auth/login", { body: { email: OWNER, password: "changed-without-current" } })).status).toBe(
      401,
    );
    // The name is still one's own to change there.
    expect((await api.request("PATCH", `/api/v1/users/${id}`, { cookie: owner, body: { name: "Grace" } })).status).toBe(200);
  });

  test("the sessions list shows device, address, last seen and which one is current", async () => {
    api = await createTestApi();
    await api.setupOwner(OWNER, OWNER_PASSWORD);
    const laptop = await signIn(OWNER, OWNER_PASSWORD, FIREFOX_LINUX);
    await signIn(OWNER, OWNER_PASSWORD, SAFARI_IPHONE);
    await signIn(OWNER, OWNER_PASSWORD, CHROME_WINDOWS);

    const res = await api.request("GET", "/api/v1/auth/sessions", { cookie: laptop });
    expect(res.status).toBe(200);
    const list = res.body.sessions as { id: string; device: string; ip: string; current: boolean; lastSeenAt: string; createdAt: string }[];
    expect(list).toHaveLength(4); // setup's session too
    expect(list.map((s) => s.device).sort()).toEqual(["Chrome on Windows", "Firefox on Linux", "Safari on iOS", "Unknown device"]);
    expect(list.filter((s) => s.current).map((s) => s.device)).toEqual(["Firefox on Linux"]);
    for (const s of list) {
      expect(s.ip).toBe("127.0.0.1");
      expect(s.id).toMatch(/^[0-9a-f]{16}$/);
      expect(Number.isNaN(Date.parse(s.lastSeenAt))).toBe(false);
      expect(Number.isNaN(Date.parse(s.createdAt))).toBe(false);
    }
    // The public id is not the session's stored id (the hash of the cookie's secret).
    const stored = await api.services.db.select({ id: sessions.id }).from(sessions);
    for (const s of list) expect(stored.some((row) => row.id.startsWith(s.id))).toBe(false);

    // With an API token there is no current session.
    const token = await newToken(laptop);
    const viaToken = await api.request("GET", "/api/v1/auth/sessions", { token });
    expect(viaToken.body.sessions.some((s: { current: boolean }) => s.current)).toBe(false);
  });

  test("last seen is kept fresh as requests arrive, written at most once a minute", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const [row] = await api.services.db.select().from(sessions);
    const sessionId = row?.id as string;
    const lastSeen = async () =>
      (await api.services.db.select({ at: sessions.lastSeenAt }).from(sessions).where(eq(sessions.id, sessionId)))[0]?.at.getTime();

    const hourAgo = new Date(Date.now() - 3_600_000);
    await api.services.db.update(sessions).set({ lastSeenAt: hourAgo }).where(eq(sessions.id, sessionId));
    expect(await me({ cookie: owner })).toBe(200);
    const fresh = (await lastSeen()) as number;
    expect(fresh).toBeGreaterThan(hourAgo.getTime() + 3_500_000);

    // Within the minute, a request does not write it again.
    const recent = new Date(fresh - 30_000);
    await api.services.db.update(sessions).set({ lastSeenAt: recent }).where(eq(sessions.id, sessionId));
    expect(await me({ cookie: owner })).toBe(200);
    expect(await lastSeen()).toBe(recent.getTime());
    const listed = (await api.request("GET", "/api/v1/auth/sessions", { cookie: owner })).body.sessions;
    expect(listed[0].lastSeenAt).toBe(recent.toISOString());
  });

  test("signing out one session, the others, or all of them", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const phone = await signIn(OWNER, OWNER_PASSWORD, SAFARI_IPHONE);
    const desktop = await signIn(OWNER, OWNER_PASSWORD, CHROME_WINDOWS);
    const token = await newToken(owner);

    const list = (await api.request("GET", "/api/v1/auth/sessions", { cookie: owner })).body.sessions as { id: string; device: string }[];
    const phoneId = list.find((s) => s.device === "Safari on iOS")?.id as string;
    const one = await api.request("DELETE", `/api/v1/auth/sessions/${phoneId}`, { cookie: owner });
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ signedOut: 1 });
    expect(await me({ cookie: phone })).toBe(401);
    expect(await me({ cookie: desktop })).toBe(200);
    expect((await api.request("DELETE", `/api/v1/auth/sessions/${phoneId}`, { cookie: owner })).status).toBe(404);
    expect((await api.request("DELETE", "/api/v1/auth/sessions/not-an-id", { cookie: owner })).status).toBe(400);

    await signIn(OWNER, OWNER_PASSWORD, SAFARI_IPHONE);
    const others = await api.request("DELETE", "/api/v1/auth/sessions", { cookie: owner });
    expect(others.status).toBe(200);
    expect(others.body).toEqual({ signedOut: 2 });
    expect(others.headers.getSetCookie()).toEqual([]);
    expect(await me({ cookie: desktop })).toBe(401);
    expect(await me({ cookie: owner })).toBe(200);
    expect((await api.request("GET", "/api/v1/auth/sessions", { cookie: owner })).body.sessions).toHaveLength(1);

    await signIn(OWNER, OWNER_PASSWORD, CHROME_WINDOWS);
    const all = await api.request("DELETE", "/api/v1/auth/sessions?all=1", { cookie: owner });
    expect(all.status).toBe(200);
    expect(all.body).toEqual({ signedOut: 2 });
    expect(all.headers.getSetCookie().some((c) => c.startsWith("sy_session=;") && c.includes("Max-Age=0"))).toBe(true);
    expect(await me({ cookie: owner })).toBe(401);
    // Signing out of sessions leaves API tokens alone.
    expect(await me({ token })).toBe(200);
    expect((await api.request("GET", "/api/v1/auth/sessions", { token })).body.sessions).toEqual([]);

    const audited = await api.services.db
      .select({ action: auditLog.action })
      .from(auditLog)
      .where(and(eq(auditLog.actor, OWNER)))
      .orderBy(auditLog.id);
    const actions = audited.map((a) => a.action);
    expect(actions).toContain("auth.session_ended");
    expect(actions).toContain("auth.sessions_ended_others");
    expect(actions).toContain("auth.sessions_ended_all");
  });

  test("signing out the current session by its id signs this browser out", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const current = (await api.request("GET", "/api/v1/auth/sessions", { cookie: owner })).body.sessions[0];
    expect(current.current).toBe(true);
    const res = await api.request("DELETE", `/api/v1/auth/sessions/${current.id}`, { cookie: owner });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie().some((c) => c.startsWith("sy_session=;"))).toBe(true);
    expect(await me({ cookie: owner })).toBe(401);
  });

  test("a user can neither see nor end another user's sessions", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    await addUser(owner, "viewer@example.com", "viewer");
    const viewer = await signIn("viewer@example.com", "a-long-password-1", SAFARI_IPHONE);

    const ownerIds = ((await api.request("GET", "/api/v1/auth/sessions", { cookie: owner })).body.sessions as { id: string }[]).map(
      (s) => s.id,
    );
    const viewerList = (await api.request("GET", "/api/v1/auth/sessions", { cookie: viewer })).body.sessions as { id: string }[];
    expect(viewerList).toHaveLength(1);
    expect(viewerList.some((s) => ownerIds.includes(s.id))).toBe(false);

    for (const id of ownerIds) {
      const res = await api.request("DELETE", `/api/v1/auth/sessions/${id}`, { cookie: viewer });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
    // "Sign out everywhere" is the viewer's own everywhere.
    expect((await api.request("DELETE", "/api/v1/auth/sessions?all=1", { cookie: viewer })).body).toEqual({ signedOut: 1 });
    expect(await me({ cookie: owner })).toBe(200);
    expect(await me({ cookie: viewer })).toBe(401);
    expect((await api.request("GET", "/api/v1/auth/sessions")).status).toBe(401);
  });
});
