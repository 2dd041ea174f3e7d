import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { decodeBase32IgnorePadding } from "@oslojs/encoding";
import { generateHOTP, generateTOTP } from "@oslojs/otp";
import { and, eq, inArray } from "drizzle-orm";
import { hashPassword } from "../../backend/auth/passwords.ts";
import { clearTwoFactor, sealTotpKey } from "../../backend/auth/totp.ts";
import { findUserByEmail, resetPassword } from "../../backend/db/queries/users.ts";
import { auditLog, recoveryCodes, users } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

const CHECKOUT = join(import.meta.dir, "..", "..");
const OWNER = "owner@example.com";
const OWNER_PASSWORD = "correct-horse-battery";
const PERIOD_MS = 30_000;

const stepNow = () => Math.floor(Date.now() / PERIOD_MS);

/**
 * What an authenticator app shows, from the key the API gave: the code of a step later than
 * `after` (the last one used), which the server takes while it is within one step of now. When the
 * clock has not moved far enough yet, waits for the next step.
 */
async function nextCode(secret: string, after: number): Promise<{ code: string; step: number }> {
  const key = decodeBase32IgnorePadding(secret);
  const step = Math.max(after + 1, stepNow() - 1);
  await waitFor(() => step <= stepNow() + 1, { what: `TOTP step ${step} to be in the window`, timeoutMs: 65_000, intervalMs: 200 });
  return { code: generateHOTP(key, BigInt(step), 6), step };
}

/** The code an authenticator app shows now, and the time step it belongs to (read around it: the clock may turn in between). */
function currentCode(secret: string): { code: string; step: number } {
  const key = decodeBase32IgnorePadding(secret);
  const before = stepNow();
  const code = generateTOTP(key, 30, 6);
  const step = [before, before + 1].find((s) => generateHOTP(key, BigInt(s), 6) === code) ?? before;
  return { code, step };
}

describe(`two-factor sign-in (${TEST_DB})`, () => {
  let api: TestApi;
  afterEach(async () => {
    await api?.close();
  });

  const login = (body: Record<string, unknown>) => api.request("POST", "/api/v1/auth/login", { body });

  async function actions(userEmail: string): Promise<string[]> {
    const user = await findUserByEmail(api.services.db, userEmail);
    const rows = await api.services.db
      .select({ action: auditLog.action })
      .from(auditLog)
      .where(eq(auditLog.target, `user:${user?.id}`));
    return rows.map((r) => r.action);
  }

  /** Enrols the signed-in user; returns the key, the step its first code used and the recovery codes. */
  async function enrol(cookie: string, password: string) {
    const setup = await api.request("POST", "/api/v1/auth/2fa/setup", { cookie, body: { password } });
    expect(setup.status).toBe(200);
    const secret: string = setup.body.secret;
    const { code, step } = currentCode(secret);
    const enabled = await api.request("POST", "/api/v1/auth/2fa/enable", { cookie, body: { code } });
    expect(enabled.status).toBe(200);
    return { secret, step, firstCode: code, recovery: enabled.body.recoveryCodes as string[] };
  }

  test("enrolment: the password starts it, a first code confirms it, ten recovery codes come back once; the key is sealed", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);

    expect((await api.request("GET", "/api/v1/auth/2fa", { cookie: owner })).body).toEqual({
      enabled: false,
      enabledAt: null,
      recoveryCodesLeft: 0,
      required: false,
    });
    const wrongPassword = await api.request("POST", "/api/v1/auth/2fa/setup", { cookie: owner, body: { password: "not-my-password" } });
    expect(wrongPassword.status).toBe(400);
    expect(wrongPassword.body.error.code).toBe("invalid_password");
    expect((await api.request("POST", "/api/v1/auth/2fa/setup", { cookie: owner, body: {} })).status).toBe(400);
    expect((await api.request("POST", "/api/v1/auth/2fa/enable", { cookie: owner, body: { code: "123456" } })).status).toBe(409);

    const setup = await api.request("POST", "/api/v1/auth/2fa/setup", { cookie: owner, body: { password: OWNER_PASSWORD } });
    expect(setup.status).toBe(200);
    expect(setup.body.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(setup.body.uri);
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.searchParams.get("secret")).toBe(setup.body.secret);
    expect(uri.searchParams.get("issuer")).toBe("Switchyard");
    expect(decodeURIComponent(uri.pathname)).toBe(`/Switchyard:${OWNER}`);
    // Pending: sign-in does not ask for a code yet.
    expect((await login({ email: OWNER, password: OWNER_PASSWORD })).status).toBe(200);

    const key = decodeBase32IgnorePadding(setup.body.secret);
    const wrong = String((Number(generateTOTP(key, 30, 6)) + 500_000) % 1_000_000).padStart(6, "0");
    const refused = await api.request("POST", "/api/v1/auth/2fa/enable", { cookie: owner, body: { code: wrong } });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("invalid_totp");
    expect((await api.request("POST", "/api/v1/auth/2fa/enable", { cookie: owner, body: { code: "12 34" } })).status).toBe(400);

    const enabled = await api.request("POST", "/api/v1/auth/2fa/enable", { cookie: owner, body: { code: generateTOTP(key, 30, 6) } });
    expect(enabled.status).toBe(200);
    expect(enabled.body.enabled).toBe(true);
    expect(enabled.body.recoveryCodesLeft).toBe(10);
    expect(enabled.body.recoveryCodes).toHaveLength(10);
    expect(new Set(enabled.body.recoveryCodes).size).toBe(10);

    const status = await api.request("GET", "/api/v1/auth/2fa", { cookie: owner });
    expect(status.body).toMatchObject({ enabled: true, recoveryCodesLeft: 10, required: false });
    expect(status.body.recoveryCodes).toBeUndefined();
    expect(Number.isNaN(Date.parse(status.body.enabledAt))).toBe(false);

    // At rest: the key sealed, the recovery codes hashed.
    const [row] = await api.services.db.select().from(users).where(eq(users.email, OWNER));
    expect(row?.totpSecret).toStartWith("v1.");
    expect(row?.totpSecret).not.toContain(setup.body.secret);
    const stored = await api.services.db
      .select()
      .from(recoveryCodes)
      .where(eq(recoveryCodes.userId, row?.id as string));
    expect(stored).toHaveLength(10);
    for (const code of enabled.body.recoveryCodes as string[]) {
      expect(stored.some((r) => r.codeHash.includes(code) || r.codeHash.includes(code.replace("-", "")))).toBe(false);
    }

    expect((await api.request("POST", "/api/v1/auth/2fa/setup", { cookie: owner, body: { password: OWNER_PASSWORD } })).status).toBe(409);
    expect((await api.request("POST", "/api/v1/auth/2fa/enable", { cookie: owner, body: { code: "123456" } })).status).toBe(409);
    const audited = await actions(OWNER);
    expect(audited).toContain("auth.2fa_setup");
    expect(audited).toContain("auth.2fa_enabled");
    expect(audited).toContain("auth.2fa_failed");
  });

  test("sign-in asks for the code only after the right password; a code and a recovery code each work once", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    await api.request("POST", "/api/v1/users", {
      cookie: owner,
      body: { email: "plain@example.com", name: "Plain", password: "plain-password-1", role: "viewer" },
    });
    const { secret, step, firstCode, recovery } = await enrol(owner, OWNER_PASSWORD);

    // A wrong password answers the same whether two-factor sign-in is on or not, with or without a code.
    const without2fa = await login({ email: "plain@example.com", password: "wrong-password-1" });
    for (const body of [{ password: "wrong-password-1" }, { password: "wrong-password-1", totp: firstCode }]) {
      const res = await login({ email: OWNER, ...body });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(without2fa.body);
    }

    const needed = await login({ email: OWNER, password: OWNER_PASSWORD });
    expect(needed.status).toBe(401);
    expect(needed.body.error.code).toBe("totp_required");
    expect(needed.headers.getSetCookie()).toEqual([]);

    const reused = await login({ email: OWNER, password: OWNER_PASSWORD, totp: firstCode });
    expect(reused.status).toBe(401);
    expect(reused.body.error.code).toBe("invalid_totp");
    const wrong = String((Number(firstCode) + 1) % 1_000_000).padStart(6, "0");
    expect((await login({ email: OWNER, password: OWNER_PASSWORD, totp: wrong })).body.error.code).toBe("invalid_totp");
    expect((await login({ email: OWNER, password: OWNER_PASSWORD, totp: "12345" })).status).toBe(400);

    // Two sign-ins with the same fresh code at once: exactly one gets in.
    const fresh = await nextCode(secret, step);
    const both = await Promise.all([0, 1].map(() => login({ email: OWNER, password: OWNER_PASSWORD, totp: fresh.code })));
    expect(both.map((r) => r.status).sort()).toEqual([200, 401]);
    const signedIn = both.find((r) => r.status === 200);
    expect((await api.request("GET", "/api/v1/auth/me", { cookie: cookieFrom(signedIn?.headers as Headers) })).status).toBe(200);
    expect((await login({ email: OWNER, password: OWNER_PASSWORD, totp: fresh.code })).body.error.code).toBe("invalid_totp");

    // A recovery code, typed loosely, works once; the same at once from two places: once.
    const first = recovery[0] as string;
    const withRecovery = await login({ email: OWNER, password: OWNER_PASSWORD, recoveryCode: ` ${first.toUpperCase()} ` });
    expect(withRecovery.status).toBe(200);
    expect((await login({ email: OWNER, password: OWNER_PASSWORD, recoveryCode: first })).body.error.code).toBe("invalid_totp");
    const second = recovery[1] as string;
    const race = await Promise.all([0, 1].map(() => login({ email: OWNER, password: OWNER_PASSWORD, recoveryCode: second })));
    expect(race.map((r) => r.status).sort()).toEqual([200, 401]);
    expect((await api.request("GET", "/api/v1/auth/2fa", { cookie: owner })).body.recoveryCodesLeft).toBe(8);

    const audited = await actions(OWNER);
    expect(audited.filter((a) => a === "auth.recovery_code_used")).toHaveLength(2);
    expect(audited.filter((a) => a === "auth.2fa_failed").length).toBeGreaterThanOrEqual(4);
  }, 90_000);

  test("wrong codes count against the same throttle as wrong passwords", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const { secret, step, firstCode } = await enrol(owner, OWNER_PASSWORD);
    const wrong = String((Number(firstCode) + 3) % 1_000_000).padStart(6, "0");
    const limit = api.services.limits.loginByAccount.limit;

    // The right password without a code is not a failure.
    for (let i = 0; i < limit + 2; i++) expect((await login({ email: OWNER, password: OWNER_PASSWORD })).status).toBe(401);
    const statuses: number[] = [];
    for (let i = 0; i < limit + 2; i++) statuses.push((await login({ email: OWNER, password: OWNER_PASSWORD, totp: wrong })).status);
    expect(statuses.slice(0, limit)).toEqual(Array(limit).fill(401));
    expect(statuses.slice(limit)).toEqual([429, 429]);

    // Locked: even the right code waits.
    const fresh = await nextCode(secret, step);
    const locked = await login({ email: OWNER, password: OWNER_PASSWORD, totp: fresh.code });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
  }, 90_000);

  test("recovery codes are regenerated and two-factor sign-in turned off only with the password and a code", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const { recovery } = await enrol(owner, OWNER_PASSWORD);
    const [r0, r1, r2] = recovery as [string, string, string];

    const noPassword = await api.request("POST", "/api/v1/auth/2fa/recovery-codes", { cookie: owner, body: { code: r0 } });
    expect(noPassword.status).toBe(400);
    const badPassword = await api.request("POST", "/api/v1/auth/2fa/recovery-codes", {
      cookie: owner,
      body: { password: "wrong-password-1", code: r0 },
    });
    expect(badPassword.body.error.code).toBe("invalid_password");
    const regenerated = await api.request("POST", "/api/v1/auth/2fa/recovery-codes", {
      cookie: owner,
      body: { password: OWNER_PASSWORD, code: r0 },
    });
    expect(regenerated.status).toBe(200);
    expect(regenerated.body.recoveryCodes).toHaveLength(10);
    expect(regenerated.body.recoveryCodesLeft).toBe(10);
    expect(regenerated.body.recoveryCodes).not.toContain(r1);

    // The old set is void.
    const old = await api.request("POST", "/api/v1/auth/2fa/disable", { cookie: owner, body: { password: OWNER_PASSWORD, code: r1 } });
    expect(old.status).toBe(400);
    expect(old.body.error.code).toBe("invalid_totp");
    expect((await login({ email: OWNER, password: OWNER_PASSWORD, recoveryCode: r2 })).status).toBe(401);

    const fresh = regenerated.body.recoveryCodes[0] as string;
    expect(
      (await api.request("POST", "/api/v1/auth/2fa/disable", { cookie: owner, body: { password: "wrong-password-1", code: fresh } })).body
        .error.code,
    ).toBe("invalid_password");
    const off = await api.request("POST", "/api/v1/auth/2fa/disable", { cookie: owner, body: { password: OWNER_PASSWORD, code: fresh } });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ enabled: false, enabledAt: null, recoveryCodesLeft: 0 });
    expect(
      (await api.request("POST", "/api/v1/auth/2fa/disable", { cookie: owner, body: { password: OWNER_PASSWORD, code: fresh } })).status,
    ).toBe(409);
    expect((await login({ email: OWNER, password: OWNER_PASSWORD })).status).toBe(200);
    const user = await findUserByEmail(api.services.db, OWNER);
    expect(user?.totpSecret).toBeNull();
    expect(
      await api.services.db
        .select()
        .from(recoveryCodes)
        .where(eq(recoveryCodes.userId, user?.id as string)),
    ).toEqual([]);

    const audited = await actions(OWNER);
    for (const action of ["auth.recovery_codes_regenerated", "auth.recovery_code_used", "auth.2fa_disabled", "auth.2fa_failed"]) {
      expect(audited).toContain(action);
    }
  });

  test("the owner's requirement blocks users without two-factor sign-in (cookie and token) until they enrol; the owner needs it first", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const created = await api.request("POST", "/api/v1/users", {
      cookie: owner,
      body: { email: "dev@example.com", name: "Dev", password: "dev-password-12", role: "deployer" },
    });
    expect(created.status).toBe(201);
    const devSignIn = await login({ email: "dev@example.com", password: "dev-password-12" });
    const dev = cookieFrom(devSignIn.headers);
    const token = (await api.request("POST", "/api/v1/tokens", { cookie: dev, body: { name: "ci" } })).body.token as string;

    expect((await api.request("GET", "/api/v1/settings/security", { cookie: owner })).body).toEqual({ requireTwoFactor: false });
    const refused = await api.request("PUT", "/api/v1/settings/security", { cookie: owner, body: { requireTwoFactor: true } });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/two-factor/i);
    expect((await api.request("GET", "/api/v1/settings/security", { cookie: owner })).body).toEqual({ requireTwoFactor: false });
    expect((await api.request("PUT", "/api/v1/settings/security", { cookie: dev, body: { requireTwoFactor: false } })).status).toBe(403);
    expect((await api.request("PUT", "/api/v1/settings/security", { cookie: owner, body: { requireTwoFactor: "yes" } })).status).toBe(400);

    await enrol(owner, OWNER_PASSWORD);
    const on = await api.request("PUT", "/api/v1/settings/security", { cookie: owner, body: { requireTwoFactor: true } });
    expect(on.status).toBe(200);
    expect(on.body).toEqual({ requireTwoFactor: true });

    // The owner (enrolled) goes on as before.
    expect((await api.request("GET", "/api/v1/apps", { cookie: owner })).status).toBe(200);
    // The deployer signs in, but reaches only their own sign-in routes, by cookie or by token.
    const again = await login({ email: "dev@example.com", password: "dev-password-12" });
    expect(again.status).toBe(200);
    const devNow = cookieFrom(again.headers);
    for (const auth of [{ cookie: devNow }, { token }]) {
      const blocked = await api.request("GET", "/api/v1/apps", auth);
      expect(blocked.status).toBe(403);
      expect(blocked.body.error.code).toBe("two_factor_required");
      expect(blocked.body.error.message).toMatch(/two-factor/i);
      expect(
        (await api.request("POST", "/api/v1/apps", { ...auth, body: { name: "sneaky", repoUrl: "https://example.com/x.git" } })).status,
      ).toBe(403);
      expect((await api.request("GET", "/api/v1/auth/me", auth)).status).toBe(200);
      expect((await api.request("GET", "/api/v1/auth/2fa", auth)).body).toMatchObject({ enabled: false, required: true });
    }
    expect(await api.services.db.select().from(users).where(eq(users.email, "dev@example.com"))).toHaveLength(1);

    await enrol(devNow, "dev-password-12");
    expect((await api.request("GET", "/api/v1/apps", { cookie: devNow })).status).toBe(200);
    expect((await api.request("GET", "/api/v1/apps", { token })).status).toBe(200);

    const off = await api.request("PUT", "/api/v1/settings/security", { cookie: owner, body: { requireTwoFactor: false } });
    expect(off.status).toBe(200);
    const changes = await api.services.db
      .select({ details: auditLog.details })
      .from(auditLog)
      .where(and(eq(auditLog.action, "settings.require_two_factor"), inArray(auditLog.target, ["settings:security"])));
    expect(changes.map((r) => r.details)).toEqual([{ requireTwoFactor: true }, { requireTwoFactor: false }]);
  });

  test("a key the panel cannot open (another master key) refuses codes without a 500; recovery codes still work", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    const { secret, step, recovery } = await enrol(owner, OWNER_PASSWORD);
    const otherMaster = Buffer.from(crypto.getRandomValues(new Uint8Array(32)));
    const user = await findUserByEmail(api.services.db, OWNER);
    await api.services.db
      .update(users)
      .set({ totpSecret: sealTotpKey(otherMaster, user?.id as string, decodeBase32IgnorePadding(secret)) })
      .where(eq(users.email, OWNER));
    const fresh = await nextCode(secret, step);
    const refused = await login({ email: OWNER, password: OWNER_PASSWORD, totp: fresh.code });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("invalid_totp");
    expect((await login({ email: OWNER, password: OWNER_PASSWORD, recoveryCode: recovery[0] })).status).toBe(200);
  }, 90_000);

  test("reset-password --clear-2fa turns two-factor sign-in off (a lost phone)", async () => {
    api = await createTestApi();
    const owner = await api.setupOwner(OWNER, OWNER_PASSWORD);
    await enrol(owner, OWNER_PASSWORD);
    expect((await login({ email: OWNER, password: OWNER_PASSWORD })).body.error.code).toBe("totp_required");

    if (api.database.url) {
      const cli = Bun.spawnSync(
        [process.execPath, join(CHECKOUT, "backend/cli.ts"), "reset-password", OWNER, "--password", "after-the-reset-1", "--clear-2fa"],
        {
          cwd: CHECKOUT,
          env: { ...process.env, SWITCHYARD_DATA_DIR: api.config.dataDir, SWITCHYARD_LOG_LEVEL: "warn", DATABASE_URL: api.database.url },
          stdout: "pipe",
          stderr: "pipe",
        },
      );
      expect(cli.stderr.toString()).toBe("");
      expect(cli.stdout.toString()).toContain("Two-factor sign-in for owner@example.com is off");
      expect(cli.exitCode).toBe(0);
    } else {
      // An in-memory PGlite cannot be opened by a second process: call what the command calls.
      const user = await findUserByEmail(api.services.db, OWNER);
      await resetPassword(api.services.db, user?.id as string, await hashPassword("after-the-reset-1"));
      await clearTwoFactor(api.services.db, user?.id as string);
    }
    const res = await login({ email: OWNER, password: "after-the-reset-1" });
    expect(res.status).toBe(200);
    expect((await api.request("GET", "/api/v1/auth/2fa", { cookie: cookieFrom(res.headers) })).body.enabled).toBe(false);
  });
});
