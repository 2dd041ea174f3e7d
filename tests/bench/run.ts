#!/usr/bin/env bun
/**
 * Benchmarks: prints figures and rewrites docs/benchmarks.md.
 *   bun tests/bench/run.ts            all
 *   bun tests/bench/run.ts memory     some sections (memory, deploy, switch, gui); the rest of the file is kept
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deployBench } from "./deploy.ts";
import { guiBench } from "./gui.ts";
import { memoryBench } from "./memory.ts";
import { switchBench } from "./switch.ts";

const root = join(import.meta.dir, "..", "..");
const wanted = new Set(process.argv.slice(2));
const sections: Array<[string, () => Promise<string>]> = [
  ["memory", memoryBench],
  ["deploy", deployBench],
  ["switch", switchBench],
  ["gui", guiBench],
];

const cpu = (await Bun.file("/proc/cpuinfo").text()).match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
const cores = navigator.hardwareConcurrency;
const mem = Math.round(Number((await Bun.file("/proc/meminfo").text()).match(/MemTotal:\s+(\d+)/)?.[1] ?? 0) / 1024 / 1024);
const header = `# Benchmarks

Measured by \`bun run bench\` (\`tests/bench/\`) on ${new Date().toISOString().slice(0, 10)}: ${cores} cores (${cpu}), ${mem} GiB,
Bun ${Bun.version}. Each section says what it measures and how; rerun to refresh this file. Sections
measured elsewhere (the browser tests, the server install test) are kept as they were written.
`;

/** The file as `## ` sections, so a run replaces the sections it measured and keeps the others. */
function sectionsOf(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of text.split(/^(?=## )/m)) {
    if (part.startsWith("## ")) map.set(part.split("\n", 1)[0] as string, part.trimEnd());
  }
  return map;
}

const file = join(root, "docs", "benchmarks.md");
const kept = sectionsOf(existsSync(file) ? readFileSync(file, "utf8") : "");
const fresh = new Map<string, string>();
for (const [name, bench] of sections) {
  if (wanted.size > 0 && !wanted.has(name)) continue;
  console.log(`\n━━ ${name} ━━`);
  const text = await bench();
  console.log(text);
  for (const [title, body] of sectionsOf(text)) fresh.set(title, body);
}
// Sections keep their place in the file; new ones go at the end.
const ordered = [...kept.keys(), ...[...fresh.keys()].filter((t) => !kept.has(t))];
const body = (t: string) => fresh.get(t) ?? kept.get(t);
writeFileSync(file, `${header}\n${ordered.map(body).join("\n\n")}\n`);
console.log(`\nwrote ${file}`);
process.exit(0);
