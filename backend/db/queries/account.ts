import { and, desc, eq, ne } from "drizzle-orm";
import type { Db } from "../client.ts";
import { apiTokens, type Session, sessions, users } from "../schema/index.ts";

/** The user's live sessions, most recently seen first. */
export function listSessions(db: Db, userId: string): Promise<Session[]> {
  return db.select().from(sessions).where(eq(sessions.userId, userId)).orderBy(desc(sessions.lastSeenAt), desc(sessions.createdAt));
}

/** Ends one of the user's sessions; false when the user has no such session. */
export async function deleteSession(db: Db, userId: string, sessionId: string): Promise<boolean> {
  const deleted = await db
    .delete(sessions)
    .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)))
    .returning({ id: sessions.id });
  return deleted.length > 0;
}

function ofUserExcept(userId: string, keep: string | null) {
  return keep ? and(eq(sessions.userId, userId), ne(sessions.id, keep)) : eq(sessions.userId, userId);
}

/** Ends every session of the user except `keep` (all of them when `keep` is null); returns how many. */
export async function deleteSessions(db: Db, userId: string, keep: string | null): Promise<number> {
  const deleted = await db.delete(sessions).where(ofUserExcept(userId, keep)).returning({ id: sessions.id });
  return deleted.length;
}

export interface PasswordChange {
  passwordHash: string;
  /** End the user's other sessions; `keep` survives either way. */
  signOutOthers: boolean;
  keep: string | null;
  revokeTokens: boolean;
}

/** Sets the user's new password and ends what it should, all or nothing. */
export async function changePassword(
  db: Db,
  userId: string,
  change: PasswordChange,
): Promise<{ signedOutSessions: number; revokedTokens: number }> {
  return db.transaction(async (tx) => {
    await tx.update(users).set({ passwordHash: change.passwordHash, updatedAt: new Date() }).where(eq(users.id, userId));
    const signedOutSessions = change.signOutOthers
      ? (await tx.delete(sessions).where(ofUserExcept(userId, change.keep)).returning({ id: sessions.id })).length
      : 0;
    const revokedTokens = change.revokeTokens
      ? (await tx.delete(apiTokens).where(eq(apiTokens.userId, userId)).returning({ id: apiTokens.id })).length
      : 0;
    return { signedOutSessions, revokedTokens };
  });
}
