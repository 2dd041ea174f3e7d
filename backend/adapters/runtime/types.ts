import type { RuntimeLogReader } from "../runtime-logs/types.ts";

export type Color = "blue" | "green";
export const COLORS: readonly Color[] = ["blue", "green"];

export function otherColor(color: Color): Color {
  return color === "blue" ? "green" : "blue";
}

/** Everything a runtime needs to run one release in one slot. */
export interface SlotSpec {
  app: string;
  color: Color;
  releaseId: string;
  /** Working directory: the release's files. */
  releaseDir: string;
  /** What to run, as argv (a user's shell command arrives as ["/bin/sh", "-c", cmd]). */
  command: string[];
  /** 0600 file of KEY=value lines (the release's env snapshot, PORT included). */
  envFile: string;
  port: number;
  /**
   * Every web instance's port (instance 1 first, `ports[0] === port`); absent or one port: one
   * instance. Each instance is its own process with PORT set to its port; the slot's forwarder
   * balances its socket's connections across them.
   */
  ports?: number[];
  /** Values to replace with •••• in the slot's log output. */
  secrets: string[];
  /**
   * Where the slot also listens as a unix socket (a forwarder to `port`), for the switch: nginx's
   * upstream is a symlink to one slot's socket.
   */
  socketPath?: string | null;
  /**
   * The app's volumes: `dir` is where the data lives, `mountAt` its place in the release. systemd
   * bind-mounts each one there; the process runtime finds the release's symlinks already in place
   * and only gives `dir` to the app user.
   */
  volumes?: Array<{ dir: string; mountAt: string }>;
  /** systemd MemoryMax= / CPUQuota= (e.g. "512M", "150%"); the process runtime ignores them. */
  memoryMax?: string | null;
  cpuQuota?: string | null;
  /** systemd IOWeight= (1-10000); the process runtime ignores it. */
  ioWeight?: number | null;
}

/** One worker process type of a slot: no port, no traffic; `instances` copies of `command`. */
export interface WorkerProcessSpec {
  type: string;
  command: string[];
  instances: number;
}

/**
 * A slot's worker processes: they run from the slot's release with the slot's env file (the
 * web's, PORT aside), no socket and no port. Replaces whatever workers ran in that slot: types
 * not listed are stopped.
 */
export interface WorkersSpec extends Omit<SlotSpec, "command" | "port" | "ports" | "socketPath"> {
  processes: WorkerProcessSpec[];
  /** How long a worker instance has after SIGTERM before SIGKILL (the app's drain seconds; default 10). */
  graceSeconds?: number;
}

export interface InstanceStatus {
  /** 1-based. */
  index: number;
  state: SlotRunState;
  pid: number | null;
  /** web only. */
  port: number | null;
  restarts: number;
  startedAt: Date | null;
  lastExit: { code: number | null; signal: string | null; at: Date } | null;
}

/** What runs of one process type in one slot. */
export interface ProcessStatus {
  /** `web`, or a worker type. */
  type: string;
  releaseId: string | null;
  instances: InstanceStatus[];
}

export type SlotRunState = "running" | "restarting" | "stopped" | "crashed";

export interface SlotStatus {
  /** The web process as a whole: running while any instance runs. */
  state: SlotRunState;
  pid: number | null;
  releaseId: string | null;
  port: number | null;
  startedAt: Date | null;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: Date } | null;
  /** The last exits, newest last (what a crash loop looked like), where the runtime keeps them. */
  exits?: Array<{ code: number | null; signal: string | null; at: string }>;
  /** Each web instance (one when the slot runs one); `pid` above is instance 1's. */
  instances?: InstanceStatus[];
}

export interface Runtime {
  readonly kind: "process" | "systemd";
  /** Every slot's output kept over time (files or journald), for the logs API. */
  readonly logReader: RuntimeLogReader;
  /** Launches the slot (replacing whatever ran there); resolves once the process is started, not healthy. */
  start(spec: SlotSpec): Promise<void>;
  /** Graceful stop of the slot's web instances and workers: SIGTERM, then SIGKILL after `graceMs`. Stopping a stopped slot is a no-op. */
  stop(app: string, color: Color, options?: { graceMs?: number }): Promise<void>;
  status(app: string, color: Color): Promise<SlotStatus>;
  /**
   * After traffic moved away: the slot's socket closes connections as they fall idle, so nginx
   * reconnects through the replaced symlink; in-flight requests finish. Resolves with the
   * connections still open after `timeoutMs`. The slot keeps running (the warm standby).
   */
  drain(app: string, color: Color, options?: { timeoutMs?: number }): Promise<number>;
  /** The last `lines` lines of the slot's output, secrets masked. */
  logs(app: string, color: Color, options?: { lines?: number }): Promise<string[]>;
  /**
   * Starts the slot's workers as listed; resolves once their processes are started. Only what
   * changed is touched: a type whose release, command and env file are the same keeps its running
   * instances (scaling up adds instances, scaling down stops the extra ones).
   */
  startWorkers(spec: WorkersSpec): Promise<void>;
  /** Graceful stop of the slot's workers (all of them, or the listed types): SIGTERM, then SIGKILL after `graceMs`. */
  stopWorkers(app: string, color: Color, options?: { types?: string[]; graceMs?: number }): Promise<void>;
  /** Restarts one worker type of the slot, instance by instance. */
  restartWorkers(app: string, color: Color, type: string): Promise<void>;
  /** Everything that runs in the slot: `web` first (when started), then each worker type. */
  processes(app: string, color: Color): Promise<ProcessStatus[]>;
  /** Every slot this runtime knows of on this machine (for reconciliation at start-up). */
  list(): Promise<Array<{ app: string; color: Color; status: SlotStatus }>>;
  /** Forgets an app entirely: stops both slots and removes the runtime's files/units for it. */
  remove(app: string): Promise<void>;
}
