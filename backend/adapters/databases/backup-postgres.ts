import postgres from "postgres";
import type { Written } from "../backups/destinations.ts";
import { HashingCounter } from "../backups/destinations.ts";

type Sql = ReturnType<typeof postgres>;

/** Row counts per table (`schema.table`), the check a restore is held to. */
export type TableCounts = Record<string, number>;

/** A libpq environment for a URL: the password travels in PGPASSWORD, never on a command line. */
export function libpqEnv(url: string): Record<string, string> {
  const u = new URL(url);
  const env: Record<string, string> = {
    PGHOST: decodeURIComponent(u.hostname.replace(/^\[|\]$/g, "")) || "127.0.0.1",
    PGPORT: u.port || "5432",
    PGDATABASE: decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres",
    PGCONNECT_TIMEOUT: "15",
    PGAPPNAME: "switchyard-backup",
  };
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const sslmode = u.searchParams.get("sslmode");
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

function connect(url: string): Sql {
  return postgres(url, { max: 1, connect_timeout: 15, idle_timeout: 5, onnotice: () => {}, prepare: false });
}

/** Exact row counts of every ordinary and partitioned table outside the system schemas. */
async function countTables(sql: Sql | postgres.TransactionSql): Promise<TableCounts> {
  const tables = await sql<{ schema: string; name: string }[]>`
    select n.nspname as schema, c.relname as name
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p')
       and n.nspname not in ('pg_catalog', 'information_schema')
       and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
       and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
     order by 1, 2`;
  const counts: TableCounts = {};
  for (const t of tables) {
    const [row] = await sql<{ n: string }[]>`select count(*)::bigint as n from ${sql(t.schema)}.${sql(t.name)}`;
    counts[`${t.schema}.${t.name}`] = Number(row?.n ?? 0);
  }
  return counts;
}

async function drain(stream: ReadableStream<Uint8Array> | undefined): Promise<string> {
  if (!stream) return "";
  return (await new Response(stream).text()).trim().slice(-2000);
}

/**
 * pg_dump (custom format) of the database at `url`, streamed into `write`. The tables are counted
 * in a REPEATABLE READ transaction whose snapshot pg_dump then uses (--snapshot): the counts are
 * those of the very state the dump holds.
 */
export async function dumpPostgres(
  url: string,
  write: (source: AsyncIterable<Uint8Array>) => Promise<Written>,
  signal?: AbortSignal,
): Promise<{ written: Written; counts: TableCounts }> {
  const sql = connect(url);
  try {
    return await sql.begin("isolation level repeatable read read only", async (tx) => {
      const [snap] = await tx<{ id: string }[]>`select pg_export_snapshot() as id`;
      const counts = await countTables(tx);
      const proc = Bun.spawn(["pg_dump", "--format=custom", "--no-password", `--snapshot=${snap?.id}`], {
        env: { ...process.env, ...libpqEnv(url) },
        stdout: "pipe",
        stderr: "pipe",
        stdin: "ignore",
      });
      const onAbort = () => proc.kill();
      signal?.addEventListener("abort", onAbort);
      const stderr = drain(proc.stderr);
      try {
        let written: Written;
        try {
          written = await write(proc.stdout);
        } catch (error) {
          proc.kill();
          await proc.exited;
          throw error;
        }
        const code = await proc.exited;
        if (code !== 0) throw new Error(`pg_dump exited with ${code}: ${await stderr}`);
        return { written, counts };
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export interface RestoreOptions {
  /** Drop what exists first (a restore over the same database). */
  clean: boolean;
  /** The file's sha256 as recorded: the stream is hashed on its way and must match. */
  sha256: string | null;
  signal?: AbortSignal;
}

/**
 * pg_restore of a custom-format dump read from `source` into the database at `url`, in one
 * transaction: it applies whole or not at all. Objects belong to whoever `url` connects as.
 */
export async function restorePostgres(url: string, source: ReadableStream<Uint8Array>, options: RestoreOptions): Promise<void> {
  const argv = ["pg_restore", "--no-password", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"];
  if (options.clean) argv.push("--clean", "--if-exists");
  const env = libpqEnv(url);
  argv.push(`--dbname=${env.PGDATABASE}`);
  const proc = Bun.spawn(argv, { env: { ...process.env, ...env }, stdin: "pipe", stdout: "ignore", stderr: "pipe" });
  const onAbort = () => proc.kill();
  options.signal?.addEventListener("abort", onAbort);
  const stderr = drain(proc.stderr);
  const h = new HashingCounter();
  let feedError: Error | null = null;
  try {
    try {
      for await (const chunk of source) {
        h.add(chunk);
        proc.stdin.write(chunk);
        await proc.stdin.flush();
      }
    } catch (error) {
      feedError = error as Error;
    }
    try {
      await proc.stdin.end();
    } catch (error) {
      feedError ??= error as Error;
    }
    if (feedError) {
      // pg_restore stopping early (an error in the dump) closes its input: its own message says why.
      const early = proc.exitCode !== null && proc.exitCode !== 0;
      if (!early) proc.kill();
      const code = await proc.exited;
      if (early) throw new Error(`pg_restore exited with ${code}: ${await stderr}`);
      throw new Error(`The backup could not be read: ${feedError.message}`);
    }
    const code = await proc.exited;
    if (options.sha256 && h.digest() !== options.sha256) {
      throw new Error(`The stored file's checksum (${h.digest()}) differs from the one recorded at backup (${options.sha256}).`);
    }
    if (code !== 0) throw new Error(`pg_restore exited with ${code}: ${await stderr}`);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** Table counts of the database at `url`. */
export async function countPostgres(url: string): Promise<TableCounts> {
  const sql = connect(url);
  try {
    return await countTables(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Restores the dump into a scratch database made for the purpose (through the admin URL), counts
 * its tables and drops it again. Answers the counts found there.
 */
export async function restoreIntoScratch(
  adminUrl: string,
  source: ReadableStream<Uint8Array>,
  sha256: string | null,
  signal?: AbortSignal,
): Promise<TableCounts> {
  const name = `sy_verify_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = connect(adminUrl);
  try {
    await admin.unsafe(`CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8'`);
    try {
      const url = withDatabase(adminUrl, name);
      await restorePostgres(url, source, { clean: false, sha256, ...(signal ? { signal } : {}) });
      return await countPostgres(url);
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}
