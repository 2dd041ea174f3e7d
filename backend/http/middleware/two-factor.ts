import { TWO_FACTOR_ERRORS } from "../../contract/api.ts";
import { enrolmentNeeded } from "../../db/queries/security.ts";
import type { Context } from "../context.ts";
import { HttpError } from "../errors.ts";

/** The user's own sign-in (me, sign-out, two-factor enrolment, password, sessions) stays open. */
const OPEN = "/api/v1/auth/";

/**
 * While the owner requires two-factor sign-in, a signed-in user (cookie or token) without it may
 * only reach their own sign-in routes until they turn it on.
 */
export async function requireTwoFactorEnrolment(c: Context, pattern: string): Promise<void> {
  if (!c.auth || pattern.startsWith(OPEN)) return;
  if (!(await enrolmentNeeded(c.services.db, c.auth.user.id))) return;
  throw new HttpError(
    403,
    TWO_FACTOR_ERRORS.enrolmentNeeded,
    "This panel requires two-factor sign-in. Turn it on for your account (Account → Two-factor sign-in) to continue.",
  );
}
