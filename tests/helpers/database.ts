import postgres from "postgres";
import { type Database, openDatabase } from "../../backend/db/client.ts";

/** Which database the integration suite runs against; tests/run.ts runs it once for each. */
export const TEST_DB: "pglite" | "postgres" = process.env.TEST_DB === "postgres" ? "postgres" : "pglite";
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase extends Database {
  /** The connection URL when on Postgres (a fresh database of its own), else null. */
  url: string | null;
  drop(): Promise<void>;
}

/** A fresh, migrated database: an in-memory PGlite, or a new database on the Postgres server. */
export async function freshDatabase(): Promise<TestDatabase> {
  if (TEST_DB === "pglite") {
    const database = await openDatabase({ url: null, pgliteDir: null, pgliteSnapshot: await migratedSnapshot() });
    await database.migrate();
    return { ...database, url: null, drop: () => database.close() };
  }
  const name = `sy_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(TEST_DATABASE_URL, name);
  const database = await openDatabase({ url, pgliteDir: null, max: 5 });
  await database.migrate();
  return {
    ...database,
    url,
    drop: async () => {
      await database.close();
      const cleanup = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      try {
        await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

let snapshot: Promise<Blob> | null = null;

/** Creating and migrating a PGlite cluster takes ≈ 2 s; loading a dump of a migrated one ≈ 0.2 s. */
function migratedSnapshot(): Promise<Blob> {
  snapshot ??= (async () => {
    const database = await openDatabase({ url: null, pgliteDir: null });
    await database.migrate();
    const blob = await (database.dump as () => Promise<Blob>)();
    await database.close();
    return blob;
  })();
  return snapshot;
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function postgresReachable(url = TEST_DATABASE_URL): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}
