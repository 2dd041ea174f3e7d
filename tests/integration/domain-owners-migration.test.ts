import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { TEST_DATABASE_URL, TEST_DB, withDatabase } from "../helpers/database.ts";

const DIR = join(import.meta.dir, "../../backend/db/migrations");
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".sql"))
  .sort();
const statements = (file: string) =>
  readFileSync(join(DIR, file), "utf8")
    .split("--> statement-breakpoint")
    .map((s) => s.trim())
    .filter(Boolean);

interface Sql {
  query<T>(text: string): Promise<T[]>;
  close(): Promise<void>;
}

async function emptyDatabase(): Promise<Sql> {
  if (TEST_DB === "pglite") {
    const db = await PGlite.create();
    return { query: async (text) => (await db.query(text)).rows as never, close: () => db.close() };
  }
  const name = `sy_mig_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const sql = postgres(withDatabase(TEST_DATABASE_URL, name), { max: 1, onnotice: () => {} });
  return {
    query: async (text) => (await sql.unsafe(text)) as never,
    close: async () => {
      await sql.end();
      const cleanup = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

/** Data written by the version before: the migration must carry it over, not fail on it. */
describe(`migration 0005 on a database with data (${TEST_DB})`, () => {
  let db: Sql;
  const latest = files.findIndex((f) => f.startsWith("0005_"));

  beforeAll(async () => {
    db = await emptyDatabase();
    for (const file of files.slice(0, latest)) for (const s of statements(file)) await db.query(s);
    await db.query(`insert into apps (name, repo_url, domains, created_at) values
      ('older', 'file:///x', '{a.example.com,shared.example.com}', now() - interval '2 days'),
      ('newer', 'file:///x', '{shared.example.com,b.example.com}', now() - interval '1 day'),
      ('plain', 'file:///x', '{}', now())`);
    await db.query(`insert into jobs (kind, status, created_at) values
      ('self-update', 'queued', now() - interval '1 hour'), ('self-update', 'queued', now()), ('self-update', 'succeeded', now())`);
    for (const s of statements(files[latest] as string)) await db.query(s);
  });
  afterAll(async () => {
    await db?.close();
  });

  test("each host name gets one owner, the app that had it first; the other app's list loses it", async () => {
    const owners = await db.query<{ name: string; app: string }>(
      "select d.name, a.name as app from domains d join apps a on a.id = d.app_id order by d.name",
    );
    expect(owners).toEqual([
      { name: "a.example.com", app: "older" },
      { name: "b.example.com", app: "newer" },
      { name: "shared.example.com", app: "older" },
    ]);
    const lists = await db.query<{ name: string; domains: string[] }>("select name, domains from apps order by name");
    expect(lists).toEqual([
      { name: "newer", domains: ["b.example.com"] },
      { name: "older", domains: ["a.example.com", "shared.example.com"] },
      { name: "plain", domains: [] },
    ]);
  });

  test("of two queued self-updates the older stays; a second cannot be queued beside it", async () => {
    const active = await db.query<{ n: number }>(
      "select count(*)::int as n from jobs where kind = 'self-update' and status in ('queued', 'running')",
    );
    expect(Number(active[0]?.n)).toBe(1);
    await expect(db.query("insert into jobs (kind, status) values ('self-update', 'queued')")).rejects.toThrow();
    await db.query("insert into jobs (kind, status) values ('self-update', 'failed')");
  });

  test("a panel of the version before, writing only apps.domains, claims names too and cannot take a held one", async () => {
    await db.query("update apps set domains = '{c.example.com}' where name = 'plain'");
    await db.query("insert into apps (name, repo_url, domains) values ('late', 'file:///x', '{d.example.com}')");
    const owners = await db.query<{ name: string; app: string }>(
      "select d.name, a.name as app from domains d join apps a on a.id = d.app_id where d.name in ('c.example.com', 'd.example.com') order by d.name",
    );
    expect(owners).toEqual([
      { name: "c.example.com", app: "plain" },
      { name: "d.example.com", app: "late" },
    ]);
    await expect(db.query("update apps set domains = '{a.example.com}' where name = 'plain'")).rejects.toThrow();
    await expect(db.query("insert into apps (name, repo_url, domains) values ('thief', 'file:///x', '{b.example.com}')")).rejects.toThrow();
    await db.query("update apps set domains = '{}' where name = 'plain'");
    const freed = await db.query<{ n: number }>("select count(*)::int as n from domains where name = 'c.example.com'");
    expect(Number(freed[0]?.n)).toBe(0);
  });

  test("new columns exist and old writes still work", async () => {
    await db.query("update jobs set intent = '{}'::jsonb where kind = 'self-update'");
    const cols = await db.query<{ column_name: string }>(
      "select column_name from information_schema.columns where table_name = 'slots' and column_name = 'exits'",
    );
    expect(cols).toHaveLength(1);
  });
});
