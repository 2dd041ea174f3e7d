import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { appUserFor } from "../app-user.ts";
import { writeFileAtomic } from "../files.ts";
import { confineDataDir, handToOwner } from "../release-store.ts";
import { createFileLogReader, slotLogDir } from "../runtime-logs/files.ts";
import { NO_FILTER } from "../runtime-logs/types.ts";
import { type InstanceState, isAlive, overallState, type SupervisorSpec, type SupervisorState, stateInstances } from "./process-state.ts";
import {
  COLORS,
  type Color,
  type InstanceStatus,
  type ProcessStatus,
  type Runtime,
  type SlotSpec,
  type SlotStatus,
  type WorkersSpec,
} from "./types.ts";

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

/** A worker type as a directory name (PROCESS_TYPE_PATTERN; never `web`, the slot's own). */
const WORKER_TYPE = /^[a-z][a-z0-9_-]{0,29}$/;

function checkType(type: string): string {
  if (!WORKER_TYPE.test(type) || type === "web" || type === "release") throw new Error(`"${type}" is not a worker process type`);
  return type;
}

/**
 * Local mode: each slot's web instances run under one small supervisor process, and each worker
 * type under one more, detached from the panel, so apps outlive a panel restart or crash and the
 * next panel adopts them from state.json.
 */
export function createProcessRuntime(o: ProcessRuntimeOptions): Runtime {
  const bun = o.bun ?? process.execPath;
  const slotDir = (app: string, color: Color) => join(o.dataDir, "apps", app, "slots", color);
  const workersDir = (app: string, color: Color) => join(slotDir(app, color), "workers");
  const workerDir = (app: string, color: Color, type: string) => join(workersDir(app, color), checkType(type));
  const readStateAt = (dir: string): SupervisorState | null => {
    try {
      return JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as SupervisorState;
    } catch {
      return null;
    }
  };
  const readState = (app: string, color: Color) => readStateAt(slotDir(app, color));
  const workerTypes = (app: string, color: Color): string[] => {
    const dir = workersDir(app, color);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((name) => WORKER_TYPE.test(name) && existsSync(join(dir, name, "spec.json")))
      .sort();
  };

  /** Each instance as the panel sees it: a supervisor that is gone runs nothing. */
  const instancesOf = (s: SupervisorState): InstanceStatus[] => {
    const supervised = isAlive(s.supervisorPid, s.supervisorStart);
    return stateInstances(s).map((i: InstanceState) => ({
      index: i.index,
      state: supervised ? i.state : i.state === "crashed" ? "crashed" : "stopped",
      pid: supervised && i.pid && isAlive(i.pid, i.pidStart) ? i.pid : null,
      port: i.port,
      restarts: i.restarts,
      startedAt: i.startedAt ? new Date(i.startedAt) : null,
      lastExit: i.lastExit ? { code: i.lastExit.code, signal: i.lastExit.signal, at: new Date(i.lastExit.at) } : null,
    }));
  };

  const status = async (app: string, color: Color): Promise<SlotStatus> => {
    const s = readState(app, color);
    if (!s) return { state: "stopped", pid: null, releaseId: null, port: null, startedAt: null, restarts: 0, lastExit: null };
    const instances = instancesOf(s);
    const first = instances[0] as InstanceStatus;
    return {
      state: overallState(instances),
      pid: first.pid,
      releaseId: s.releaseId,
      port: s.port,
      startedAt: first.startedAt,
      restarts: instances.reduce((sum, i) => sum + i.restarts, 0),
      lastExit: first.lastExit,
      exits: stateInstances(s)
        .flatMap((i) => i.crashes)
        .sort((x, y) => x.at.localeCompare(y.at))
        .slice(-10),
      instances,
    };
  };

  /** Stops the supervisor in `dir` and whatever is left of its instances' process groups. */
  const stopAt = async (dir: string, graceMs: number) => {
    const s = readStateAt(dir);
    if (!s) return;
    const supervised = isAlive(s.supervisorPid, s.supervisorStart);
    if (supervised) {
      try {
        writeFileAtomic(join(dir, "stop.json"), JSON.stringify({ graceMs }), 0o600);
      } catch {}
      try {
        process.kill(s.supervisorPid, "SIGTERM");
      } catch {}
    }
    const pids = () => {
      const now = readStateAt(dir) ?? s;
      // The pids of the state read at first too: an instance's restart may have been recorded since.
      return [...stateInstances(s), ...stateInstances(now)].filter((i) => i.pid !== null) as Array<InstanceState & { pid: number }>;
    };
    const deadline = Date.now() + graceMs + 2_000;
    while (Date.now() < deadline && (isAlive(s.supervisorPid, s.supervisorStart) || pids().some((i) => isAlive(i.pid, i.pidStart)))) {
      await Bun.sleep(20);
    }
    // Whatever is left of the supervisor or the app's process groups now gets the hard stop.
    if (isAlive(s.supervisorPid, s.supervisorStart)) {
      try {
        process.kill(s.supervisorPid, "SIGKILL");
      } catch {}
    }
    for (const i of pids()) {
      try {
        process.kill(-i.pid, "SIGKILL");
      } catch {}
    }
    rmSync(join(dir, "stop.json"), { force: true });
    const current = readStateAt(dir);
    if (current && current.state !== "stopped" && current.state !== "crashed") {
      const instances = stateInstances(current).map((i) => ({
        ...i,
        state: i.state === "crashed" ? i.state : ("stopped" as const),
        pid: null,
      }));
      writeFileAtomic(join(dir, "state.json"), `${JSON.stringify({ ...current, state: "stopped", pid: null, instances })}\n`, 0o600);
    }
  };

  const stopWorkers = async (app: string, color: Color, options: { types?: string[]; graceMs?: number } = {}) => {
    const types = options.types ?? workerTypes(app, color);
    await Promise.all(types.map((type) => stopAt(workerDir(app, color, type), options.graceMs ?? 10_000)));
  };

  const stop = async (app: string, color: Color, options: { graceMs?: number } = {}) => {
    const grace = options.graceMs ?? 10_000;
    await Promise.all([stopAt(slotDir(app, color), grace), stopWorkers(app, color, { graceMs: grace })]);
  };

  /** What the supervisors get of the app user (as root), with the release and volumes handed to it. */
  const prepareUser = async (releaseDir: string, volumes: SlotSpec["volumes"]) => {
    // As root, the app runs as the app user: it owns its release and HOME, and passes through
    // the data dir without reading it. The supervisor stays root to keep the slot's files.
    const user = await appUserFor(o.appUser ?? "switchyard-app", o.dataDir);
    if (user) {
      confineDataDir(o.dataDir);
      handToOwner(o.dataDir, releaseDir, user);
      for (const volume of volumes ?? []) handToOwner(o.dataDir, volume.dir, user);
      handToOwner(o.dataDir, user.home, user);
    }
    return user ? { uid: user.uid, gid: user.gid, home: user.home } : null;
  };

  /** Starts a supervisor on `dir`'s spec; resolves once every instance's process exists (or died trying). */
  const launch = async (dir: string, supervisorSpec: SupervisorSpec, what: string) => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(dir, "spec.json"), JSON.stringify(supervisorSpec), 0o600);
    rmSync(join(dir, "state.json"), { force: true });
    rmSync(join(dir, "stop.json"), { force: true });
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
    // Started means the app's processes exist (or already died trying); health is the caller's.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const s = readStateAt(dir);
      if (s && stateInstances(s).every((i) => i.pid || i.state !== "running")) return;
      await Bun.sleep(10);
    }
    throw new Error(`The supervisor of ${what} did not start; see ${join(dir, "supervisor.log")}.`);
  };

  /**
   * Runs `next` through the type's running supervisor when only its number of instances differs
   * from what it runs (SIGHUP, see supervisor.ts): the instances that stay keep their processes.
   * False when the type must be started afresh.
   */
  const resizeInPlace = async (dir: string, next: SupervisorSpec): Promise<boolean> => {
    const s = readStateAt(dir);
    let current: SupervisorSpec;
    try {
      current = JSON.parse(readFileSync(join(dir, "spec.json"), "utf8")) as SupervisorSpec;
    } catch {
      return false;
    }
    if (!s || !(s as SupervisorState & { resizable?: boolean }).resizable || !isAlive(s.supervisorPid, s.supervisorStart)) return false;
    const same =
      current.releaseId === next.releaseId &&
      current.envFile === next.envFile &&
      current.releaseDir === next.releaseDir &&
      JSON.stringify(current.command) === JSON.stringify(next.command) &&
      current.graceMs === next.graceMs &&
      JSON.stringify(current.user ?? null) === JSON.stringify(next.user ?? null);
    if (!same) return false;
    // A crashed instance is started afresh with the others, as a start always did.
    if (stateInstances(s).some((i) => i.state === "crashed")) return false;
    const want = next.instances?.length ?? 1;
    writeFileAtomic(join(dir, "spec.json"), JSON.stringify(next), 0o600);
    if (stateInstances(s).length === want) return true;
    writeFileAtomic(join(dir, "resize.json"), JSON.stringify({ instances: want }), 0o600);
    try {
      process.kill(s.supervisorPid, "SIGHUP");
    } catch {
      return false;
    }
    const deadline = Date.now() + 15_000 + next.graceMs;
    while (Date.now() < deadline) {
      const now = readStateAt(dir);
      const list = now ? stateInstances(now) : [];
      if (list.length === want && list.every((i) => (i.pid !== null && isAlive(i.pid, i.pidStart)) || i.state !== "running")) return true;
      if (!isAlive(s.supervisorPid, s.supervisorStart)) return false;
      await Bun.sleep(20);
    }
    throw new Error(`The supervisor of ${next.app}/${next.color} ${next.process} did not resize; see ${join(dir, "supervisor.log")}.`);
  };

  const crashPolicy = () => ({
    backoffMs: o.backoffMs ?? 1_000,
    backoffMaxMs: o.backoffMaxMs ?? 30_000,
    maxCrashes: o.maxCrashes ?? 10,
    crashWindowMs: o.crashWindowMs ?? 5 * 60_000,
  });

  const processOf = (type: string, s: SupervisorState): ProcessStatus => ({ type, releaseId: s.releaseId, instances: instancesOf(s) });

  const logReader = createFileLogReader(o.dataDir);

  return {
    kind: "process",
    logReader,
    status,
    stop,
    async start(spec: SlotSpec) {
      // Replaces the slot's web; its workers are startWorkers' to replace.
      await stopAt(slotDir(spec.app, spec.color), 10_000);
      const ports = spec.ports && spec.ports.length > 0 ? spec.ports : [spec.port];
      if (ports[0] !== spec.port) throw new Error(`the first web instance's port must be ${spec.port}, not ${ports[0]}`);
      const supervisorSpec: SupervisorSpec = {
        app: spec.app,
        color: spec.color,
        releaseId: spec.releaseId,
        releaseDir: spec.releaseDir,
        command: spec.command,
        envFile: spec.envFile,
        port: spec.port,
        instances: ports.map((port) => ({ port })),
        process: "web",
        secrets: spec.secrets,
        socketPath: spec.socketPath ?? null,
        logDir: slotLogDir(o.dataDir, spec.app, spec.color),
        user: await prepareUser(spec.releaseDir, spec.volumes),
        graceMs: 10_000,
        ...crashPolicy(),
      };
      await launch(slotDir(spec.app, spec.color), supervisorSpec, `${spec.app}/${spec.color}`);
    },
    async startWorkers(spec: WorkersSpec) {
      const wanted = spec.processes.filter((p) => p.instances > 0);
      for (const p of wanted) checkType(p.type);
      const graceMs = (spec.graceSeconds ?? 10) * 1000;
      // Types no longer run go first.
      const gone = workerTypes(spec.app, spec.color).filter((type) => !wanted.some((p) => p.type === type));
      await stopWorkers(spec.app, spec.color, { types: gone, graceMs });
      for (const type of gone) rmSync(workerDir(spec.app, spec.color, type), { recursive: true, force: true });
      if (wanted.length === 0) return;
      const user = await prepareUser(spec.releaseDir, spec.volumes);
      await Promise.all(
        wanted.map(async (p) => {
          const dir = workerDir(spec.app, spec.color, p.type);
          const supervisorSpec: SupervisorSpec = {
            app: spec.app,
            color: spec.color,
            releaseId: spec.releaseId,
            releaseDir: spec.releaseDir,
            command: p.command,
            envFile: spec.envFile,
            port: null,
            instances: Array.from({ length: p.instances }, () => ({ port: null })),
            process: p.type,
            secrets: spec.secrets,
            socketPath: null,
            logDir: slotLogDir(o.dataDir, spec.app, spec.color),
            user,
            graceMs,
            ...crashPolicy(),
          };
          // The same release, command and env file: the running set stays, only its size changes.
          if (await resizeInPlace(dir, supervisorSpec)) return;
          await stopAt(dir, graceMs);
          await launch(dir, supervisorSpec, `${spec.app}/${spec.color} ${p.type}`);
        }),
      );
    },
    stopWorkers,
    async restartWorkers(app, color, type) {
      const dir = workerDir(app, color, type);
      const s = readStateAt(dir);
      if (!s) throw new Error(`${app}/${color} runs no ${type} process`);
      if (!isAlive(s.supervisorPid, s.supervisorStart)) {
        // Its supervisor is gone (it gave up, or the machine restarted): start the type afresh.
        const spec = JSON.parse(readFileSync(join(dir, "spec.json"), "utf8")) as SupervisorSpec;
        await launch(dir, spec, `${app}/${color} ${type}`);
        return;
      }
      const before = new Map(stateInstances(s).map((i) => [i.index, i.pid]));
      process.kill(s.supervisorPid, "SIGUSR1");
      // Done once every instance runs a new process (or gave up trying).
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const now = readStateAt(dir);
        if (
          now &&
          stateInstances(now).every(
            (i) => i.state === "crashed" || (i.pid !== null && i.pid !== before.get(i.index) && isAlive(i.pid, i.pidStart)),
          )
        )
          return;
        if (!isAlive(s.supervisorPid, s.supervisorStart)) break;
        await Bun.sleep(20);
      }
      throw new Error(`${app}/${color} ${type} did not restart; see ${join(dir, "supervisor.log")}.`);
    },
    async processes(app, color) {
      const out: ProcessStatus[] = [];
      const web = readState(app, color);
      if (web) out.push(processOf("web", web));
      for (const type of workerTypes(app, color)) {
        const s = readStateAt(workerDir(app, color, type));
        if (s) out.push(processOf(type, s));
      }
      return out;
    },
    async logs(app, color, options = {}) {
      const page = await logReader.page(app, { ...NO_FILTER, slot: color }, { before: null, limit: options.lines ?? 200 });
      return page.lines.map(
        (l) =>
          `${l.at} ${l.stream === "system" ? "supervisor" : l.stream}${l.process && l.process !== "web" ? `:${l.process}` : ""} ${l.text}`,
      );
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
