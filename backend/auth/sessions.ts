import { sha256 } from "@oslojs/crypto/sha2";
import { encodeBase32LowerCaseNoPadding, encodeHexLowerCase } from "@oslojs/encoding";
import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { twoFactorRequired } from "../db/queries/security.ts";
import { apiTokens, sessions, type User, users } from "../db/schema/index.ts";

export const SESSION_COOKIE = "sy_session";
const DAY = 24 * 60 * 60 * 1000;
export const SESSION_TTL = 30 * DAY;
const REFRESH_WHEN_LEFT = 15 * DAY;

export interface PublicUser {
  id: string;
  email: string;
  name: string;
  role: User["role"];
  createdAt: Date;
}

/**
 * `twoFactorNeeded`: the panel requires two-factor sign-in and this user has not turned it on,
 * read in the same statement as the credential (see requireTwoFactorEnrolment).
 */
export type AuthInfo =
  | { kind: "session"; user: PublicUser; sessionId: string; expiresAt: Date; refreshed: boolean; twoFactorNeeded: boolean }
  | { kind: "token"; user: PublicUser; tokenId: string; tokenName: string; twoFactorNeeded: boolean };

export type SessionValidation =
  | { session: { id: string; expiresAt: Date; refreshed: boolean }; user: PublicUser; twoFactorNeeded: boolean }
  | { session: null; user: null };

/** The user's columns an authenticated request carries (see PublicUser). */
const publicUserColumns = { id: users.id, email: users.email, name: users.name, role: users.role, createdAt: users.createdAt };

/** Whether the user row read with a credential still has to turn two-factor sign-in on. */
const enrolmentNeededColumn = () => sql<boolean>`(${twoFactorRequired()} and ${users.totpEnabledAt} is null)`;

export function publicUser(user: User): PublicUser {
  return { id: user.id, email: user.email, name: user.name, role: user.role, createdAt: user.createdAt };
}

export function generateToken(bytes = 20): string {
  return encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function hashToken(token: string): string {
  return encodeHexLowerCase(sha256(new TextEncoder().encode(token)));
}

export async function createSession(
  db: Db,
  userId: string,
  meta: { ip?: string; userAgent?: string | null } = {},
): Promise<{ token: string; expiresAt: Date }> {
  const token = generateToken();
  const expiresAt = new Date(Date.now() + SESSION_TTL);
  await db.insert(sessions).values({
    id: hashToken(token),
    userId,
    expiresAt,
    ip: meta.ip ?? null,
    userAgent: meta.userAgent?.slice(0, 400) ?? null,
  });
  return { token, expiresAt };
}

/** A session's last-seen time is written at most this often, so requests stay read-only in between. */
const LAST_SEEN_EVERY = 60_000;

/**
 * The id a session is shown by in the API: a hash of its stored id, so listing sessions never
 * hands out what the database looks them up by.
 */
export function publicSessionId(sessionId: string): string {
  return hashToken(`session:${sessionId}`).slice(0, 16);
}

/** Looks a session up by its token; expired sessions are deleted, live ones slide forward. */
export async function validateSessionToken(db: Db, token: string): Promise<SessionValidation> {
  const id = hashToken(token);
  const rows = await db
    .select({ session: sessions, user: users, twoFactorNeeded: enrolmentNeededColumn() })
    .from(sessions)
    .innerJoin(users, eq(sessions.userId, users.id))
    .where(eq(sessions.id, id))
    .limit(1);
  const row = rows[0];
  if (!row) return { session: null, user: null };
  const now = Date.now();
  if (row.session.expiresAt.getTime() <= now) {
    await db.delete(sessions).where(eq(sessions.id, id));
    return { session: null, user: null };
  }
  let expiresAt = row.session.expiresAt;
  const refreshed = expiresAt.getTime() - now < REFRESH_WHEN_LEFT;
  if (refreshed) expiresAt = new Date(now + SESSION_TTL);
  if (refreshed || now - row.session.lastSeenAt.getTime() >= LAST_SEEN_EVERY) {
    await db
      .update(sessions)
      .set({ expiresAt, lastSeenAt: new Date(now) })
      .where(eq(sessions.id, id));
  }
  return { session: { id, expiresAt, refreshed }, user: publicUser(row.user), twoFactorNeeded: row.twoFactorNeeded === true };
}

export async function invalidateSession(db: Db, sessionId: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.id, sessionId));
}

export async function invalidateUserSessions(db: Db, userId: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.userId, userId));
}

export function sessionCookie(token: string, expiresAt: Date, secure: boolean): string {
  const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? "; Secure" : ""}`;
}

export function clearSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure ? "; Secure" : ""}`;
}

export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eqAt = part.indexOf("=");
    if (eqAt < 0) continue;
    if (part.slice(0, eqAt).trim() === name) return part.slice(eqAt + 1).trim() || null;
  }
  return null;
}

export const API_TOKEN_PREFIX = "sy_";

export function generateApiToken(): string {
  return API_TOKEN_PREFIX + generateToken(24);
}

export async function validateApiToken(db: Db, token: string): Promise<AuthInfo | null> {
  if (!token.startsWith(API_TOKEN_PREFIX)) return null;
  const rows = await db
    .select({
      token: { id: apiTokens.id, name: apiTokens.name, expiresAt: apiTokens.expiresAt, lastUsedAt: apiTokens.lastUsedAt },
      user: publicUserColumns,
      twoFactorNeeded: enrolmentNeededColumn(),
    })
    .from(apiTokens)
    .innerJoin(users, eq(apiTokens.userId, users.id))
    .where(eq(apiTokens.tokenHash, hashToken(token)))
    .limit(1);
  const row = rows[0];
  if (!row) return null;
  if (row.token.expiresAt && row.token.expiresAt.getTime() <= Date.now()) return null;
  // Last use is informative; a minute's precision keeps writes off the hot path.
  if (!row.token.lastUsedAt || Date.now() - row.token.lastUsedAt.getTime() > 60_000) {
    await db.update(apiTokens).set({ lastUsedAt: new Date() }).where(eq(apiTokens.id, row.token.id));
  }
  return {
    kind: "token",
    user: row.user,
    tokenId: row.token.id,
    tokenName: row.token.name,
    twoFactorNeeded: row.twoFactorNeeded === true,
  };
}
