import { z } from "zod";
import { hashPassword, passwordSchema, verifyPassword } from "../../auth/passwords.ts";
import { clearSessionCookie, createSession, invalidateSession, sessionCookie } from "../../auth/sessions.ts";
import { countUsers, createOwner, findUserByEmail, hasSignedInFrom, SetupDoneError } from "../../db/queries/users.ts";
import { audit } from "../audit.ts";
import { type Context, readJson } from "../context.ts";
import { conflict, HttpError } from "../errors.ts";
import { requireRole } from "../middleware/auth.ts";
import type { Router } from "../router.ts";
import { userJson } from "../shapes.ts";

const email = z
  .email({ error: "must be a valid email address" })
  .max(254)
  .transform((v) => v.trim());

const setupBody = z.object({
  email,
  password: passwordSchema,
  name: z.string({ error: "name is required" }).trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
});

const loginBody = z.object({
  email: z.string({ error: "email is required" }).trim().min(1, "must not be empty").max(254),
  password: z.string({ error: "password is required" }).min(1, "must not be empty").max(256),
  totp: z
    .string()
    .regex(/^\d{6}$/, "must be 6 digits")
    .optional(),
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
  r.get("/api/v1/setup", { auth: "public" }, async (c) => Response.json({ needed: (await countUsers(c.services.db)) === 0 }));

  r.post("/api/v1/setup", { auth: "public" }, async (c) => {
    if ((await countUsers(c.services.db)) > 0) throw conflict("already_set_up", "Switchyard is already set up; sign in instead.");
    const body = await readJson(c, setupBody);
    let user: Awaited<ReturnType<typeof createOwner>>;
    try {
      user = await createOwner(c.services.db, { email: body.email, name: body.name, passwordHash: await hashPassword(body.password) });
    } catch (error) {
      if (error instanceof SetupDoneError) throw conflict("already_set_up", "Switchyard is already set up; sign in instead.");
      throw error;
    }
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
    loginByAccount.reset(accountKey);
    await startSession(c, user.id);
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
