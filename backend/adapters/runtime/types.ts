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
}

export type SlotRunState = "running" | "restarting" | "stopped" | "crashed";

export interface SlotStatus {
  state: SlotRunState;
  pid: number | null;
  releaseId: string | null;
  port: number | null;
  startedAt: Date | null;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: Date } | null;
  /** The last exits, newest last (what a crash loop looked like), where the runtime keeps them. */
  exits?: Array<{ code: number | null; signal: string | null; at: string }>;
}

export interface Runtime {
  readonly kind: "process" | "systemd";
  /** Every slot's output kept over time (files or journald), for the logs API. */
  readonly logReader: RuntimeLogReader;
  /** Launches the slot (replacing whatever ran there); resolves once the process is started, not healthy. */
  start(spec: SlotSpec): Promise<void>;
  /** Graceful stop: SIGTERM, then SIGKILL after `graceMs`. Stopping a stopped slot is a no-op. */
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
  /** Every slot this runtime knows of on this machine (for reconciliation at start-up). */
  list(): Promise<Array<{ app: string; color: Color; status: SlotStatus }>>;
  /** Forgets an app entirely: stops both slots and removes the runtime's files/units for it. */
  remove(app: string): Promise<void>;
}
