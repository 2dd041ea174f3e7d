#!/usr/bin/env bun
/**
 * Keeps one slot's app running, outside the panel: `bun --smol supervisor.ts <slotDir>`.
 * It starts the app from <slotDir>/spec.json, writes its output (secrets masked) to the slot's log
 * segments (spec.logDir, see runtime-logs/writer.ts), each line with its time, stream and release,
 * restarts it after a crash with back-off, answers on the slot's unix socket (a forwarder to
 * PORT), and records everything in state.json so a restarted panel can adopt it.
 * SIGTERM stops the app gracefully; SIGUSR2 drains the socket (see forwarder.ts).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnvFile } from "../../domain/env.ts";
import { LineSplitter } from "../../domain/lines.ts";
import { createMasker } from "../../domain/masking.ts";
import { writeFileAtomic } from "../files.ts";
import { formatLogLine } from "../runtime-logs/format.ts";
import { SegmentWriter } from "../runtime-logs/writer.ts";
import { type Forwarder, startForwarder } from "./forwarder.ts";
import { processStartTime, type SupervisorSpec, type SupervisorState } from "./process-state.ts";

if (!process.argv[2]) {
  console.error("usage: supervisor.ts <slotDir>");
  process.exit(2);
}
const slotDir: string = process.argv[2];
const spec = JSON.parse(readFileSync(join(slotDir, "spec.json"), "utf8")) as SupervisorSpec;
const mask = createMasker(spec.secrets);
const logs = new SegmentWriter(spec.logDir ?? join(slotDir, "..", "..", "logs", spec.color));

const state: SupervisorState = {
  state: "running",
  supervisorPid: process.pid,
  supervisorStart: processStartTime(process.pid),
  pid: null,
  pidStart: null,
  releaseId: spec.releaseId,
  port: spec.port,
  startedAt: null,
  restarts: 0,
  lastExit: null,
  crashes: [],
};
let unsaved = false;
/**
 * Writes the state the panel reads. A failed write (a full disk) must not end the supervisor and
 * its app: the state is written again at the next change, or within 5 s.
 */
function save(): void {
  try {
    writeFileAtomic(join(slotDir, "state.json"), `${JSON.stringify(state)}\n`, 0o600);
    unsaved = false;
  } catch {
    if (unsaved) return;
    unsaved = true;
    setTimeout(() => {
      if (unsaved) {
        unsaved = false;
        save();
      }
    }, 5_000);
  }
}

/** Lines lost while the log could not be written (a full disk), told in the log once it can be again. */
let dropped = { lines: 0, reason: "", partial: false };

/**
 * Never throws: a failed write must not stop the pumps, or the app's pipes fill and it blocks on
 * its next write. The app keeps running, its lines are counted, and writing resumes by itself.
 */
function log(stream: string, line: string): void {
  const at = new Date().toISOString();
  try {
    if (dropped.lines > 0) {
      // A write cut short left half a line: the note starts on a line of its own.
      logs.append(
        `${dropped.partial ? "\n" : ""}${formatLogLine(at, "supervisor", spec.releaseId, `${dropped.lines} lines dropped: ${dropped.reason}`)}`,
      );
      dropped = { lines: 0, reason: "", partial: false };
    }
    logs.append(formatLogLine(at, stream, spec.releaseId, mask(line)));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOSPC" || code === "EDQUOT" ? "disk full" : `log not writable (${code ?? "error"})`;
    const before = logs.size;
    const partial = dropped.partial || logs.resync() !== before;
    dropped = { lines: dropped.lines + 1, reason, partial };
  }
}

function childEnv(): Record<string, string> {
  const fromFile = parseEnvFile(readFileSync(spec.envFile, "utf8"));
  const home = spec.user?.home ?? process.env.HOME ?? "/tmp";
  return { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: home, ...fromFile, PORT: String(spec.port) };
}

let child: ReturnType<typeof Bun.spawn> | null = null;
let stopping = false;
let forwarder: Forwarder | null = null;

async function pump(stream: ReadableStream<Uint8Array>, name: string): Promise<void> {
  const splitter = new LineSplitter();
  const decoder = new TextDecoder();
  for await (const chunk of stream) for (const line of splitter.push(decoder.decode(chunk, { stream: true }))) log(name, line);
  for (const line of splitter.end()) log(name, line);
}

async function runOnce(): Promise<{ code: number | null; signal: string | null; upMs: number }> {
  const started = Date.now();
  child = Bun.spawn(spec.command, {
    cwd: spec.releaseDir,
    env: childEnv(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
    // The app's own user: it cannot read this process's environment, the panel's, or the data dir.
    ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
  });
  state.pid = child.pid;
  state.pidStart = processStartTime(child.pid);
  state.startedAt = new Date(started).toISOString();
  state.state = "running";
  save();
  const pumps = Promise.all([
    pump(child.stdout as ReadableStream<Uint8Array>, "stdout"),
    pump(child.stderr as ReadableStream<Uint8Array>, "stderr"),
  ]);
  const code = await child.exited;
  await pumps.catch(() => {});
  return { code: child.signalCode ? null : code, signal: child.signalCode ? String(child.signalCode) : null, upMs: Date.now() - started };
}

function killGroup(signal: NodeJS.Signals): void {
  if (!child) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      process.kill(child.pid, signal);
    } catch {}
  }
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  log("supervisor", "stopping");
  killGroup("SIGTERM");
  const exited = child?.exited ?? Promise.resolve(0);
  const timer = setTimeout(() => {
    log("supervisor", `still running after ${spec.graceMs} ms; killing`);
    killGroup("SIGKILL");
  }, spec.graceMs);
  await exited;
  clearTimeout(timer);
  killGroup("SIGKILL");
  forwarder?.stop(true);
  state.state = "stopped";
  state.pid = null;
  save();
  process.exit(0);
}

async function drain(): Promise<void> {
  const request = JSON.parse(readFileSync(join(slotDir, "drain.json"), "utf8")) as { id: string; timeoutMs: number };
  const left = forwarder ? await forwarder.drain({ timeoutMs: request.timeoutMs }) : 0;
  writeFileAtomic(join(slotDir, "drain-result.json"), JSON.stringify({ id: request.id, left }));
}

process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
process.on("SIGUSR2", () => void drain().catch((error: unknown) => log("supervisor", `drain failed: ${(error as Error).message}`)));

writeFileSync(join(slotDir, "supervisor.pid"), `${process.pid}\n`);
if (spec.socketPath) forwarder = startForwarder({ socketPath: spec.socketPath, port: spec.port });
log("supervisor", `starting ${spec.command.join(" ")} (release ${spec.releaseId}, port ${spec.port})`);

let backoff = spec.backoffMs;
for (;;) {
  const exit = await runOnce();
  if (stopping) break;
  const now = Date.now();
  state.lastExit = { code: exit.code, signal: exit.signal, at: new Date(now).toISOString() };
  state.crashes = [...state.crashes, { code: exit.code, signal: exit.signal, at: new Date(now).toISOString() }].slice(-20);
  const recent = state.crashes.filter((c) => now - Date.parse(c.at) < spec.crashWindowMs).length;
  if (exit.upMs >= 60_000) backoff = spec.backoffMs;
  if (recent >= spec.maxCrashes) {
    log("supervisor", `app exited with ${exit.code ?? exit.signal}; ${recent} crashes within ${spec.crashWindowMs / 1000} s, giving up`);
    state.state = "crashed";
    state.pid = null;
    save();
    forwarder?.stop(true);
    process.exit(1);
  }
  state.restarts++;
  state.state = "restarting";
  state.pid = null;
  save();
  log("supervisor", `app exited with ${exit.code ?? exit.signal}; restarting in ${backoff / 1000}s (restart ${state.restarts})`);
  await Bun.sleep(backoff);
  if (stopping) break;
  backoff = Math.min(backoff * 2, spec.backoffMaxMs);
}
