import { asc, count, eq, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type Role, type User, users } from "../schema/index.ts";

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

export async function setPassword(db: Db, userId: string, passwordHash: string): Promise<void> {
  await db.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, userId));
}

export async function updateUser(db: Db, id: string, changes: Partial<Pick<User, "role" | "name" | "passwordHash">>): Promise<User | null> {
  const [row] = await db
    .update(users)
    .set({ ...changes, updatedAt: new Date() })
    .where(eq(users.id, id))
    .returning();
  return row ?? null;
}

export async function deleteUser(db: Db, id: string): Promise<void> {
  await db.delete(users).where(eq(users.id, id));
}
