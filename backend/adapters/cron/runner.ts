/**
 * The cron runner: runs one cron job's command once, in the current directory (the live release)
 * with the current environment (the release's), applying the job's overlap policy and timeout, and
 * leaves the run's result where the panel reads it (`<runsDir>/<runId>.json`, output in `.out`).
 *
 * The panel spawns it in local mode; a systemd timer starts it in server mode. It is copied outside
 * the panel's code (like the socket forwarder) so installed timers keep working across updates of
 * the panel, and therefore imports nothing of the panel's.
 *
 *   bun runner.ts SPEC_JSON [RUN_ID TRIGGER DUE_AT_ISO]
 *
 * Without a run id (a timer started it), the run is a scheduled one, unless the panel left Run now
 * requests in the job's directory (`manual-<runId>.json`, server mode): the oldest is run instead,
 * and the rest one after the other before the runner exits.
 */
import { randomUUID } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

interface Spec {
  jobId: string;
  command: string;
  timeoutSec: number;
  overlap: "skip" | "queue";
  /** The job's directory: its lock, its pending Run now requests and `runs/`. */
  jobDir: string;
  /** The panel runs as root in local mode: the command runs as the app's user. */
  user?: { uid: number; gid: number; home: string } | null;
  /** Between SIGTERM and SIGKILL at the timeout. */
  graceMs?: number;
  /** Server mode: how long one start of the job's service may take (its TimeoutStartSec=). */
  startBudgetSec?: number | null;
}

interface RunResult {
  id: string;
  jobId: string;
  trigger: "schedule" | "manual";
  status: "queued" | "running" | "succeeded" | "failed" | "timed_out" | "skipped" | "cancelled";
  dueAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  exitCode: number | null;
  message: string | null;
  /** The runner's pid while the run is not finished: the panel tells a live run from an abandoned one by it. */
  pid: number | null;
}

const OUTPUT_LIMIT = 64 * 1024;
const QUEUE_POLL_MS = 250;

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o640 });
  renameSync(tmp, file);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The job's lock: a directory made atomically, holding the pid of the runner that has it. */
function tryLock(lock: string): boolean {
  try {
    mkdirSync(lock);
  } catch {
    let holder = 0;
    try {
      holder = Number.parseInt(readFileSync(join(lock, "pid"), "utf8"), 10);
    } catch {
      // Just made by another runner that has not written its pid yet: held.
      return false;
    }
    if (holder > 0 && alive(holder)) return false;
    // Left by a runner that died (a reboot, a SIGKILL): taken over.
    const stale = `${lock}.stale.${process.pid}`;
    try {
      renameSync(lock, stale);
      rmSync(stale, { recursive: true, force: true });
    } catch {
      return false;
    }
    return tryLock(lock);
  }
  writeFileSync(join(lock, "pid"), `${process.pid}\n`);
  return true;
}

/** Keeps the last OUTPUT_LIMIT bytes of everything written to it. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  push(chunk: Uint8Array): void {
    this.chunks.push(Buffer.from(chunk));
    this.size += chunk.byteLength;
    while (this.size - (this.chunks[0]?.byteLength ?? 0) >= OUTPUT_LIMIT && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.byteLength ?? 0;
    }
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.byteLength - OUTPUT_LIMIT)).toString("utf8");
  }
}

/** The oldest Run now request the panel left, taken (removed) so no other runner runs it too. */
function takeRequest(jobDir: string): { id: string; dueAt: string } | null {
  let names: string[];
  try {
    names = readdirSync(jobDir).filter((n) => /^manual-[0-9a-f-]{36}\.json$/.test(n));
  } catch {
    return null;
  }
  const oldest = names
    .map((n) => ({ n, at: statSync(join(jobDir, n)).mtimeMs }))
    .sort((a, b) => a.at - b.at)
    .map((e) => e.n);
  for (const name of oldest) {
    const claimed = join(jobDir, `.${name}.${process.pid}`);
    try {
      renameSync(join(jobDir, name), claimed);
    } catch {
      continue;
    }
    try {
      const asked = JSON.parse(readFileSync(claimed, "utf8")) as { runId: string; dueAt: string };
      return { id: asked.runId, dueAt: asked.dueAt };
    } catch {
    } finally {
      rmSync(claimed, { force: true });
    }
  }
  return null;
}

/**
 * The spec says what runs: it is refused unless it is a plain file that neither it nor its
 * directory lets the group or others change (the job's own directory is writable by the apps' user).
 */
function readSpec(specFile: string): Spec {
  const file = lstatSync(specFile);
  const dir = statSync(dirname(specFile));
  if (!file.isFile() || (file.mode & 0o022) !== 0 || (dir.mode & 0o022) !== 0) {
    throw new Error(`refusing ${specFile}: it, or its directory, may be written by others than the panel`);
  }
  return JSON.parse(readFileSync(specFile, "utf8")) as Spec;
}

let stopping = false;
let onStop: (() => void) | null = null;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    stopping = true;
    onStop?.();
  });
}

async function main(): Promise<number> {
  const [specFile, argRunId, argTrigger, argDueAt] = process.argv.slice(2);
  if (!specFile) {
    console.error("usage: runner.ts SPEC_JSON [RUN_ID TRIGGER DUE_AT]");
    return 2;
  }
  const spec = readSpec(specFile);
  const began = performance.now();
  mkdirSync(join(spec.jobDir, "runs"), { recursive: true });
  if (argRunId) return runOne(spec, argRunId, argTrigger === "manual" ? "manual" : "schedule", argDueAt ?? new Date().toISOString());
  const first = takeRequest(spec.jobDir);
  await runOne(spec, first?.id ?? randomUUID(), first ? "manual" : "schedule", first?.dueAt ?? new Date().toISOString());
  // Run now requests made while this run ran (queued by the panel) are run here, in turn, while a
  // whole run still fits in this start of the service; the panel starts it again for the rest.
  const fits = () =>
    !spec.startBudgetSec || (performance.now() - began) / 1000 + spec.timeoutSec + (spec.graceMs ?? 5000) / 1000 + 10 < spec.startBudgetSec;
  for (let next = fits() ? takeRequest(spec.jobDir) : null; next && !stopping; next = fits() ? takeRequest(spec.jobDir) : null) {
    await runOne(spec, next.id, "manual", next.dueAt);
  }
  return 0;
}

async function runOne(spec: Spec, runId: string, trigger: RunResult["trigger"], dueAt: string): Promise<number> {
  const runsDir = join(spec.jobDir, "runs");
  const id = /^[0-9a-f-]{36}$/.test(runId) ? runId : randomUUID();

  const result: RunResult = {
    id,
    jobId: spec.jobId,
    trigger,
    status: "running",
    dueAt,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    exitCode: null,
    message: null,
    pid: process.pid,
  };
  const save = () => writeAtomic(join(runsDir, `${id}.json`), `${JSON.stringify(result)}\n`);
  const finish = (status: RunResult["status"], message: string | null) => {
    result.status = status;
    result.message = message;
    result.finishedAt = new Date().toISOString();
    result.pid = null;
    save();
  };

  const lock = join(spec.jobDir, "lock");
  if (!tryLock(lock)) {
    if (spec.overlap === "skip") {
      finish("skipped", "The previous run was still running (overlap policy: skip).");
      return 0;
    }
    result.status = "queued";
    result.message = "Waiting for the previous run to finish (overlap policy: queue).";
    save();
    while (!tryLock(lock)) {
      if (stopping) {
        finish("cancelled", "Stopped while waiting for the previous run to finish.");
        return 0;
      }
      await Bun.sleep(QUEUE_POLL_MS);
    }
    result.message = null;
  }

  try {
    const started = performance.now();
    result.status = "running";
    result.startedAt = new Date().toISOString();
    save();
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    if (spec.user) env.HOME = spec.user.home;
    const proc = Bun.spawn(["/bin/sh", "-c", spec.command], {
      cwd: process.cwd(),
      env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      // Its own process group, so the timeout reaches whatever the command started too.
      detached: true,
      ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
    });
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-proc.pid, signal);
      } catch {}
    };
    let ending: "timed_out" | "cancelled" | null = null;
    const end = (why: "timed_out" | "cancelled") => {
      if (ending) return;
      ending = why;
      signalGroup("SIGTERM");
      setTimeout(() => signalGroup("SIGKILL"), spec.graceMs ?? 5000).unref();
    };
    const timer = setTimeout(() => end("timed_out"), spec.timeoutSec * 1000);
    onStop = () => end("cancelled");
    if (stopping) end("cancelled");

    const tail = new Tail();
    const pump = async (stream: ReadableStream<Uint8Array>, echo: (chunk: Uint8Array) => void) => {
      for await (const chunk of stream) {
        tail.push(chunk);
        echo(chunk);
      }
    };
    await Promise.all([pump(proc.stdout, (c) => process.stdout.write(c)), pump(proc.stderr, (c) => process.stderr.write(c)), proc.exited]);
    clearTimeout(timer);
    onStop = null;
    // Whatever the command left in its group goes with it.
    signalGroup("SIGKILL");
    result.durationMs = Math.round(performance.now() - started);
    result.exitCode = proc.signalCode ? null : proc.exitCode;
    writeAtomic(join(runsDir, `${id}.out`), tail.text());
    const finalState = ending as "timed_out" | "cancelled" | null;
    if (finalState === "timed_out") finish("timed_out", `Stopped after the timeout of ${spec.timeoutSec} s.`);
    else if (finalState === "cancelled") finish("cancelled", "Stopped before it finished.");
    else if (result.exitCode === 0) finish("succeeded", null);
    else if (result.exitCode !== null) finish("failed", `Exited with code ${result.exitCode}.`);
    else finish("failed", `Killed by ${proc.signalCode}.`);
    return 0;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

process.exit(
  await main().catch((error: unknown) => {
    console.error(`cron runner: ${(error as Error).message}`);
    return 1;
  }),
);
