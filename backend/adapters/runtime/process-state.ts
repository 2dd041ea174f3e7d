import { readFileSync } from "node:fs";

/** What the panel hands a slot's supervisor (spec.json, 0600: it holds the secrets to mask). */
export interface SupervisorSpec {
  app: string;
  color: string;
  releaseId: string;
  releaseDir: string;
  command: string[];
  envFile: string;
  port: number;
  secrets: string[];
  socketPath: string | null;
  /** Where the slot's log segments go (absent from older specs: `<dataDir>/apps/<app>/logs/<color>`). */
  logDir?: string;
  /** Who the app runs as when the supervisor runs as root (absent: the supervisor's own user). */
  user?: { uid: number; gid: number; home: string } | null;
  graceMs: number;
  backoffMs: number;
  backoffMaxMs: number;
  maxCrashes: number;
  crashWindowMs: number;
}

/** What the supervisor records (state.json) for status, logs and adoption. */
export interface SupervisorState {
  state: "running" | "restarting" | "stopped" | "crashed";
  supervisorPid: number;
  supervisorStart: string | null;
  pid: number | null;
  pidStart: string | null;
  releaseId: string;
  port: number;
  startedAt: string | null;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  crashes: Array<{ code: number | null; signal: string | null; at: string }>;
}

/** Field 22 of /proc/<pid>/stat: with the pid, it tells a process from a later one that reused the pid. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

export function isAlive(pid: number | null, start: string | null): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const now = processStartTime(pid);
  if (now === null) return false;
  // A zombie has exited; only its parent has not collected it yet.
  try {
    if (/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) return false;
  } catch {}
  return start === null || now === start;
}
