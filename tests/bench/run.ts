#!/usr/bin/env bun
/**
 * Benchmarks: prints figures and rewrites docs/benchmarks.md.
 *   bun tests/bench/run.ts            all
 *   bun tests/bench/run.ts memory     some sections (memory, deploy, switch, rollback, gui, metrics, metrics-api, backup, domains,
 *                                     build-hog);
 *                                     the rest of the file, its header included, is kept
 *   A name also runs the sections named after it: `metrics` runs metrics and metrics-api.
 */
import { apiLoadBench } from "./api-load.ts";
import { backupBench } from "./backup.ts";
import { buildHogBench } from "./build-hog.ts";
import { deployBench } from "./deploy.ts";
import { domainsBench } from "./domains.ts";
import { BENCHMARKS_FILE, writeSections } from "./file.ts";
import { guiBench } from "./gui.ts";
import { memoryBench } from "./memory.ts";
import { metricsBench } from "./metrics.ts";
import { rollbackBench } from "./rollback.ts";
import { switchBench } from "./switch.ts";

const wanted = new Set(process.argv.slice(2));
const sections: Array<[string, () => Promise<string>]> = [
  ["memory", memoryBench],
  ["deploy", deployBench],
  ["switch", switchBench],
  ["rollback", rollbackBench],
  ["gui", guiBench],
  ["metrics", metricsBench],
  ["metrics-api", apiLoadBench],
  ["backup", backupBench],
  ["domains", domainsBench],
  ["build-hog", buildHogBench],
];

const cpu = (await Bun.file("/proc/cpuinfo").text()).match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
const cores = navigator.hardwareConcurrency;
const mem = Math.round(Number((await Bun.file("/proc/meminfo").text()).match(/MemTotal:\s+(\d+)/)?.[1] ?? 0) / 1024 / 1024);
const header = `# Benchmarks

Measured by \`bun run bench\` (\`tests/bench/\`) on ${new Date().toISOString().slice(0, 10)}: ${cores} cores (${cpu}), ${mem} GiB,
Bun ${Bun.version}. Each section says what it measures and how; rerun to refresh this file. Sections
measured elsewhere (the browser tests, the server install test) are kept as they were written.
`;

let measured = "";
for (const [name, bench] of sections) {
  if (wanted.size > 0 && ![...wanted].some((w) => name === w || name.startsWith(`${w}-`))) continue;
  console.log(`\n━━ ${name} ━━`);
  const text = await bench();
  console.log(text);
  measured += `\n${text}\n`;
}
// A run of some sections leaves the rest of the file as it was, the header (date, machine) too.
writeSections(measured, wanted.size === 0 ? header : undefined);
console.log(`\nwrote ${BENCHMARKS_FILE}`);
process.exit(0);
