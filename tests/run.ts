#!/usr/bin/env bun
/**
 * The whole suite: unit tests; the integration tests of tests/integration once on PGlite and once
 * on Postgres (when a server answers); those of tests/host, which do not depend on the database
 * driver, once; then browser tests, then (as root, with debootstrap and systemd-nspawn) install.sh
 * in a fresh Debian 12 container. A part that cannot run here is said so and its tests counted as
 * skipped. Prints one closing line `N passed, N failed[, N skipped]`.
 *
 *   bun tests/run.ts [unit|integration|host|e2e|system ...]   (default: all; integration includes host)
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { browserMissing } from "./helpers/browser.ts";
import { postgresReachable, TEST_DATABASE_URL } from "./helpers/database.ts";
import { missingPrerequisite } from "./system/container.ts";

const root = join(import.meta.dir, "..");
const bun = process.execPath;
const wanted = new Set(process.argv.slice(2));
const want = (part: string) => wanted.size === 0 || wanted.has(part);

interface Tally {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
}
const tallies: Tally[] = [];

const hasTests = (dir: string) => existsSync(join(root, dir)) && readdirSync(join(root, dir)).some((f) => f.endsWith(".test.ts"));

async function suite(name: string, dir: string, env: Record<string, string> = {}): Promise<Tally | null> {
  if (!hasTests(dir)) return null;
  console.log(`\n━━ ${name} ━━`);
  const proc = Bun.spawn([bun, "test", "--timeout", "600000", `./${dir}`], {
    cwd: root,
    env: { ...process.env, SWITCHYARD_BCRYPT_COST: "4", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([tee(proc.stdout, process.stdout), tee(proc.stderr, process.stderr)]);
  const code = await proc.exited;
  const text = out + err;
  const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(text)?.[1] ?? 0);
  // bun counts the hooks of a skipped describe block as skipped "(unnamed)" tests; they are not
  // tests. It lists skipped tests as they run and again under "N tests skipped:" at the end.
  const listed = text.split(/^\d+ tests? (?:skipped|todo):$/m)[0] ?? "";
  const hooks = listed.match(/^\((?:skip|todo)\) .* > \(unnamed\)$/gm)?.length ?? 0;
  const tally = { name, passed: count("pass"), failed: count("fail"), skipped: Math.max(0, count("skip") + count("todo") - hooks) };
  // A crashed runner, or one that failed outside any test, failed even when it counted no failures.
  if (code !== 0 && tally.failed === 0) tally.failed = 1;
  tallies.push(tally);
  return tally;
}

/** A part that cannot run here: a visible line, and its tests counted as skipped. */
function skipped(name: string, reason: string, tests: number): void {
  console.log(`\n━━ ${name}: SKIPPED — ${reason} ━━`);
  tallies.push({ name, passed: 0, failed: 0, skipped: tests });
}

async function tee(stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    sink.write(chunk);
    text += decoder.decode(chunk, { stream: true });
  }
  return text;
}

async function buildGui(): Promise<boolean> {
  console.log("\n━━ building the GUI for the browser tests ━━");
  const proc = Bun.spawn([bun, "--bun", "vite", "build", "--logLevel", "warn"], {
    cwd: join(root, "app"),
    stdout: "inherit",
    stderr: "inherit",
  });
  return (await proc.exited) === 0;
}

async function main(): Promise<void> {
  if (want("unit")) await suite("unit", "tests/unit");
  if (want("integration")) {
    const pglite = await suite("integration · PGlite", "tests/integration", { TEST_DB: "pglite" });
    if (await postgresReachable()) {
      await suite("integration · Postgres", "tests/integration", { TEST_DB: "postgres", TEST_DATABASE_URL });
    } else if (pglite) {
      // The same files would run: as many tests as on PGlite.
      const tests = pglite.passed + pglite.failed + pglite.skipped;
      skipped("integration · Postgres", `no server answers at ${TEST_DATABASE_URL} (set TEST_DATABASE_URL)`, tests);
    }
  }
  if (want("integration") || want("host")) await suite("host (once)", "tests/host");
  if (want("e2e") && hasTests("tests/e2e")) {
    const missing = browserMissing();
    if (missing) {
      // Run anyway: each browser test skips itself, so they are counted as skipped.
      console.log(`\n━━ e2e: SKIPPED — ${missing} ━━`);
      await suite("e2e · Chromium (skipped)", "tests/e2e");
    } else if (await buildGui()) await suite("e2e · Chromium", "tests/e2e");
    else tallies.push({ name: "e2e · GUI build", passed: 0, failed: 1, skipped: 0 });
  }
  if (want("system")) {
    // A fresh Debian 12 booted with systemd-nspawn, install.sh inside. Without its prerequisites
    // the file still runs, and its tests register as skipped.
    const missing = missingPrerequisite();
    if (missing) console.log(`\n━━ system: SKIPPED — ${missing} (root, debootstrap, systemd-nspawn, nft) ━━`);
    await suite(missing ? "system · install.sh (skipped)" : "system · install.sh", "tests/system");
  }
}

try {
  await main();
} catch (error) {
  console.error(error);
  tallies.push({ name: "tests/run.ts itself", passed: 0, failed: 1, skipped: 0 });
}

const total = tallies.reduce((t, s) => ({ passed: t.passed + s.passed, failed: t.failed + s.failed, skipped: t.skipped + s.skipped }), {
  passed: 0,
  failed: 0,
  skipped: 0,
});
// A run that passed nothing proved nothing: it fails, and says so in the count.
if (total.passed === 0 && total.failed === 0) {
  tallies.push({ name: "no test passed", passed: 0, failed: 1, skipped: 0 });
  total.failed = 1;
}
const line = (t: Omit<Tally, "name">) => `${t.passed} passed, ${t.failed} failed${t.skipped ? `, ${t.skipped} skipped` : ""}`;
console.log("\n━━ summary ━━");
for (const t of tallies) console.log(`${t.name.padEnd(32)} ${line(t)}`);
console.log(line(total));
process.exit(total.failed > 0 ? 1 : 0);
