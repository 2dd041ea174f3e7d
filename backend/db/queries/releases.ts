import { and, eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { type Release, releases } from "../schema/index.ts";

export async function findRelease(db: Db, appId: string, releaseId: string): Promise<Release | null> {
  if (!/^[0-9a-f-]{36}$/i.test(releaseId)) return null;
  const [row] = await db
    .select()
    .from(releases)
    .where(and(eq(releases.id, releaseId), eq(releases.appId, appId)));
  return row ?? null;
}

export async function findReleaseById(db: Db, releaseId: string): Promise<Release | null> {
  const [row] = await db.select().from(releases).where(eq(releases.id, releaseId));
  return row ?? null;
}
