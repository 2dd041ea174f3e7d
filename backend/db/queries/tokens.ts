import { and, desc, eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type ApiToken, apiTokens } from "../schema/index.ts";

export function listTokens(db: Db, userId: string): Promise<ApiToken[]> {
  return db.select().from(apiTokens).where(eq(apiTokens.userId, userId)).orderBy(desc(apiTokens.createdAt));
}

export async function insertToken(db: Db, values: typeof apiTokens.$inferInsert): Promise<ApiToken> {
  const [row] = await db.insert(apiTokens).values(values).returning();
  if (!row) throw new Error("token insert returned no row");
  return row;
}

/** Deletes one of the user's tokens; false when the user has no such token. */
export async function deleteToken(db: Db, userId: string, id: string): Promise<boolean> {
  const deleted = await db
    .delete(apiTokens)
    .where(and(eq(apiTokens.id, id), eq(apiTokens.userId, userId)))
    .returning({ id: apiTokens.id });
  return deleted.length > 0;
}
