import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { HashingCounter } from "./destinations.ts";

/** The first bytes of a pg_dump custom-format file. */
const PGDMP = "PGDMP";

export type PanelDumpFormat = "pglite" | "pg_dump";

/** What kind of panel backup a file holds: a PGlite data dir tarball, or a pg_dump custom-format file. */
export async function panelDumpFormat(path: string): Promise<PanelDumpFormat | null> {
  if (!existsSync(path)) return null;
  const head = new TextDecoder().decode(await Bun.file(path).slice(0, 512).arrayBuffer());
  if (head.startsWith(PGDMP)) return "pg_dump";
  // A tar archive: "ustar" at offset 257.
  if (head.slice(257, 262) === "ustar") return "pglite";
  return null;
}

/** Writes a stream to a 0600 file (created with its directory, 0700), hashing it on the way. */
export async function streamToFile(stream: ReadableStream<Uint8Array>, path: string): Promise<{ sha256: string; sizeBytes: number }> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const file = await open(path, "w", 0o600);
  const h = new HashingCounter();
  try {
    for await (const chunk of stream) {
      h.add(chunk);
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
  return { sha256: h.digest(), sizeBytes: h.size };
}

export function removeFile(path: string): void {
  rmSync(path, { force: true });
}

/** Exact row counts of every table of a PGlite database (the panel's schema and drizzle's). */
async function countPglite(pg: PGlite): Promise<Record<string, number>> {
  const tables = await pg.query<{ schema: string; name: string }>(
    `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%' order by 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const t of tables.rows) {
    const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
    const row = await pg.query<{ n: string | number }>(`select count(*)::bigint as n from ${q(t.schema)}.${q(t.name)}`);
    counts[`${t.schema}.${t.name}`] = Number(row.rows[0]?.n ?? 0);
  }
  return counts;
}

/** Opens a PGlite dump (a file) in memory, counts its tables and closes it again. */
export async function countPgliteDump(path: string): Promise<Record<string, number>> {
  const pg = await PGlite.create({ loadDataDir: Bun.file(path) });
  try {
    return await countPglite(pg);
  } finally {
    await pg.close();
  }
}

/**
 * Puts a PGlite dump in place as the data dir `dir` (the panel must be stopped). The directory that
 * was there is kept beside it, renamed, and answered.
 */
export async function installPgliteDump(path: string, dir: string): Promise<string | null> {
  let kept: string | null = null;
  if (existsSync(dir)) {
    kept = `${dir}.before-restore-${new Date().toISOString().replace(/[-:.]/g, "")}`;
    renameSync(dir, kept);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const pg = await PGlite.create({ dataDir: dir, loadDataDir: Bun.file(path) });
    await pg.query("select 1");
    await pg.close();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    if (kept) renameSync(kept, dir);
    throw error;
  }
  return kept;
}

export function tempPath(base: string, name: string): string {
  return join(base, name);
}
