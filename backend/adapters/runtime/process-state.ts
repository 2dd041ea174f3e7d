import { readFileSync } from "node:fs";

/** What the panel hands a slot's supervisor (spec.json, 0600: it holds the secrets to mask). */
export interface SupervisorSpec {
  app: string;
  color: string;
  releaseId: string;
  releaseDir: string;
  command: string[];
  envFile: string;
  /** Instance 1's port; null for a worker (no PORT in its environment). */
  port: number | null;
  /**
   * Each instance to run, instance 1 first (absent from older specs: one instance on `port`).
   * A worker's instances have no port.
   */
  instances?: Array<{ port: number | null }>;
  /** `web`, or the worker type (absent from older specs: `web`). Its log lines say which. */
  process?: string;
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

/** One instance's record in state.json. */
export interface InstanceState {
  /** 1-based. */
  index: number;
  state: "running" | "restarting" | "stopped" | "crashed";
  pid: number | null;
  pidStart: string | null;
  port: number | null;
  startedAt: string | null;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  crashes: Array<{ code: number | null; signal: string | null; at: string }>;
}

/**
 * What the supervisor records (state.json) for status, logs and adoption. The top-level fields
 * are instance 1's (and the whole set's state), as one-instance supervisors wrote them.
 */
export interface SupervisorState {
  state: "running" | "restarting" | "stopped" | "crashed";
  supervisorPid: number;
  supervisorStart: string | null;
  pid: number | null;
  pidStart: string | null;
  releaseId: string;
  port: number | null;
  startedAt: string | null;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  crashes: Array<{ code: number | null; signal: string | null; at: string }>;
  /** Every instance (absent from older supervisors, which ran one: the fields above). */
  instances?: InstanceState[];
}

/** The instances of a state.json, the one of an older supervisor included. */
export function stateInstances(s: SupervisorState): InstanceState[] {
  if (s.instances && s.instances.length > 0) return s.instances;
  return [
    {
      index: 1,
      state: s.state,
      pid: s.pid,
      pidStart: s.pidStart,
      port: s.port,
      startedAt: s.startedAt,
      restarts: s.restarts,
      lastExit: s.lastExit,
      crashes: s.crashes,
    },
  ];
}

/** The state of a set of instances: running while any runs, crashed once every one gave up. */
export function overallState(instances: Array<{ state: InstanceState["state"] }>): InstanceState["state"] {
  if (instances.some((i) => i.state === "running")) return "running";
  if (instances.some((i) => i.state === "restarting")) return "restarting";
  if (instances.some((i) => i.state === "crashed")) return "crashed";
  return "stopped";
}

/** The tag a process's log lines carry: none for the only web instance (as before), else `<type>.<k>`. */
export function processTag(type: string, index: number, count: number): string | null {
  return type === "web" && index === 1 && count === 1 ? null : `${type}.${index}`;
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
