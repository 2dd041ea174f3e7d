import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { appUserFor } from "../app-user.ts";
import { writeFileAtomic } from "../files.ts";
import { confineDataDir, handToOwner } from "../release-store.ts";
import { createFileLogReader, slotLogDir } from "../runtime-logs/files.ts";
import { NO_FILTER } from "../runtime-logs/types.ts";
import { isAlive, type SupervisorSpec, type SupervisorState } from "./process-state.ts";
import { COLORS, type Color, type Runtime, type SlotSpec, type SlotStatus } from "./types.ts";

const SUPERVISOR = join(import.meta.dir, "supervisor.ts");

/**
 * What a supervisor gets of the panel's environment: only where programs and the home directory
 * are. An app can read its parent's /proc/<pid>/environ, so the panel's secrets must not be there.
 */
const SUPERVISOR_ENV = ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"] as const;

function supervisorEnv(from: Record<string, string | undefined> = process.env): Record<string, string> {
  const env: Record<string, string> = { PATH: "/usr/local/bin:/usr/bin:/bin" };
  for (const name of SUPERVISOR_ENV) {
    const value = from[name];
    if (value) env[name] = value;
  }
  return env;
}

export interface ProcessRuntimeOptions {
  dataDir: string;
  /** The Bun binary that runs supervisors. */
  bun?: string;
  /** When the panel runs as root: the unprivileged user apps run as (SWITCHYARD_APP_USER). */
  appUser?: string;
  /** Crash policy (tests shorten it). */
  backoffMs?: number;
  backoffMaxMs?: number;
  maxCrashes?: number;
  crashWindowMs?: number;
}

/**
 * Local mode: each slot's app runs under its own small supervisor process, detached from the
 * panel, so apps outlive a panel restart or crash and the next panel adopts them from state.json.
 */
export function createProcessRuntime(o: ProcessRuntimeOptions): Runtime {
  const bun = o.bun ?? process.execPath;
  const slotDir = (app: string, color: Color) => join(o.dataDir, "apps", app, "slots", color);
  const readState = (app: string, color: Color): SupervisorState | null => {
    try {
      return JSON.parse(readFileSync(join(slotDir(app, color), "state.json"), "utf8")) as SupervisorState;
    } catch {
      return null;
    }
  };

  const status = async (app: string, color: Color): Promise<SlotStatus> => {
    const s = readState(app, color);
    if (!s) return { state: "stopped", pid: null, releaseId: null, port: null, startedAt: null, restarts: 0, lastExit: null };
    const supervised = isAlive(s.supervisorPid, s.supervisorStart);
    const state = supervised ? s.state : s.state === "crashed" ? "crashed" : "stopped";
    return {
      state: state === "stopped" && s.state === "crashed" ? "crashed" : state,
      pid: supervised && s.pid && isAlive(s.pid, s.pidStart) ? s.pid : null,
      releaseId: s.releaseId,
      port: s.port,
      startedAt: s.startedAt ? new Date(s.startedAt) : null,
      restarts: s.restarts,
      lastExit: s.lastExit ? { code: s.lastExit.code, signal: s.lastExit.signal, at: new Date(s.lastExit.at) } : null,
      exits: s.crashes.slice(-10),
    };
  };

  const stop = async (app: string, color: Color, options: { graceMs?: number } = {}) => {
    const s = readState(app, color);
    if (!s) return;
    const grace = options.graceMs ?? 10_000;
    const supervised = isAlive(s.supervisorPid, s.supervisorStart);
    if (supervised) {
      try {
        process.kill(s.supervisorPid, "SIGTERM");
      } catch {}
    }
    const deadline = Date.now() + grace + 2_000;
    while (Date.now() < deadline && (isAlive(s.supervisorPid, s.supervisorStart) || isAlive(s.pid, s.pidStart))) await Bun.sleep(20);
    // Whatever is left of the supervisor or the app's process group now gets the hard stop.
    for (const [pid, start, group] of [
      [s.supervisorPid, s.supervisorStart, false],
      [s.pid, s.pidStart, true],
    ] as const) {
      if (pid && isAlive(pid, start)) {
        try {
          process.kill(group ? -pid : pid, "SIGKILL");
        } catch {}
      }
    }
    if (s.pid) {
      try {
        process.kill(-s.pid, "SIGKILL");
      } catch {}
    }
    const current = readState(app, color);
    if (current && current.state !== "stopped" && current.state !== "crashed") {
      writeFileAtomic(join(slotDir(app, color), "state.json"), `${JSON.stringify({ ...current, state: "stopped", pid: null })}\n`, 0o600);
    }
  };

  const logReader = createFileLogReader(o.dataDir);

  return {
    kind: "process",
    logReader,
    status,
    stop,
    async start(spec: SlotSpec) {
      await stop(spec.app, spec.color);
      const dir = slotDir(spec.app, spec.color);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // As root, the app runs as the app user: it owns its release and HOME, and passes through
      // the data dir without reading it. The supervisor stays root to keep the slot's files.
      const user = await appUserFor(o.appUser ?? "switchyard-app", o.dataDir);
      if (user) {
        confineDataDir(o.dataDir);
        handToOwner(o.dataDir, spec.releaseDir, user);
        for (const volume of spec.volumes ?? []) handToOwner(o.dataDir, volume.dir, user);
        handToOwner(o.dataDir, user.home, user);
      }
      const supervisorSpec: SupervisorSpec = {
        app: spec.app,
        color: spec.color,
        releaseId: spec.releaseId,
        releaseDir: spec.releaseDir,
        command: spec.command,
        envFile: spec.envFile,
        port: spec.port,
        secrets: spec.secrets,
        socketPath: spec.socketPath ?? null,
        logDir: slotLogDir(o.dataDir, spec.app, spec.color),
        user: user ? { uid: user.uid, gid: user.gid, home: user.home } : null,
        graceMs: 10_000,
        backoffMs: o.backoffMs ?? 1_000,
        backoffMaxMs: o.backoffMaxMs ?? 30_000,
        maxCrashes: o.maxCrashes ?? 10,
        crashWindowMs: o.crashWindowMs ?? 5 * 60_000,
      };
      writeFileAtomic(join(dir, "spec.json"), JSON.stringify(supervisorSpec), 0o600);
      rmSync(join(dir, "state.json"), { force: true });
      const out = openSync(join(dir, "supervisor.log"), "a", 0o600);
      try {
        const proc = Bun.spawn([bun, "--smol", SUPERVISOR, dir], {
          detached: true,
          stdio: ["ignore", out, out],
          cwd: dir,
          env: supervisorEnv(),
        });
        proc.unref();
      } finally {
        closeSync(out);
      }
      // Started means the app process exists (or already died trying); health is the caller's.
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const s = readState(spec.app, spec.color);
        if (s && (s.pid || s.state !== "running")) return;
        await Bun.sleep(10);
      }
      throw new Error(`The supervisor of ${spec.app}/${spec.color} did not start; see ${join(dir, "supervisor.log")}.`);
    },
    async logs(app, color, options = {}) {
      const page = await logReader.page(app, { ...NO_FILTER, slot: color }, { before: null, limit: options.lines ?? 200 });
      return page.lines.map((l) => `${l.at} ${l.stream === "system" ? "supervisor" : l.stream} ${l.text}`);
    },
    async drain(app, color, options = {}) {
      const s = readState(app, color);
      if (!s || !isAlive(s.supervisorPid, s.supervisorStart)) return 0;
      const dir = slotDir(app, color);
      const id = crypto.randomUUID();
      const timeoutMs = options.timeoutMs ?? 10_000;
      writeFileSync(join(dir, "drain.json"), JSON.stringify({ id, timeoutMs }));
      process.kill(s.supervisorPid, "SIGUSR2");
      const deadline = Date.now() + timeoutMs + 2_000;
      while (Date.now() < deadline) {
        try {
          const result = JSON.parse(readFileSync(join(dir, "drain-result.json"), "utf8")) as { id: string; left: number };
          if (result.id === id) return result.left;
        } catch {}
        await Bun.sleep(20);
      }
      return -1;
    },
    // Filled in with worker processes (see types.ts).
    async startWorkers() {
      throw new Error("workers are not supported by this runtime yet");
    },
    async stopWorkers() {},
    async restartWorkers() {
      throw new Error("workers are not supported by this runtime yet");
    },
    async processes() {
      return [];
    },
    async list() {
      const root = join(o.dataDir, "apps");
      if (!existsSync(root)) return [];
      const out: Array<{ app: string; color: Color; status: SlotStatus }> = [];
      for (const app of readdirSync(root)) {
        for (const color of COLORS) {
          if (existsSync(join(slotDir(app, color), "state.json"))) out.push({ app, color, status: await status(app, color) });
        }
      }
      return out;
    },
    async remove(app) {
      for (const color of COLORS) await stop(app, color, { graceMs: 5_000 });
      rmSync(join(o.dataDir, "apps", app, "slots"), { recursive: true, force: true });
      rmSync(join(o.dataDir, "apps", app, "logs"), { recursive: true, force: true });
    },
  };
}
