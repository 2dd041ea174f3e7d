import { type AuthInfo, readCookie, SESSION_COOKIE, validateApiToken, validateSessionToken } from "../../auth/sessions.ts";
import type { Role } from "../../db/schema/users.ts";
import type { Context } from "../context.ts";
import { forbidden, HttpError, unauthenticated } from "../errors.ts";

const RANK: Record<Role, number> = { viewer: 1, deployer: 2, admin: 3, owner: 4 };

export function hasRole(role: Role, least: Role): boolean {
  return RANK[role] >= RANK[least];
}

/** How the request claims to be authenticated, before anything is looked up. */
export function credentialKind(req: Request): "token" | "cookie" | null {
  if (req.headers.get("authorization")) return "token";
  return readCookie(req.headers.get("cookie"), "sy_session") ? "cookie" : null;
}

/** Resolves the caller from `Authorization: Bearer` or the session cookie; null when neither is valid. */
export async function authenticate(c: Context): Promise<AuthInfo | null> {
  const header = c.req.headers.get("authorization");
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new HttpError(401, "unauthenticated", "Authorization header must be 'Bearer <api token>'.");
    const auth = await validateApiToken(c.services.db, match[1] as string);
    if (!auth) throw new HttpError(401, "invalid_token", "The API token is invalid, expired or revoked.");
    return auth;
  }
  const token = readCookie(c.req.headers.get("cookie"), SESSION_COOKIE);
  if (!token) return null;
  const result = await validateSessionToken(c.services.db, token);
  if (!result.session) return null;
  return {
    kind: "session",
    user: result.user,
    sessionId: result.session.id,
    expiresAt: result.session.expiresAt,
    refreshed: result.session.refreshed,
    twoFactorNeeded: result.twoFactorNeeded,
  };
}

export function requireRole(c: Context, least: Role): AuthInfo {
  if (!c.auth) throw unauthenticated();
  if (!hasRole(c.auth.user.role, least)) throw forbidden(`This needs the ${least} role or higher; you are ${c.auth.user.role}.`);
  return c.auth;
}
