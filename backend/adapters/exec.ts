import { readFileSync, rmSync, writeFileSync } from "node:fs";
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
}

export interface RunResult {
  code: number | null;
  signalCode: string | null;
  timedOut: boolean;
  cancelled: boolean;
  stdout: string;
  stderr: string;
  ms: number;
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
  const killTree = () => killGroup(proc.pid, proc.exited);
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
    };
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    if (options.pidFile) rmSync(options.pidFile, { force: true });
  }
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
