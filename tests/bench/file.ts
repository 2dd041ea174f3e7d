import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const BENCHMARKS_FILE = join(import.meta.dir, "..", "..", "docs", "benchmarks.md");

/** The file as `## ` sections, so a run replaces the sections it measured and keeps the others. */
export function sectionsOf(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of text.split(/^(?=## )/m)) {
    if (part.startsWith("## ")) map.set(part.split("\n", 1)[0] as string, part.trimEnd());
  }
  return map;
}

/**
 * Puts the `## ` sections of `text` into docs/benchmarks.md: each replaces the one of the same
 * title where it stands, new ones go at the end, all others are kept. `header` replaces the
 * text before the first section when given.
 */
export function writeSections(text: string, header?: string): void {
  const old = existsSync(BENCHMARKS_FILE) ? readFileSync(BENCHMARKS_FILE, "utf8") : "# Benchmarks\n";
  const kept = sectionsOf(old);
  const fresh = sectionsOf(text);
  const ordered = [...kept.keys(), ...[...fresh.keys()].filter((t) => !kept.has(t))];
  const top = header ?? old.split(/^## /m)[0]?.trimEnd() ?? "# Benchmarks";
  writeFileSync(BENCHMARKS_FILE, `${top.trimEnd()}\n\n${ordered.map((t) => fresh.get(t) ?? kept.get(t)).join("\n\n")}\n`);
}
