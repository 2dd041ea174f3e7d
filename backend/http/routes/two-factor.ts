import { z } from "zod";
import {
  beginEnrolment,
  clearTwoFactor,
  confirmEnrolment,
  regenerateRecoveryCodes,
  TOTP_CODE,
  totpSecretText,
  totpUri,
  twoFactorState,
  useSecondFactor,
} from "../../auth/totp.ts";
import type { TwoFactorStatus } from "../../contract/api.ts";
import { getSecurity } from "../../db/queries/security.ts";
import { findUserById } from "../../db/queries/users.ts";
import type { User } from "../../db/schema/index.ts";
import { twoFactorDisabled } from "../../domain/notification-messages.ts";
import { notifySafely } from "../../jobs/notify.ts";
import { audit } from "../audit.ts";
import { type Context, readJson } from "../context.ts";
import { conflict, HttpError, unauthenticated } from "../errors.ts";
import { requireRole } from "../middleware/auth.ts";
import { type Attempt, checkOwnPassword, reauthAttempt } from "../reauth.ts";
import type { Router } from "../router.ts";

const password = z.string({ error: "password is required" }).min(1, "must not be empty").max(256, "must be at most 256 characters");
const totp = z.string({ error: "code is required" }).trim().regex(TOTP_CODE, "must be the 6-digit code from your authenticator app");
/** A six-digit code, or one of the recovery codes (`abcde-fghij`). */
export const secondFactorCode = z
  .string({ error: "code is required" })
  .trim()
  .min(1, "must not be empty")
  .max(64, "must be at most 64 characters")
  .regex(/^[A-Za-z0-9 -]+$/, "must be a 6-digit code or a recovery code");

const setupBody = z.object({ password });
const enableBody = z.object({ code: totp });
const proofBody = z.object({ password, code: secondFactorCode });

/** The signed-in user as stored (with the two-factor columns). */
async function currentUser(c: Context): Promise<User> {
  const auth = requireRole(c, "viewer");
  const user = await findUserById(c.services.db, auth.user.id);
  if (!user) throw unauthenticated();
  return user;
}

export async function twoFactorStatus(c: Context, userId: string): Promise<TwoFactorStatus> {
  const [state, security] = await Promise.all([twoFactorState(c.services.db, userId), getSecurity(c.services.db)]);
  return {
    enabled: state.enabledAt !== null,
    enabledAt: state.enabledAt?.toISOString() ?? null,
    recoveryCodesLeft: state.recoveryCodesLeft,
    required: security.requireTwoFactor,
  };
}

async function checkCode(c: Context, user: User, code: string, limit: Attempt, during: string): Promise<void> {
  const used = await useSecondFactor(c.services.db, c.services.masterKey, user, code);
  if (!used) {
    limit.fail();
    await audit(c, "auth.2fa_failed", `user:${user.id}`, { during });
    throw new HttpError(400, "invalid_totp", "That code is not right, or it was used already.", {
      issues: [{ path: "code", message: "is not right, or was used already" }],
    });
  }
  if (used === "recovery_code") await audit(c, "auth.recovery_code_used", `user:${user.id}`, { during });
}

function notEnabled(): HttpError {
  return conflict("two_factor_not_enabled", "Two-factor sign-in is not on for your account.");
}

/** Two-factor sign-in of the signed-in user: enrolment, confirmation, recovery codes, turning it off. */
export function twoFactorRoutes(r: Router): void {
  r.get("/api/v1/auth/2fa", { auth: "viewer" }, async (c) => {
    const user = await currentUser(c);
    return Response.json(await twoFactorStatus(c, user.id));
  });

  r.post("/api/v1/auth/2fa/setup", { auth: "viewer" }, async (c) => {
    const user = await currentUser(c);
    const body = await readJson(c, setupBody);
    if (user.totpEnabledAt) throw conflict("two_factor_enabled", "Two-factor sign-in is already on. Turn it off first to use a new key.");
    await checkOwnPassword(c, user, body.password, reauthAttempt(c, user), { field: "password", during: "two-factor setup" });
    const key = await beginEnrolment(c.services.db, c.services.masterKey, user.id);
    if (!key) throw conflict("two_factor_enabled", "Two-factor sign-in is already on. Turn it off first to use a new key.");
    await audit(c, "auth.2fa_setup", `user:${user.id}`);
    return Response.json({ secret: totpSecretText(key), uri: totpUri(user.email, key) });
  });

  r.post("/api/v1/auth/2fa/enable", { auth: "viewer" }, async (c) => {
    const user = await currentUser(c);
    const body = await readJson(c, enableBody);
    if (user.totpEnabledAt) throw conflict("two_factor_enabled", "Two-factor sign-in is already on.");
    if (!user.totpSecret) throw conflict("two_factor_not_set_up", "Start the set-up first (POST /api/v1/auth/2fa/setup).");
    const limit = reauthAttempt(c, user);
    const codes = await confirmEnrolment(c.services.db, c.services.masterKey, user, body.code);
    if (!codes) {
      limit.fail();
      await audit(c, "auth.2fa_failed", `user:${user.id}`, { during: "enable" });
      throw new HttpError(400, "invalid_totp", "That code is not right. Check the time on your phone and enter the newest code.", {
        issues: [{ path: "code", message: "is not right" }],
      });
    }
    await audit(c, "auth.2fa_enabled", `user:${user.id}`);
    return Response.json({ ...(await twoFactorStatus(c, user.id)), recoveryCodes: codes });
  });

  r.post("/api/v1/auth/2fa/disable", { auth: "viewer" }, async (c) => {
    const user = await currentUser(c);
    const body = await readJson(c, proofBody);
    if (!user.totpEnabledAt) throw notEnabled();
    const limit = reauthAttempt(c, user);
    await checkOwnPassword(c, user, body.password, limit, { field: "password", during: "two-factor" });
    await checkCode(c, user, body.code, limit, "disable");
    await clearTwoFactor(c.services.db, user.id);
    await audit(c, "auth.2fa_disabled", `user:${user.id}`);
    await notifySafely(c.services, twoFactorDisabled({ email: user.email, ip: c.ip }), null);
    return Response.json(await twoFactorStatus(c, user.id));
  });

  r.post("/api/v1/auth/2fa/recovery-codes", { auth: "viewer" }, async (c) => {
    const user = await currentUser(c);
    const body = await readJson(c, proofBody);
    if (!user.totpEnabledAt) throw notEnabled();
    const limit = reauthAttempt(c, user);
    await checkOwnPassword(c, user, body.password, limit, { field: "password", during: "two-factor" });
    await checkCode(c, user, body.code, limit, "recovery-codes");
    const codes = await regenerateRecoveryCodes(c.services.db, user.id);
    await audit(c, "auth.recovery_codes_regenerated", `user:${user.id}`);
    return Response.json({ ...(await twoFactorStatus(c, user.id)), recoveryCodes: codes });
  });
}
