import { verifyPassword } from "../auth/passwords.ts";
import type { User } from "../db/schema/index.ts";
import { audit } from "./audit.ts";
import type { Context } from "./context.ts";
import { badRequest, HttpError } from "./errors.ts";

/** Counts a wrong password or code against the signed-in user's allowance. */
export interface Attempt {
  fail(): void;
}

/**
 * For a signed-in user proving themselves again (a password change, two-factor settings): wrong
 * passwords and codes count against the same per-account and per-address allowance as failed
 * sign-ins, so a stolen session cannot be used to guess either. Throws 429 while it is used up.
 */
export function reauthAttempt(c: Context, user: User): Attempt {
  const { loginByIp, loginByAccount } = c.services.limits;
  const account = user.email.toLowerCase();
  const wait = Math.max(loginByIp.retryAfter(c.ip), loginByAccount.retryAfter(account));
  if (wait > 0) {
    throw new HttpError(
      429,
      "rate_limited",
      `Too many wrong passwords or codes. Try again in ${wait} seconds.`,
      { retryAfter: wait },
      { "retry-after": String(wait) },
    );
  }
  return {
    fail() {
      loginByIp.fail(c.ip);
      loginByAccount.fail(account);
    },
  };
}

/**
 * The user's own password, checked: 400 `invalid_password` naming `field` when wrong (not 401:
 * the session is fine, the proof is not), audited, and counted by `attempt`.
 */
export async function checkOwnPassword(
  c: Context,
  user: User,
  given: string,
  attempt: Attempt,
  o: { field: string; during: string; message?: string },
): Promise<void> {
  if (!user.passwordHash) {
    throw badRequest("Your account has no password (it signs in with GitHub). Ask an owner or admin to set one first.");
  }
  if (!(await verifyPassword(given, user.passwordHash))) {
    attempt.fail();
    await audit(c, "auth.password_check_failed", `user:${user.id}`, { during: o.during });
    throw new HttpError(400, "invalid_password", o.message ?? "That password is not right.", {
      issues: [{ path: o.field, message: "is not right" }],
    });
  }
}
