import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * The import directions the layout promises (docs/development.md, "Layout"), read from the
 * source: type-only imports are erased by the transpiler and do not count.
 */
const ROOT = resolve(import.meta.dir, "../..");
const BACKEND = join(ROOT, "backend");
const WIRING = new Set(["backend/main.ts", "backend/cli.ts"]);
const OS_MODULES = new Set(["fs", "fs/promises", "child_process", "net"]);
const DRIVERS = [/^drizzle-orm(\/|$)/, /^postgres$/, /^@electric-sql\/pglite(\/|$)/];

interface Source {
  file: string;
  imports: string[];
  text: string;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "migrations" ? [] : sources(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

const transpiler = new Bun.Transpiler({ loader: "ts" });

/** Every file under backend/ with its value imports, relative ones as repository paths. */
const files: Source[] = sources(BACKEND).map((path) => {
  const text = readFileSync(path, "utf8");
  const file = relative(ROOT, path);
  const imports = transpiler
    .scanImports(text.replace(/^#!.*/, ""))
    .map((i) => (i.path.startsWith(".") ? relative(ROOT, resolve(dirname(path), i.path)) : i.path.replace(/^node:/, "")));
  return { file, imports, text };
});

const under = (prefix: string) => (path: string) => path.startsWith(prefix);
const isAdapter = under("backend/adapters/");
const isDriver = (spec: string) => DRIVERS.some((d) => d.test(spec));
const isDatabaseClient = (spec: string) => spec === "backend/db/client.ts" || spec.startsWith("backend/db/schema");

function violations(rule: (s: Source) => string[]): string[] {
  return files.flatMap((s) => rule(s).map((why) => `${s.file}: ${why}`)).sort();
}

describe("layering", () => {
  test("routes validate, call one layer below and shape the answer: no adapters, no SQL, no schema values", () => {
    const found = violations((s) =>
      !s.file.startsWith("backend/http/routes/")
        ? []
        : s.imports.filter((spec) => isAdapter(spec) || isDriver(spec) || isDatabaseClient(spec)).map((spec) => `imports ${spec}`),
    );
    expect(found).toEqual([]);
  });

  test("domain/ decides and does nothing: no adapters, database access, jobs or HTTP", () => {
    const forbidden = (spec: string) =>
      isAdapter(spec) ||
      isDriver(spec) ||
      spec === "backend/db/client.ts" ||
      spec.startsWith("backend/db/queries/") ||
      spec.startsWith("backend/jobs/") ||
      spec.startsWith("backend/http/") ||
      spec === "backend/services.ts";
    const found = violations((s) =>
      !s.file.startsWith("backend/domain/") ? [] : s.imports.filter(forbidden).map((spec) => `imports ${spec}`),
    );
    expect(found).toEqual([]);
  });

  test("only adapters (and the wiring in main.ts and cli.ts) touch files, processes and sockets", () => {
    const found = violations((s) => {
      if (isAdapter(s.file) || WIRING.has(s.file)) return [];
      const modules = s.imports.filter((spec) => OS_MODULES.has(spec)).map((spec) => `imports node:${spec}`);
      const spawns = /\bBun\.spawn(Sync)?\s*\(/.test(s.text) ? ["calls Bun.spawn"] : [];
      return [...modules, ...spawns];
    });
    expect(found).toEqual([]);
  });

  test("deploy state has one owner: only jobs/store.ts changes slots, releases, builds, jobs and job steps", () => {
    // A new app's slot rows are created with it, and a slot's port is chosen, by the query modules the store uses.
    const allowed = new Set(["backend/jobs/store.ts", "backend/db/queries/ports.ts"]);
    const writes = /\.(update|insert|delete)\(\s*(slots|releases|builds|jobs|jobSteps)\s*\)/g;
    const found = violations((s) => (allowed.has(s.file) ? [] : [...s.text.matchAll(writes)].map((m) => `writes ${m[2]}`)));
    expect(found).toEqual([]);
    // …and the pattern does see the owner's writes.
    expect([...(files.find((s) => s.file === "backend/jobs/store.ts")?.text ?? "").matchAll(writes)].length).toBeGreaterThan(10);
  });

  test("the rules see real imports", () => {
    const client = files.find((s) => s.file === "backend/db/client.ts");
    expect(client?.imports).toContain("postgres");
    expect(files.some((s) => s.file.startsWith("backend/http/routes/"))).toBe(true);
    expect(files.some((s) => isAdapter(s.file) && s.imports.includes("child_process"))).toBe(true);
  });
});
