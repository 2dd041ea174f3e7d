import { sql } from "drizzle-orm";
import type { Db } from "../../backend/db/client.ts";
import type { Route } from "../../backend/http/router.ts";

/** A value for a path parameter that names nothing: a fresh uuid for ids, a plausible name otherwise. */
export function madeUpParam(name: string): string {
  if (/id$/i.test(name)) return crypto.randomUUID();
  if (name === "color") return "blue";
  return `no-such-${name.toLowerCase()}`;
}

/** The route's pattern with each `:param` replaced (the value is URL-encoded here). */
export function fillPath(route: Route, value: (name: string) => string): string {
  return `/${route.segments.map((s) => (s.startsWith(":") ? encodePathValue(value(s.slice(1))) : s)).join("/")}`;
}

/** Like encodeURIComponent, but a lone surrogate is sent as the bytes a careless client would send (%ED%A0%80). */
export function encodePathValue(value: string): string {
  if (value.isWellFormed()) return encodeURIComponent(value);
  return [...value]
    .map((ch) => {
      const unit = ch.charCodeAt(0);
      if (ch.length > 1 || unit < 0xd800 || unit > 0xdfff) return encodeURIComponent(ch);
      return [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join("");
    })
    .join("");
}

export function paramNames(route: Route): string[] {
  return route.segments.filter((s) => s.startsWith(":")).map((s) => s.slice(1));
}

/** Does the body have the API's error shape, `{ error: { code, message } }`? */
export function isErrorShape(body: unknown): boolean {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof error?.code === "string" && error.code.length > 0 && typeof error.message === "string" && error.message.length > 0;
}

/** Row counts of every table in the public schema, in one query. */
export async function tableCounts(db: Db): Promise<Record<string, number>> {
  const tables = await rowsOf<{ name: string }>(
    db,
    sql`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`,
  );
  if (tables.length === 0) return {};
  const columns = tables.map(
    ({ name }) => `(select count(*) from "${name.replaceAll('"', '""')}")::int as "${name.replaceAll('"', '""')}"`,
  );
  const [row] = await rowsOf<Record<string, number>>(db, sql.raw(`select ${columns.join(", ")}`));
  return Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)]));
}

async function rowsOf<T>(db: Db, query: ReturnType<typeof sql>): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** The tables whose row count differs, as `name: before → after`. */
export function countChanges(before: Record<string, number>, after: Record<string, number>, ignore: string[] = []): string[] {
  return Object.keys({ ...before, ...after })
    .filter((t) => !ignore.includes(t) && before[t] !== after[t])
    .map((t) => `${t}: ${before[t]} → ${after[t]}`);
}

/** Rows as a fixed-width text table, for a failure message a person can read. */
export function textTable<T extends object>(list: T[]): string {
  const rows = list as unknown as Array<Record<string, string | number>>;
  if (rows.length === 0) return "(none)";
  const columns = Object.keys(rows[0] as object);
  const width = (c: string) => Math.min(70, Math.max(c.length, ...rows.map((r) => String(r[c] ?? "").length)));
  const cell = (c: string, v: string) => (v.length > 70 ? `${v.slice(0, 67)}...` : v).padEnd(width(c));
  const line = (r: Record<string, string | number>) => columns.map((c) => cell(c, String(r[c] ?? ""))).join(" | ");
  return [
    line(Object.fromEntries(columns.map((c) => [c, c]))),
    columns.map((c) => "-".repeat(width(c))).join("-+-"),
    ...rows.map(line),
  ].join("\n");
}

/** A small seeded generator (mulberry32), so a failing run can be repeated exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
