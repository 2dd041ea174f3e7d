#!/usr/bin/env bun
/**
 * The whole suite: unit tests, integration tests once on PGlite and once on Postgres (when a
 * server answers), then browser tests, then (as root, with debootstrap and systemd-nspawn) install.sh in a
 * fresh Debian 12 container. Prints one closing line `N passed, N failed`.
 *
 *   bun tests/run.ts [unit|integration|e2e|system ...]   (default: all)
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
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
  code: number;
}
const tallies: Tally[] = [];

async function suite(name: string, paths: string[], env: Record<string, string> = {}): Promise<void> {
  const present = paths.filter((p) => existsSync(join(root, p)));
  if (present.length === 0) return;
  console.log(`\n━━ ${name} ━━`);
  const proc = Bun.spawn([bun, "test", "--timeout", "600000", ...present.map((p) => `./${p}`)], {
    cwd: root,
    env: { ...process.env, SWITCHYARD_BCRYPT_COST: "4", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([tee(proc.stdout, process.stdout), tee(proc.stderr, process.stderr)]);
  const code = await proc.exited;
  const text = out + err;
  const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(text)?.[1] ?? 0);
  const tally = { name, passed: count("pass"), failed: count("fail"), skipped: count("skip"), code };
  // A crashed runner that printed no failures still failed.
  if (code !== 0 && tally.failed === 0) tally.failed = 1;
  tallies.push(tally);
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

if (want("unit")) await suite("unit", ["tests/unit"]);
if (want("integration")) {
  await suite("integration · PGlite", ["tests/integration"], { TEST_DB: "pglite" });
  if (await postgresReachable()) {
    await suite("integration · Postgres", ["tests/integration"], { TEST_DB: "postgres", TEST_DATABASE_URL });
  } else {
    console.log(`\n━━ integration · Postgres: SKIPPED — no server answers at ${TEST_DATABASE_URL} (set TEST_DATABASE_URL) ━━`);
  }
}
if (want("e2e") && existsSync(join(root, "tests/e2e"))) {
  if (await buildGui()) await suite("e2e · Chromium", ["tests/e2e"]);
  else tallies.push({ name: "e2e · GUI build", passed: 0, failed: 1, skipped: 0, code: 1 });
}

if (want("system")) {
  // A fresh Debian 12 booted with systemd-nspawn, install.sh inside (tests/system).
  const missing = missingPrerequisite();
  if (missing) console.log(`\n━━ system: SKIPPED — ${missing} (root, debootstrap, systemd-nspawn, nft) ━━`);
  else {
    const started = performance.now();
    await suite("system · install.sh", ["tests/system"]);
    console.log(`system tests took ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
}

const total = tallies.reduce((t, s) => ({ passed: t.passed + s.passed, failed: t.failed + s.failed, skipped: t.skipped + s.skipped }), {
  passed: 0,
  failed: 0,
  skipped: 0,
});
console.log("\n━━ summary ━━");
for (const t of tallies)
  console.log(`${t.name.padEnd(28)} ${t.passed} passed, ${t.failed} failed${t.skipped ? `, ${t.skipped} skipped` : ""}`);
console.log(`${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ""}`);
process.exit(total.failed > 0 || total.passed === 0 ? 1 : 0);
