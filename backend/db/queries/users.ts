import { and, asc, count, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { apiTokens, auditLog, type Role, sessions, type User, users } from "../schema/index.ts";

export { ROLES } from "../schema/index.ts";

export async function countUsers(db: Db): Promise<number> {
  const [row] = await db.select({ n: count() }).from(users);
  return row?.n ?? 0;
}

export async function findUserByEmail(db: Db, email: string): Promise<User | null> {
  const rows = await db.select().from(users).where(sql`lower(${users.email}) = ${email.toLowerCase()}`).limit(1);
  return rows[0] ?? null;
}

export async function findUserById(db: Db, id: string): Promise<User | null> {
  const rows = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return rows[0] ?? null;
}

export function listUsers(db: Db): Promise<User[]> {
  return db.select().from(users).orderBy(asc(users.createdAt));
}

export class SetupDoneError extends Error {
  override name = "SetupDoneError";
}

/** Creates the owner only while no user exists; concurrent attempts serialise on a lock. */
export async function createOwner(db: Db, input: { email: string; name: string; passwordHash: string }): Promise<User> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(7267001)`);
    const [row] = await tx.select({ n: count() }).from(users);
    if ((row?.n ?? 0) > 0) throw new SetupDoneError("Switchyard is already set up.");
    const [user] = await tx
      .insert(users)
      .values({ email: input.email, name: input.name, passwordHash: input.passwordHash, role: "owner" })
      .returning();
    return user as User;
  });
}

export async function createUser(db: Db, input: { email: string; name: string; passwordHash: string | null; role: Role }): Promise<User> {
  const [user] = await db.insert(users).values(input).returning();
  return user as User;
}

export interface UserChanges {
  role?: Role;
  name?: string;
  /** A new password signs the user out everywhere; `revokeTokens` also deletes their API tokens (a reset). */
  password?: { hash: string; revokeTokens: boolean };
}

export async function updateUser(db: Db, id: string, changes: UserChanges): Promise<User | null> {
  const { password, ...rest } = changes;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(users)
      .set({ ...rest, ...(password ? { passwordHash: password.hash } : {}), updatedAt: new Date() })
      .where(eq(users.id, id))
      .returning();
    if (password) {
      await tx.delete(sessions).where(eq(sessions.userId, id));
      if (password.revokeTokens) await tx.delete(apiTokens).where(eq(apiTokens.userId, id));
    }
    return row ?? null;
  });
}

export async function deleteUser(db: Db, id: string): Promise<void> {
  await db.delete(users).where(eq(users.id, id));
}

/** Sets a new password and revokes every session and API token of the user. */
export async function resetPassword(db: Db, userId: string, passwordHash: string): Promise<void> {
  await updateUser(db, userId, { password: { hash: passwordHash, revokeTokens: true } });
}

/** Whether the user has ever signed in successfully from this address (as the audit log recorded it). */
export async function hasSignedInFrom(db: Db, userId: string, ip: string): Promise<boolean> {
  const rows = await db
    .select({ id: auditLog.id })
    .from(auditLog)
    .where(and(eq(auditLog.target, `user:${userId}`), inArray(auditLog.action, ["auth.login", "setup.owner_created"]), eq(auditLog.ip, ip)))
    .limit(1);
  return rows.length > 0;
}
