#!/usr/bin/env bun
/**
 * Benchmarks: prints figures and rewrites docs/benchmarks.md.
 *   bun tests/bench/run.ts            all
 *   bun tests/bench/run.ts memory     one section (memory, deploy, switch)
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { deployBench } from "./deploy.ts";
import { memoryBench } from "./memory.ts";
import { switchBench } from "./switch.ts";

const root = join(import.meta.dir, "..", "..");
const wanted = new Set(process.argv.slice(2));
const sections: Array<[string, () => Promise<string>]> = [
  ["memory", memoryBench],
  ["deploy", deployBench],
  ["switch", switchBench],
];

const cpu = (await Bun.file("/proc/cpuinfo").text()).match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
const cores = navigator.hardwareConcurrency;
const mem = Math.round(Number((await Bun.file("/proc/meminfo").text()).match(/MemTotal:\s+(\d+)/)?.[1] ?? 0) / 1024 / 1024);
let out = `# Benchmarks

Measured by \`bun run bench\` (\`tests/bench/\`) on ${new Date().toISOString().slice(0, 10)}: ${cores} cores (${cpu}), ${mem} GiB,
Bun ${Bun.version}. Each section says what it measures and how; rerun to refresh this file.
`;
for (const [name, bench] of sections) {
  if (wanted.size > 0 && !wanted.has(name)) continue;
  console.log(`\n━━ ${name} ━━`);
  const text = await bench();
  console.log(text);
  out += `\n${text}\n`;
}
if (wanted.size === 0) writeFileSync(join(root, "docs", "benchmarks.md"), out);
else console.log("\n(one section only: docs/benchmarks.md left as it was)");
process.exit(0);
