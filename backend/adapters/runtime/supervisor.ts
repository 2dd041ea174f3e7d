#!/usr/bin/env bun
/**
 * Keeps one process type of a slot running, outside the panel: `bun --smol supervisor.ts <dir>`.
 * It starts each instance of the app from <dir>/spec.json (the web's instances each with their
 * own PORT; a worker's with none), writes their output (secrets masked) to the slot's log
 * segments (spec.logDir, see runtime-logs/writer.ts), each line with its time, stream, process
 * and release, restarts an instance after a crash with its own back-off, answers on the slot's
 * unix socket (a forwarder balancing across the web's ports), and records everything in
 * state.json so a restarted panel can adopt it.
 * SIGTERM stops every instance gracefully (within stop.json's graceMs when the panel left one);
 * SIGUSR1 restarts the instances one after another; SIGUSR2 drains the socket (see forwarder.ts);
 * SIGHUP changes a worker's number of instances to resize.json's, leaving the others running.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnvFile } from "../../domain/env.ts";
import { LineSplitter } from "../../domain/lines.ts";
import { createMasker } from "../../domain/masking.ts";
import { writeFileAtomic } from "../files.ts";
import { formatLogLine } from "../runtime-logs/format.ts";
import { SegmentWriter } from "../runtime-logs/writer.ts";
import { type Forwarder, startForwarder } from "./forwarder.ts";
import {
  type InstanceState,
  overallState,
  processStartTime,
  processTag,
  type SupervisorSpec,
  type SupervisorState,
} from "./process-state.ts";

if (!process.argv[2]) {
  console.error("usage: supervisor.ts <dir>");
  process.exit(2);
}
const slotDir: string = process.argv[2];
const spec = JSON.parse(readFileSync(join(slotDir, "spec.json"), "utf8")) as SupervisorSpec;
const mask = createMasker(spec.secrets);
const logs = new SegmentWriter(spec.logDir ?? join(slotDir, "..", "..", "logs", spec.color));

const type = spec.process ?? "web";
const slots: Array<{ port: number | null }> = spec.instances && spec.instances.length > 0 ? spec.instances : [{ port: spec.port }];

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
  // This supervisor answers SIGHUP with a resize (one started by an older panel would exit).
  ...{ resizable: true },
  instances: slots.map((slot, i) => ({
    index: i + 1,
    state: "running",
    pid: null,
    pidStart: null,
    port: slot.port,
    startedAt: null,
    restarts: 0,
    lastExit: null,
    crashes: [],
  })),
};
const records = state.instances as InstanceState[];

/** The tag of the supervisor's notes about the whole set: none for the web's only instance, else the type. */
const setTag = processTag(type, 1, slots.length) === null ? null : type;

let unsaved = false;
/**
 * Writes the state the panel reads. A failed write (a full disk) must not end the supervisor and
 * its app: the state is written again at the next change, or within 5 s.
 */
function save(): void {
  // The top-level fields stay instance 1's, as the panel's older readers expect.
  const first = records[0] as InstanceState;
  state.state = overallState(records);
  state.pid = first.pid;
  state.pidStart = first.pidStart;
  state.startedAt = first.startedAt;
  state.restarts = first.restarts;
  state.lastExit = first.lastExit;
  state.crashes = first.crashes;
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
 * `tag` names the process and instance (`worker.2`); the web's only instance has none.
 */
function log(stream: string, line: string, tag: string | null = setTag): void {
  const at = new Date().toISOString();
  const word = tag ? `${stream}:${tag}` : stream;
  try {
    if (dropped.lines > 0) {
      // A write cut short left half a line: the note starts on a line of its own.
      logs.append(
        `${dropped.partial ? "\n" : ""}${formatLogLine(at, "supervisor", spec.releaseId, `${dropped.lines} lines dropped: ${dropped.reason}`)}`,
      );
      dropped = { lines: 0, reason: "", partial: false };
    }
    logs.append(formatLogLine(at, word, spec.releaseId, mask(line)));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOSPC" || code === "EDQUOT" ? "disk full" : `log not writable (${code ?? "error"})`;
    const before = logs.size;
    const partial = dropped.partial || logs.resync() !== before;
    dropped = { lines: dropped.lines + 1, reason, partial };
  }
}

function childEnv(port: number | null): Record<string, string> {
  const fromFile = parseEnvFile(readFileSync(spec.envFile, "utf8"));
  const home = spec.user?.home ?? process.env.HOME ?? "/tmp";
  const env: Record<string, string> = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: home, ...fromFile };
  // A worker takes no traffic: the slot's env file has the web's PORT, which is not its own.
  if (port === null) delete env.PORT;
  else env.PORT = String(port);
  return env;
}

interface Instance {
  record: InstanceState;
  tag: string | null;
  child: ReturnType<typeof Bun.spawn> | null;
  /** Set when the panel asked for a restart: the next exit is neither a crash nor waited out. */
  restartRequested: boolean;
  /** Wakes the back-off wait early (a restart request during it). */
  wake: (() => void) | null;
  /** Set when the set shrank below this instance: its exit ends it for good. */
  retired: boolean;
  done: Promise<void>;
}

let stopping = false;
let forwarder: Forwarder | null = null;

async function pump(stream: ReadableStream<Uint8Array>, name: string, tag: string | null): Promise<void> {
  const splitter = new LineSplitter();
  const decoder = new TextDecoder();
  for await (const chunk of stream) for (const line of splitter.push(decoder.decode(chunk, { stream: true }))) log(name, line, tag);
  for (const line of splitter.end()) log(name, line, tag);
}

async function runOnce(instance: Instance): Promise<{ code: number | null; signal: string | null; upMs: number }> {
  const started = Date.now();
  const record = instance.record;
  const child = Bun.spawn(spec.command, {
    cwd: spec.releaseDir,
    env: childEnv(record.port),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
    // The app's own user: it cannot read this process's environment, the panel's, or the data dir.
    ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
  });
  instance.child = child;
  record.pid = child.pid;
  record.pidStart = processStartTime(child.pid);
  record.startedAt = new Date(started).toISOString();
  record.state = "running";
  save();
  const pumps = Promise.all([
    pump(child.stdout as ReadableStream<Uint8Array>, "stdout", instance.tag),
    pump(child.stderr as ReadableStream<Uint8Array>, "stderr", instance.tag),
  ]);
  const code = await child.exited;
  await pumps.catch(() => {});
  return { code: child.signalCode ? null : code, signal: child.signalCode ? String(child.signalCode) : null, upMs: Date.now() - started };
}

function killGroup(instance: Instance, signal: NodeJS.Signals): void {
  const child = instance.child;
  if (!child) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      process.kill(child.pid, signal);
    } catch {}
  }
}

/** One instance's life: run, and after an exit restart with back-off, until it gives up or the set stops. */
async function keep(instance: Instance): Promise<void> {
  const record = instance.record;
  const name = instance.tag ?? type;
  let backoff = spec.backoffMs;
  for (;;) {
    const exit = await runOnce(instance);
    if (stopping || instance.retired) return;
    const now = Date.now();
    record.lastExit = { code: exit.code, signal: exit.signal, at: new Date(now).toISOString() };
    if (instance.restartRequested) {
      instance.restartRequested = false;
      record.restarts++;
      record.pid = null;
      record.state = "restarting";
      save();
      backoff = spec.backoffMs;
      continue;
    }
    record.crashes = [...record.crashes, { code: exit.code, signal: exit.signal, at: new Date(now).toISOString() }].slice(-20);
    const recent = record.crashes.filter((c) => now - Date.parse(c.at) < spec.crashWindowMs).length;
    if (exit.upMs >= 60_000) backoff = spec.backoffMs;
    if (recent >= spec.maxCrashes) {
      log(
        "supervisor",
        `${name} exited with ${exit.code ?? exit.signal}; ${recent} crashes within ${spec.crashWindowMs / 1000} s, giving up`,
        instance.tag,
      );
      record.state = "crashed";
      record.pid = null;
      save();
      return;
    }
    record.restarts++;
    record.state = "restarting";
    record.pid = null;
    save();
    log(
      "supervisor",
      `${name} exited with ${exit.code ?? exit.signal}; restarting in ${backoff / 1000}s (restart ${record.restarts})`,
      instance.tag,
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, backoff);
      instance.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    instance.wake = null;
    if (stopping || instance.retired) return;
    backoff = Math.min(backoff * 2, spec.backoffMaxMs);
  }
}

/** How long a stop may take: the panel's stop.json (stopWorkers' graceMs), else the spec's. */
function graceMs(): number {
  try {
    const file = join(slotDir, "stop.json");
    if (!existsSync(file)) return spec.graceMs;
    const { graceMs } = JSON.parse(readFileSync(file, "utf8")) as { graceMs?: unknown };
    rmSync(file, { force: true });
    return typeof graceMs === "number" && graceMs >= 0 ? graceMs : spec.graceMs;
  } catch {
    return spec.graceMs;
  }
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const grace = graceMs();
  log("supervisor", "stopping");
  for (const instance of instances) {
    instance.wake?.();
    killGroup(instance, "SIGTERM");
  }
  const timer = setTimeout(() => {
    log("supervisor", `still running after ${grace} ms; killing`);
    for (const instance of instances) killGroup(instance, "SIGKILL");
  }, grace);
  await Promise.all(instances.map((i) => i.child?.exited ?? Promise.resolve(0)));
  clearTimeout(timer);
  for (const instance of instances) {
    killGroup(instance, "SIGKILL");
    instance.record.state = "stopped";
    instance.record.pid = null;
  }
  forwarder?.stop(true);
  save();
  process.exit(0);
}

let rolling = false;
/**
 * Restarts the instances one after another, each once its successor's process runs, so a
 * process type with several instances never has all of them down at once.
 */
async function rollingRestart(): Promise<void> {
  if (rolling || stopping) return;
  rolling = true;
  try {
    log("supervisor", `restarting ${type} (${instances.length} instance${instances.length === 1 ? "" : "s"})`);
    for (const instance of instances) {
      if (stopping) return;
      if (instance.record.state === "crashed") {
        instance.record.crashes = [];
        instance.record.state = "restarting";
        instance.done = keep(instance);
        await waitStarted(instance, null);
        continue;
      }
      const before = instance.record.pid;
      instance.restartRequested = true;
      if (instance.wake) instance.wake();
      else killGroup(instance, "SIGTERM");
      const timer = setTimeout(() => {
        if (instance.record.pid === before) killGroup(instance, "SIGKILL");
      }, spec.graceMs);
      await waitStarted(instance, before);
      clearTimeout(timer);
    }
  } finally {
    rolling = false;
  }
}

async function waitStarted(instance: Instance, before: number | null): Promise<void> {
  while (!stopping && (instance.record.pid === null || instance.record.pid === before) && instance.record.state !== "crashed") {
    await Bun.sleep(10);
  }
}

/** A fresh instance at the end of the set (a worker scaled up): the others keep running. */
function addInstance(): Instance {
  const record: InstanceState = {
    index: records.length + 1,
    state: "running",
    pid: null,
    pidStart: null,
    port: null,
    startedAt: null,
    restarts: 0,
    lastExit: null,
    crashes: [],
  };
  records.push(record);
  const instance: Instance = {
    record,
    tag: processTag(type, record.index, records.length),
    child: null,
    restartRequested: false,
    wake: null,
    retired: false,
    done: Promise.resolve(),
  };
  instances.push(instance);
  instance.done = keep(instance);
  return instance;
}

let resizing = false;
/**
 * A worker's new number of instances (resize.json): the extra ones are added, or the last ones
 * stopped gracefully (SIGKILL after the grace); the instances that stay are not touched.
 */
async function resize(): Promise<void> {
  const file = join(slotDir, "resize.json");
  const { instances: want } = JSON.parse(readFileSync(file, "utf8")) as { instances?: unknown };
  rmSync(file, { force: true });
  if (stopping || resizing || type === "web" || typeof want !== "number" || !Number.isInteger(want) || want < 1) return;
  resizing = true;
  try {
    const added: Instance[] = [];
    while (instances.length < want) added.push(addInstance());
    const extra = instances.splice(want);
    records.splice(want);
    if (added.length > 0 || extra.length > 0) log("supervisor", `${type}: ${want} instance${want === 1 ? "" : "s"}`);
    for (const instance of extra) {
      instance.retired = true;
      instance.wake?.();
      killGroup(instance, "SIGTERM");
    }
    const timer = setTimeout(() => {
      for (const instance of extra) killGroup(instance, "SIGKILL");
    }, spec.graceMs);
    await Promise.all(extra.map((i) => i.child?.exited ?? Promise.resolve(0)));
    clearTimeout(timer);
    for (const instance of extra) killGroup(instance, "SIGKILL");
    for (const instance of added) await waitStarted(instance, null);
    save();
  } finally {
    resizing = false;
  }
}

async function drain(): Promise<void> {
  const request = JSON.parse(readFileSync(join(slotDir, "drain.json"), "utf8")) as { id: string; timeoutMs: number };
  const left = forwarder ? await forwarder.drain({ timeoutMs: request.timeoutMs }) : 0;
  writeFileAtomic(join(slotDir, "drain-result.json"), JSON.stringify({ id: request.id, left }));
}

const instances: Instance[] = records.map((record) => ({
  record,
  tag: processTag(type, record.index, records.length),
  child: null,
  restartRequested: false,
  wake: null,
  retired: false,
  done: Promise.resolve(),
}));

process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
process.on(
  "SIGUSR1",
  () => void rollingRestart().catch((error: unknown) => log("supervisor", `restart failed: ${(error as Error).message}`)),
);
process.on("SIGHUP", () => void resize().catch((error: unknown) => log("supervisor", `resize failed: ${(error as Error).message}`)));
process.on("SIGUSR2", () => void drain().catch((error: unknown) => log("supervisor", `drain failed: ${(error as Error).message}`)));

writeFileSync(join(slotDir, "supervisor.pid"), `${process.pid}\n`);
const ports = slots.map((s) => s.port).filter((p): p is number => p !== null);
if (spec.socketPath && ports.length > 0) forwarder = startForwarder({ socketPath: spec.socketPath, ports });
log(
  "supervisor",
  `starting ${spec.command.join(" ")} (release ${spec.releaseId}, ${
    ports.length > 0
      ? `port${ports.length === 1 ? "" : "s"} ${ports.join(", ")}`
      : `${slots.length} instance${slots.length === 1 ? "" : "s"}`
  })`,
);

for (const instance of instances) instance.done = keep(instance);
// The supervisor lives while any instance does; once every one gave up, the set has crashed.
for (;;) {
  await Promise.all(instances.map((i) => i.done));
  if (stopping) break;
  if (rolling || instances.some((i) => i.record.state !== "crashed")) {
    await Bun.sleep(50);
    continue;
  }
  forwarder?.stop(true);
  save();
  process.exit(1);
}
