import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { EVENT_TYPES } from "../../backend/contract/events.ts";

const ROOT = join(import.meta.dir, "../..");
const CONTRACT = join(ROOT, "backend/contract");
const GUI_STATE = join(ROOT, "app/src/lib/state");
const GUI_ROUTES = join(GUI_STATE, "events.svelte.ts");

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

const DOTTED = /"([a-z]+\.[a-z_]+)"/g;

/**
 * Event type names the backend writes: `type: "…"` (an event object, or a parameter typed with
 * a union of names) and names handed to a function that builds an event (`jobEvent(job, "…")`).
 */
function emittedTypes(source: string): string[] {
  const found = new Set<string>();
  for (const m of source.matchAll(/\btype\??:\s*((?:"[a-z]+\.[a-z_]+"\s*\|?\s*)+)/g)) {
    for (const name of (m[1] ?? "").matchAll(DOTTED)) found.add(name[1] as string);
  }
  for (const m of source.matchAll(/\b(?:\w*[eE]vent|announce)\(([^()]*)\)/g)) {
    for (const name of (m[1] ?? "").matchAll(DOTTED)) found.add(name[1] as string);
  }
  return [...found];
}

describe("the event contract", () => {
  test("finds the names the backend writes", () => {
    expect(emittedTypes(`publish({ type: "app.updated", appId })`)).toEqual(["app.updated"]);
    expect(emittedTypes(`function f(type: "job.created" | "job.updated") {}`)).toEqual(["job.created", "job.updated"]);
    expect(emittedTypes(`await publish(jobEvent(job, "job.updated", name))`)).toEqual(["job.updated"]);
    expect(emittedTypes(`await audit(c, "app.deploy", target)`)).toEqual([]);
  });

  test("every event type the backend emits is in the contract's list", () => {
    const known = new Set<string>(EVENT_TYPES);
    const unknown: string[] = [];
    let seen = 0;
    for (const file of files(join(ROOT, "backend"), /\.ts$/)) {
      if (file.startsWith(CONTRACT)) continue;
      for (const type of emittedTypes(readFileSync(file, "utf8"))) {
        seen += 1;
        if (!known.has(type)) unknown.push(`${relative(ROOT, file)}: ${type}`);
      }
    }
    expect(seen).toBeGreaterThan(0);
    expect(unknown).toEqual([]);
  });

  test("the GUI routes every type in the list, and some state follows each one it does not ignore", () => {
    const routes = readFileSync(GUI_ROUTES, "utf8");
    const others = files(GUI_STATE, /\.svelte\.ts$/)
      .filter((f) => f !== GUI_ROUTES)
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const problems: string[] = [];
    for (const type of EVENT_TYPES) {
      // A key is quoted when it must be ("job.created") and may be bare when it need not (metric).
      const key = `(?:"${type.replace(".", "\\.")}"${/^\w+$/.test(type) ? `|\\b${type}` : ""})\\s*:`;
      const route = new RegExp(`${key}\\s*(\\w+)`).exec(routes);
      if (!route) problems.push(`${type}: not in ROUTES`);
      else if (route[1] !== "ignore" && !new RegExp(key).test(others)) problems.push(`${type}: no state follows it`);
    }
    expect(problems).toEqual([]);
  });

  test("the contract imports nothing but itself, so the GUI can import it", () => {
    const outside = files(CONTRACT, /\.ts$/).flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)[^;]*?from\s+"([^"]+)"/gm)]
        .map((m) => m[1] as string)
        .filter((spec) => !spec.startsWith("./"))
        .map((spec) => `${relative(ROOT, file)}: ${spec}`),
    );
    expect(outside).toEqual([]);
  });

  test("the GUI's event stream listens for the contract's list", () => {
    const sse = readFileSync(join(ROOT, "app/src/lib/api/sse.ts"), "utf8");
    expect(sse).toContain("...EVENT_TYPES");
  });
});
