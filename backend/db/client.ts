import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import type { ExtractTablesWithRelations } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { ensureDir } from "../adapters/host.ts";
import * as schema from "./schema/index.ts";

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
export type DatabaseKind = "pglite" | "postgres";

export interface Database {
  db: Db;
  kind: DatabaseKind;
  /** Subscribes to a NOTIFY channel; resolves to a function that unsubscribes. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** PGlite only: the whole data dir as a tarball. */
  dump?: () => Promise<Blob>;
}

const migrationsFolder = join(import.meta.dir, "migrations");

/**
 * The embedded database is sized for a panel, not a warehouse: the default 128 MB of shared
 * buffers would be most of the panel's memory.
 */
const PGLITE_CONF = ["shared_buffers = 4MB", "work_mem = 2MB", "maintenance_work_mem = 8MB", "temp_buffers = 1MB"];

export interface OpenOptions {
  /** postgres:// URL; when null, PGlite in `pgliteDir` (or in memory when that is null too). */
  url: string | null;
  pgliteDir: string | null;
  /** Connection pool size for Postgres. */
  max?: number;
  /** A PGlite data dir dump to start from (tests start from a migrated one: 5× faster). */
  pgliteSnapshot?: Blob;
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  return options.url ? openPostgres(options.url, options.max ?? 10) : openPglite(options.pgliteDir, options.pgliteSnapshot);
}

async function openPglite(dir: string | null, snapshot?: Blob): Promise<Database> {
  if (dir) ensureDir(dir);
  const client = await PGlite.create({
    ...(dir ? { dataDir: dir } : {}),
    ...(snapshot ? { loadDataDir: snapshot } : {}),
    postgresqlconf: PGLITE_CONF,
  });
  const db = drizzlePglite({ client, schema });
  return {
    db: db as unknown as Db,
    kind: "pglite",
    dump: () => client.dumpDataDir("none"),
    listen: async (channel, onPayload) => {
      const unlisten = await client.listen(channel, onPayload);
      return async () => {
        if (!client.closed) await unlisten();
      };
    },
    notify: async (channel, payload) => {
      await client.query("select pg_notify($1, $2)", [channel, payload]);
    },
    migrate: () => migratePglite(db, { migrationsFolder }),
    close: async () => {
      if (!client.closed) await client.close();
    },
  };
}

async function openPostgres(url: string, max: number): Promise<Database> {
  const sql = postgres(url, { max, onnotice: () => {}, connection: { application_name: "switchyard" } });
  const db = drizzlePostgres({ client: sql, schema });
  return {
    db: db as unknown as Db,
    kind: "postgres",
    listen: async (channel, onPayload) => {
      const sub = await sql.listen(channel, onPayload);
      return () => sub.unlisten();
    },
    notify: async (channel, payload) => {
      await sql.notify(channel, payload);
    },
    migrate: () =>
      migratePostgres(db, { migrationsFolder }).catch((error: unknown) => {
        throw new Error(`Database migration failed: ${(error as Error).message}`, { cause: error });
      }),
    close: () => sql.end({ timeout: 5 }),
  };
}

export { schema };
