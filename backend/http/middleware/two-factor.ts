import { TWO_FACTOR_ERRORS } from "../../contract/api.ts";
import type { Context } from "../context.ts";
import { HttpError } from "../errors.ts";

/** The user's own sign-in (me, sign-out, two-factor enrolment, password, sessions) stays open. */
const OPEN = "/api/v1/auth/";

/**
 * While the owner requires two-factor sign-in, a signed-in user (cookie or token) without it may
 * only reach their own sign-in routes until they turn it on. What this judges was read with the
 * credential, in the same statement, so it costs no query of its own.
 */
export function requireTwoFactorEnrolment(c: Context, pattern: string): void {
  if (!c.auth || pattern.startsWith(OPEN)) return;
  if (!c.auth.twoFactorNeeded) return;
  throw new HttpError(
    403,
    TWO_FACTOR_ERRORS.enrolmentNeeded,
    "This panel requires two-factor sign-in. Turn it on for your account (Account → Two-factor sign-in) to continue.",
  );
}
