import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { groupRssBytes, type IoClass, type ProcStat, parseProcStat, RSS_WATCH_MS } from "../domain/build-limits.ts";
import { LineSplitter } from "../domain/lines.ts";

export type Stream = "stdout" | "stderr";

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Kill the whole process tree after this long. */
  timeoutMs?: number;
  /** Aborting kills the whole process tree. */
  signal?: AbortSignal;
  /** Each complete output line, as a terminal would finally show it (see LineSplitter). */
  onLine?: (stream: Stream, line: string) => void;
  /** Text written to stdin, then closed. */
  stdin?: string;
  /** Keep the output (up to 1 MiB per stream) in the result. */
  capture?: boolean;
  /**
   * Holds the process group id while the command runs, so whoever finds it after a crash of
   * ours can stop what we left behind (see killLeftover).
   */
  pidFile?: string;
  /** Run as this user and group (the panel runs as root), with no supplementary groups. */
  user?: { uid: number; gid: number } | null;
  /**
   * Sums the resident memory of the command's process group every half second and kills the
   * group (SIGKILL) once it is over this many bytes: a build cannot push the apps into swap.
   */
  memoryMaxBytes?: number;
  /** Called once when the command is being killed (time-out, cancel, memory), e.g. to stop its systemd scope too. */
  onKill?: () => void;
}

export interface RunResult {
  code: number | null;
  signalCode: string | null;
  timedOut: boolean;
  cancelled: boolean;
  stdout: string;
  stderr: string;
  ms: number;
  /** Killed for going over `memoryMaxBytes`. */
  memoryExceeded?: boolean;
  /** The largest resident memory of the group seen by the watch (with `memoryMaxBytes`). */
  peakRssBytes?: number;
}

export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
    message?: string,
  ) {
    super(message ?? describeFailure(argv, result));
  }
}

const CAPTURE_LIMIT = 1024 * 1024;
const KILL_GRACE_MS = 3000;

/**
 * Runs an argv (never a shell string) in its own process group, streaming lines as they come.
 * Cancellation and time-outs signal the whole group (SIGTERM, then SIGKILL) so build tools'
 * grandchildren die too.
 */
export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const proc = Bun.spawn(argv, {
    cwd: options.cwd,
    env: options.env ? dropUndefined(options.env) : process.env,
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
    ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
  });
  if (options.pidFile) writeFileSync(options.pidFile, `${proc.pid}\n`);
  let timedOut = false;
  let cancelled = false;
  let memoryExceeded = false;
  let peakRssBytes = 0;
  let killing = false;
  const killTree = () => {
    if (!killing) {
      killing = true;
      try {
        options.onKill?.();
      } catch {}
    }
    killGroup(proc.pid, proc.exited);
  };
  const watch = options.memoryMaxBytes
    ? setInterval(() => {
        const rss = groupRssBytes(readProcStats(), proc.pid, pageSize());
        peakRssBytes = Math.max(peakRssBytes, rss);
        if (rss <= (options.memoryMaxBytes ?? Number.POSITIVE_INFINITY) || memoryExceeded) return;
        memoryExceeded = true;
        killTree();
        // Memory runs out fast: no grace period for a group already over the ceiling.
        try {
          process.kill(-proc.pid, "SIGKILL");
        } catch {}
      }, RSS_WATCH_MS)
    : null;
  const timer = options.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        killTree();
      }, options.timeoutMs)
    : null;
  const onAbort = () => {
    cancelled = true;
    killTree();
  };
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const [stdout, stderr] = await Promise.all([pump(proc.stdout, "stdout", options), pump(proc.stderr, "stderr", options)]);
    const code = await proc.exited;
    return {
      code: proc.signalCode ? null : code,
      signalCode: proc.signalCode ? String(proc.signalCode) : null,
      timedOut,
      cancelled,
      stdout,
      stderr,
      ms: performance.now() - started,
      ...(options.memoryMaxBytes ? { memoryExceeded, peakRssBytes } : {}),
    };
  } finally {
    if (timer) clearTimeout(timer);
    if (watch) clearInterval(watch);
    options.signal?.removeEventListener("abort", onAbort);
    if (options.pidFile) rmSync(options.pidFile, { force: true });
  }
}

let pageSizeBytes: number | undefined;

/** The kernel's page size (rss in /proc/<pid>/stat counts pages); asked once. */
function pageSize(): number {
  if (pageSizeBytes !== undefined) return pageSizeBytes;
  pageSizeBytes = 4096;
  try {
    const n = Number.parseInt(Bun.spawnSync(["getconf", "PAGESIZE"]).stdout.toString(), 10);
    if (Number.isInteger(n) && n > 0) pageSizeBytes = n;
  } catch {}
  return pageSizeBytes;
}

/** Every process's /proc/<pid>/stat that can still be read (processes come and go while we look). */
export function readProcStats(): ProcStat[] {
  const out: ProcStat[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    try {
      const stat = parseProcStat(readFileSync(`/proc/${name}/stat`, "utf8"));
      if (stat) out.push(stat);
    } catch {}
  }
  return out;
}

let ioClassProbe: IoClass | undefined;

/**
 * How far this machine lets a build's I/O priority be lowered: the idle class where allowed, else
 * the lowest best-effort level, else (no ionice) not at all. Asked once.
 */
export function buildIoClass(): IoClass {
  if (ioClassProbe !== undefined) return ioClassProbe;
  const tries: Array<[IoClass, string[]]> = [
    ["idle", ["ionice", "-c", "3", "true"]],
    ["best-effort", ["ionice", "-c", "2", "-n", "7", "true"]],
  ];
  ioClassProbe = null;
  for (const [io, argv] of tries) {
    try {
      if (Bun.spawnSync(argv, { stdout: "ignore", stderr: "ignore" }).exitCode === 0) {
        ioClassProbe = io;
        break;
      }
    } catch {
      break; // no ionice on this machine
    }
  }
  return ioClassProbe;
}

/** Kills the process group recorded in a pid file by an earlier `run` and removes the file. */
export function killLeftover(pidFile: string): boolean {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
  } catch {
    return false;
  }
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(-pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}

/** Like `run`, but throws CommandError unless the command exits 0. */
export async function runChecked(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(argv, { capture: true, ...options });
  if (result.code !== 0) throw new CommandError(argv, result);
  return result;
}

/** SIGTERM to the process group, SIGKILL after a grace period if it is still there. */
export function killGroup(pid: number, exited?: Promise<unknown>, graceMs = KILL_GRACE_MS): void {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {}
    }
  };
  signal("SIGTERM");
  const force = setTimeout(() => signal("SIGKILL"), graceMs);
  if (exited)
    void exited.finally(() => {
      // The leader is gone; anything left in its group gets the hard stop now.
      clearTimeout(force);
      signal("SIGKILL");
    });
}

async function pump(stream: ReadableStream<Uint8Array>, name: Stream, options: RunOptions): Promise<string> {
  const splitter = new LineSplitter();
  let captured = "";
  const emit = (line: string) => {
    options.onLine?.(name, line);
    if (options.capture && captured.length < CAPTURE_LIMIT) captured += `${line}\n`;
  };
  const decoder = new TextDecoder();
  for await (const chunk of stream) for (const line of splitter.push(decoder.decode(chunk, { stream: true }))) emit(line);
  for (const line of splitter.end()) emit(line);
  return captured;
}

function dropUndefined(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function describeFailure(argv: string[], r: RunResult): string {
  const what = r.timedOut
    ? "timed out"
    : r.cancelled
      ? "was cancelled"
      : r.signalCode
        ? `was killed by ${r.signalCode}`
        : `exited with code ${r.code}`;
  const tail = (r.stderr || r.stdout).trim().split("\n").slice(-5).join("\n");
  return `${argv[0]} ${what}${tail ? `:\n${tail}` : ""}`;
}
