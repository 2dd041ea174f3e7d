import { z } from "zod";
import { hashPassword, passwordSchema, verifyPassword } from "../../auth/passwords.ts";
import { clearSessionCookie, createSession, invalidateSession, sessionCookie } from "../../auth/sessions.ts";
import { ensureSetupCode, removeSetupCode, setupAttempts, setupCodeMatches } from "../../auth/setup-code.ts";
import { useSecondFactor } from "../../auth/totp.ts";
import { TWO_FACTOR_ERRORS } from "../../contract/api.ts";
import { countUsers, createOwner, findUserByEmail, hasSignedInFrom, SetupDoneError } from "../../db/queries/users.ts";
import { notifySignIn } from "../../jobs/notification-sources.ts";
import { audit } from "../audit.ts";
import { type Context, readJson } from "../context.ts";
import { conflict, HttpError } from "../errors.ts";
import { requireRole } from "../middleware/auth.ts";
import type { Router } from "../router.ts";
import { userJson } from "../shapes.ts";
import { secondFactorCode } from "./two-factor.ts";

const email = z
  .email({ error: "must be a valid email address" })
  .max(254)
  .transform((v) => v.trim());

const setupBody = z.object({
  email,
  password: passwordSchema,
  name: z.string({ error: "name is required" }).trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
  code: z
    .string({ error: "the setup code is required (the panel prints it when it starts)" })
    .trim()
    .min(1, "must not be empty: enter the setup code the panel printed when it started")
    .max(64, "must be at most 64 characters"),
});

const loginBody = z.object({
  email: z.string({ error: "email is required" }).trim().min(1, "must not be empty").max(254),
  password: z.string({ error: "password is required" }).min(1, "must not be empty").max(256),
  totp: z
    .string()
    .trim()
    .regex(/^\d{6}$/, "must be 6 digits")
    .optional(),
  recoveryCode: secondFactorCode.optional(),
});

const NO_USER = "00000000-0000-0000-0000-000000000000";

function secure(c: Context): boolean {
  return c.services.config.publicUrl.protocol === "https:";
}

async function startSession(c: Context, userId: string): Promise<void> {
  const { token, expiresAt } = await createSession(c.services.db, userId, { ip: c.ip, userAgent: c.req.headers.get("user-agent") });
  c.responseHeaders.append("set-cookie", sessionCookie(token, expiresAt, secure(c)));
}

export function authRoutes(r: Router): void {
  r.get("/api/v1/setup", { auth: "public" }, async (c) => {
    const needed = (await countUsers(c.services.db)) === 0;
    // While setup is needed there is always a code to ask for, even if its file was removed.
    if (needed) ensureSetupCode(c.services.config.dataDir);
    return Response.json({ needed, codeRequired: true });
  });

  r.post("/api/v1/setup", { auth: "public" }, async (c) => {
    if ((await countUsers(c.services.db)) > 0) throw conflict("already_set_up", "Switchyard is already set up; sign in instead.");
    const attempts = setupAttempts(c.services);
    const wait = attempts.retryAfter(c.ip);
    if (wait > 0) {
      throw new HttpError(
        429,
        "rate_limited",
        `Too many wrong setup codes. Try again in ${wait} seconds.`,
        { retryAfter: wait },
        { "retry-after": String(wait) },
      );
    }
    const body = await readJson(c, setupBody);
    const { dataDir } = c.services.config;
    ensureSetupCode(dataDir);
    if (!setupCodeMatches(dataDir, body.code)) {
      attempts.fail(c.ip);
      throw new HttpError(
        403,
        "invalid_setup_code",
        "That setup code is not right. The panel prints it when it starts (and install.sh in its summary); `switchyard setup-code` prints it again.",
      );
    }
    let user: Awaited<ReturnType<typeof createOwner>>;
    try {
      user = await createOwner(c.services.db, { email: body.email, name: body.name, passwordHash: await hashPassword(body.password) });
    } catch (error) {
      if (error instanceof SetupDoneError) throw conflict("already_set_up", "Switchyard is already set up; sign in instead.");
      throw error;
    }
    removeSetupCode(dataDir);
    await startSession(c, user.id);
    await audit(c, "setup.owner_created", `user:${user.id}`, undefined, user.email);
    return Response.json({ user: userJson(user) }, { status: 201 });
  });

  r.post("/api/v1/auth/login", { auth: "public" }, async (c) => {
    const body = await readJson(c, loginBody);
    const { loginByIp, loginByAccount } = c.services.limits;
    const account = body.email.toLowerCase();
    const user = await findUserByEmail(c.services.db, body.email);
    // Failures from addresses the account has never signed in from share one allowance; each address
    // it has signed in from has its own, so strangers' guesses cannot lock the user out from home.
    // Asked for unknown emails too, so the answer takes as long either way.
    const knownAddress = (await hasSignedInFrom(c.services.db, user?.id ?? NO_USER, c.ip)) && user !== null;
    const accountKey = knownAddress ? `${account}\n${c.ip}` : account;
    const wait = Math.max(loginByIp.retryAfter(c.ip), loginByAccount.retryAfter(accountKey));
    if (wait > 0) {
      throw new HttpError(
        429,
        "rate_limited",
        `Too many failed sign-in attempts. Try again in ${wait} seconds.`,
        { retryAfter: wait },
        { "retry-after": String(wait) },
      );
    }
    const ok = await verifyPassword(body.password, user?.passwordHash ?? null);
    if (!user || !ok) {
      loginByIp.fail(c.ip);
      loginByAccount.fail(accountKey);
      await audit(c, "auth.login_failed", user ? `user:${user.id}` : null, undefined, account);
      // One message for both: it must not tell which of email and password was wrong.
      throw new HttpError(401, "invalid_credentials", "Email or password is incorrect.");
    }
    if (user.totpEnabledAt) {
      // Asked for only now that the password is right; a wrong password above says nothing of it.
      const code = body.totp ?? body.recoveryCode;
      if (!code) {
        throw new HttpError(401, TWO_FACTOR_ERRORS.codeNeeded, "Enter the 6-digit code from your authenticator app, or a recovery code.");
      }
      const used = await useSecondFactor(c.services.db, c.services.masterKey, user, code);
      if (!used) {
        loginByIp.fail(c.ip);
        loginByAccount.fail(accountKey);
        await audit(c, "auth.2fa_failed", `user:${user.id}`, { during: "login" }, account);
        throw new HttpError(401, TWO_FACTOR_ERRORS.invalidCode, "That code is not right, or it was used already. Enter the newest code.");
      }
      if (used === "recovery_code") await audit(c, "auth.recovery_code_used", `user:${user.id}`, { during: "login" }, user.email);
    }
    loginByAccount.reset(accountKey);
    await startSession(c, user.id);
    await notifySignIn(c.services, { user, ip: c.ip, userAgent: c.req.headers.get("user-agent"), knownAddress });
    await audit(c, "auth.login", `user:${user.id}`, undefined, user.email);
    return Response.json({ user: userJson(user) });
  });

  r.post("/api/v1/auth/logout", { auth: "public" }, async (c) => {
    if (c.auth?.kind === "session") {
      await invalidateSession(c.services.db, c.auth.sessionId);
      await audit(c, "auth.logout", `user:${c.auth.user.id}`);
    }
    c.responseHeaders.append("set-cookie", clearSessionCookie(secure(c)));
    return new Response(null, { status: 204 });
  });

  r.get("/api/v1/auth/me", { auth: "viewer" }, async (c) => {
    const auth = requireRole(c, "viewer");
    return Response.json({
      user: auth.user,
      auth: auth.kind === "session" ? { kind: "session", expiresAt: auth.expiresAt } : { kind: "token", name: auth.tokenName },
    });
  });
}
