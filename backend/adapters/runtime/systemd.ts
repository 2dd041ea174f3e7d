import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  buildSlotUnit,
  buildSocketUnit,
  buildWorkerUnit,
  controlSocketPath,
  instanceUnitName,
  type JournalQuery,
  journalctlArgv,
  journalHelperArgs,
  journalQueryArgv,
  parseInstanceUnit,
  systemctlArgv,
  unitName,
} from "../../commands/systemd.ts";
import { createMasker } from "../../domain/masking.ts";
import { type RunResult, run } from "../exec.ts";
import { linkBun, writeFileAtomic } from "../files.ts";
import { HelperError, type Privilege } from "../privilege.ts";
import { createJournalLogReader } from "../runtime-logs/journal.ts";
import { requestDrain } from "./forwarder.ts";
import { overallState } from "./process-state.ts";
import { COLORS, type Color, type InstanceStatus, type ProcessStatus, type Runtime, type SlotStatus } from "./types.ts";

/** What the systemd runtime needs from the machine; server mode routes it through the privileged helper. */
export interface SystemdHost {
  writeUnit(name: string, text: string): Promise<void>;
  removeUnit(name: string): Promise<void>;
  /** The result of one `systemctl` argv (systemctlArgv); a refusal to run it at all throws. */
  systemctl(args: string[]): Promise<RunResult>;
  journalctl(args: string[]): Promise<RunResult>;
  /** JSON entries of the slots' journal (journalQueryArgv), for the logs API. */
  journal(query: JournalQuery): Promise<RunResult>;
  /** The names of the installed sy-*.service unit files of app slots (their instances and workers included). */
  listUnits(): Promise<string[]>;
}

const UNIT_FILE = /^sy-[a-z][a-z0-9-]{0,38}[a-z0-9]-(blue|green)(-socket|_[a-z][a-z0-9_-]{0,29}_\d{1,2})?\.service$/;

export function directSystemdHost(unitDir = "/etc/systemd/system"): SystemdHost {
  return {
    writeUnit: async (name, text) => writeFileAtomic(join(unitDir, name), text, 0o644),
    removeUnit: async (name) => rmSync(join(unitDir, name), { force: true }),
    systemctl: (args) => run(args, { capture: true, timeoutMs: 60_000 }),
    journalctl: (args) => run(args, { capture: true, timeoutMs: 30_000 }),
    journal: (query) => run(journalQueryArgv(query), { capture: true, timeoutMs: 30_000 }),
    listUnits: async () =>
      existsSync(unitDir)
        ? readdirSync(unitDir)
            .filter((name) => UNIT_FILE.test(name))
            .sort()
        : [],
  };
}

/**
 * Server mode as the unprivileged `switchyard` user: every systemd action is a helper verb. A
 * command the helper ran and that failed comes back as its result (systemctl's own exit code
 * and message); a refusal by the helper is thrown.
 */
export function helperSystemdHost(privilege: Privilege): SystemdHost {
  const attempt = async (args: string[]): Promise<RunResult> => {
    try {
      return await privilege.helper(args);
    } catch (error) {
      if (error instanceof HelperError && !error.refused) return error.result;
      throw error;
    }
  };
  return {
    writeUnit: async (name, text) => void (await privilege.helper(["unit-install", name], text)),
    removeUnit: async (name) => void (await privilege.helper(["unit-remove", name])),
    // systemctlArgv gives ["systemctl", verb, unit, …]: the helper takes the verb and unit.
    systemctl: (args) => (args[1] === "daemon-reload" ? attempt(["daemon-reload"]) : attempt(["systemctl", args[1] ?? "", args[2] ?? ""])),
    // journalctlArgv gives ["journalctl", "-u", unit, "-n", lines, …].
    journalctl: (args) => attempt(["journal", args[2] ?? "", String(Math.min(5000, Number(args[4] ?? 200)))]),
    journal: (query) => attempt(journalHelperArgs(query)),
    listUnits: async () =>
      (await privilege.helper(["list"])).stdout
        .split("\n")
        .map((line) => line.trim())
        .filter((name) => UNIT_FILE.test(name)),
  };
}

export interface SystemdRuntimeOptions {
  user: string;
  /** Per-slot state this runtime keeps (0600 JSON with the secrets to mask in journal output). */
  stateDir: string;
  host?: SystemdHost;
  bun?: string;
  /**
   * A directory outside the panel's code where the socket units find `bun` (a link to the
   * panel's) and the forwarder (a copy): the units keep working after the panel's own version
   * they were written by is updated and pruned.
   */
  toolsDir?: string;
}

/** The `bun` link and forwarder copy in toolsDir, refreshed when the panel's own have changed. */
function stableTools(toolsDir: string): { bun: string; forwarder: string } {
  const bun = linkBun(toolsDir);
  const forwarder = join(toolsDir, "forwarder.ts");
  const text = readFileSync(join(import.meta.dir, "forwarder.ts"), "utf8");
  if (!existsSync(forwarder) || readFileSync(forwarder, "utf8") !== text) writeFileAtomic(forwarder, text, 0o644);
  return { bun, forwarder };
}

/**
 * Server mode: each slot is `sy-<app>-<color>.service` (its first web instance) plus its socket
 * forwarder unit, a `sy-<app>-<color>_web_<k>.service` for every further web instance, and a
 * `sy-<app>-<color>_<type>_<k>.service` for every worker instance (see instanceUnitName).
 */
export function createSystemdRuntime(o: SystemdRuntimeOptions): Runtime {
  const host = o.host ?? directSystemdHost();
  const tools = () =>
    o.toolsDir ? stableTools(o.toolsDir) : { bun: o.bun ?? process.execPath, forwarder: join(import.meta.dir, "forwarder.ts") };
  const metaFile = (app: string, color: Color) => join(o.stateDir, app, "slots", `${color}.json`);
  const meta = (
    app: string,
    color: Color,
  ): { releaseId: string; port: number; ports?: number[]; secrets: string[]; socketPath?: string | null } | null => {
    try {
      return JSON.parse(readFileSync(metaFile(app, color), "utf8"));
    } catch {
      return null;
    }
  };
  /** The slot's worker types and release, as startWorkers last left them. */
  const workersFile = (app: string, color: Color) => join(o.stateDir, app, "slots", `${color}.workers.json`);
  const workersMeta = (app: string, color: Color): { releaseId: string; secrets: string[]; units?: Record<string, string> } | null => {
    try {
      return JSON.parse(readFileSync(workersFile(app, color), "utf8"));
    } catch {
      return null;
    }
  };
  /**
   * Every secret value an app's slots were started with, kept after they change: journal lines are
   * masked when read, so a line printed under an old value must still find it.
   */
  const masksFile = (app: string) => join(o.stateDir, app, "masks.json");
  const pastSecrets = (app: string): string[] => {
    try {
      return JSON.parse(readFileSync(masksFile(app), "utf8")) as string[];
    } catch {
      return [];
    }
  };
  const logReader = createJournalLogReader({
    read: (query) => host.journal(query),
    secrets: (app) => [
      ...new Set([
        ...pastSecrets(app),
        ...COLORS.flatMap((color) => [...(meta(app, color)?.secrets ?? []), ...(workersMeta(app, color)?.secrets ?? [])]),
      ]),
    ],
  });
  /** systemctl's answer for a unit that is not there: nothing to stop or disable. */
  const absent = (result: RunResult) => /not loaded|does not exist|not found|no such file/i.test(result.stderr);
  const ctl = async (verb: Parameters<typeof systemctlArgv>[0], unit?: string) => {
    const result = await host.systemctl(systemctlArgv(verb, unit));
    if (result.code === 0 || verb === "is-active") return result;
    if ((verb === "stop" || verb === "disable") && absent(result)) return result;
    throw new Error(`systemctl ${verb} ${unit ?? ""} failed: ${(result.stderr || result.stdout).trim() || `exit ${result.code}`}`);
  };
  const show = async (unit: string): Promise<Record<string, string>> => {
    const result = await ctl("show", unit);
    return Object.fromEntries(
      result.stdout
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
  };

  /** The installed units of a slot's processes, by type, each type's in instance order. */
  const slotUnits = async (app: string, color: Color) => {
    const units = (await host.listUnits())
      .map((name) => ({ name, of: parseInstanceUnit(name) }))
      .filter(
        (u): u is { name: string; of: NonNullable<ReturnType<typeof parseInstanceUnit>> } => u.of?.app === app && u.of.color === color,
      )
      .sort((x, y) => x.of.index - y.of.index);
    return units.map((u) => ({ name: u.name, type: u.of.type, index: u.of.index }));
  };

  const instanceStatus = async (unit: string, index: number, port: number | null): Promise<InstanceStatus> => {
    const props = await show(unit);
    const active = props.ActiveState;
    const state = active === "active" ? "running" : active === "activating" ? "restarting" : active === "failed" ? "crashed" : "stopped";
    const pid = Number(props.MainPID ?? 0);
    const started = props.ExecMainStartTimestamp ? new Date(props.ExecMainStartTimestamp) : null;
    return {
      index,
      state,
      pid: pid > 0 ? pid : null,
      port,
      restarts: Number(props.NRestarts ?? 0),
      startedAt: started && !Number.isNaN(started.getTime()) ? started : null,
      lastExit: props.ExecMainStatus && active !== "active" ? { code: Number(props.ExecMainStatus), signal: null, at: new Date() } : null,
    };
  };

  const webInstances = async (app: string, color: Color): Promise<InstanceStatus[]> => {
    const m = meta(app, color);
    const ports = m?.ports && m.ports.length > 0 ? m.ports : [m?.port ?? null];
    return Promise.all(ports.map((port, i) => instanceStatus(instanceUnitName(app, color, "web", i + 1), i + 1, port)));
  };

  const status = async (app: string, color: Color): Promise<SlotStatus> => {
    const m = meta(app, color);
    const instances = await webInstances(app, color);
    const first = instances[0] as InstanceStatus;
    return {
      state: overallState(instances),
      pid: first.pid,
      releaseId: m?.releaseId ?? null,
      port: m?.port ?? null,
      startedAt: first.startedAt,
      restarts: instances.reduce((sum, i) => sum + i.restarts, 0),
      lastExit: first.lastExit,
      instances,
    };
  };

  /** Stops, disables and (with `remove`) uninstalls units; one that is not there is nothing to do. */
  const retire = async (units: string[], remove: boolean) => {
    for (const unit of units) await ctl("stop", unit);
    for (const unit of units) await ctl("disable", unit);
    if (remove) for (const unit of units) await host.removeUnit(unit);
  };

  /** The stop grace is each unit's TimeoutStopSec= (the app's drain seconds, written by startWorkers). */
  const stopWorkers = async (app: string, color: Color, options: { types?: string[] } = {}) => {
    const units = (await slotUnits(app, color)).filter((u) => u.type !== "web" && (!options.types || options.types.includes(u.type)));
    await retire(
      units.map((u) => u.name),
      false,
    );
  };

  return {
    kind: "systemd",
    logReader,
    status,
    async start(spec) {
      const ports = spec.ports && spec.ports.length > 0 ? spec.ports : [spec.port];
      if (ports[0] !== spec.port) throw new Error(`the first web instance's port must be ${spec.port}, not ${ports[0]}`);
      mkdirSync(join(o.stateDir, spec.app, "slots"), { recursive: true, mode: 0o700 });
      const masks = [...new Set([...spec.secrets, ...pastSecrets(spec.app)])].slice(0, 500);
      writeFileAtomic(masksFile(spec.app), JSON.stringify(masks), 0o600);
      writeFileAtomic(
        metaFile(spec.app, spec.color),
        JSON.stringify({ releaseId: spec.releaseId, port: spec.port, ports, secrets: spec.secrets, socketPath: spec.socketPath ?? null }),
        0o600,
      );
      const web = ports.map((_, i) => instanceUnitName(spec.app, spec.color, "web", i + 1));
      for (const [i, unit] of web.entries()) {
        await host.writeUnit(unit, buildSlotUnit({ ...spec, ports, instance: i + 1, user: o.user, stateDir: join(o.stateDir, spec.app) }));
      }
      if (spec.socketPath) {
        await host.writeUnit(
          unitName(spec.app, spec.color, "socket"),
          buildSocketUnit({
            app: spec.app,
            color: spec.color,
            ...tools(),
            socketPath: spec.socketPath,
            port: spec.port,
            ports,
            user: o.user,
          }),
        );
      }
      // Fewer instances than before: the extra ones go.
      const extra = (await slotUnits(spec.app, spec.color)).filter((u) => u.type === "web" && u.index > ports.length).map((u) => u.name);
      await retire(extra, true);
      await ctl("daemon-reload");
      for (const unit of web) await ctl("restart", unit);
      if (spec.socketPath) await ctl("restart", unitName(spec.app, spec.color, "socket"));
      // Enabled, so a running slot comes back after the server reboots; stop() disables it.
      for (const unit of web) await ctl("enable", unit);
      if (spec.socketPath) await ctl("enable", unitName(spec.app, spec.color, "socket"));
    },
    async stop(app, color) {
      const units = await slotUnits(app, color);
      await retire(
        [unitName(app, color, "socket"), ...new Set([unitName(app, color), ...units.filter((u) => u.type === "web").map((u) => u.name)])],
        false,
      );
      await stopWorkers(app, color);
    },
    async logs(app, color, options = {}) {
      const mask = createMasker(meta(app, color)?.secrets ?? []);
      const result = await host.journalctl(journalctlArgv(unitName(app, color), options.lines ?? 200));
      if (result.code !== 0)
        throw new Error(`the journal of ${unitName(app, color)} could not be read: ${result.stderr.trim() || `exit ${result.code}`}`);
      return result.stdout.split("\n").filter(Boolean).map(mask);
    },
    async drain(app, color, options = {}) {
      const socketPath = meta(app, color)?.socketPath;
      const control = socketPath ? controlSocketPath(socketPath) : null;
      let failure: Error | null = null;
      if (control && existsSync(control)) {
        try {
          return await requestDrain(control, options.timeoutMs ?? 10_000);
        } catch (error) {
          failure = error as Error;
        }
      }
      // No answer: fine when no forwarder runs (nothing can be connected), not otherwise.
      const unit = unitName(app, color, "socket");
      const state = (await show(unit)).ActiveState;
      if (state === "active" || state === "activating" || state === "reloading") {
        throw new Error(
          failure
            ? `${unit} did not drain: ${failure.message}`
            : `${unit} runs without a control socket${control ? ` at ${control}` : ""}, so its connections cannot be drained; starting the slot again installs the current forwarder`,
        );
      }
      return 0;
    },
    async startWorkers(spec) {
      const wanted = spec.processes.filter((p) => p.instances > 0);
      if (wanted.some((p) => p.type === "web")) throw new Error("web instances are started with the slot");
      const units = wanted.flatMap((p) =>
        Array.from({ length: p.instances }, (_, i) => ({
          name: instanceUnitName(spec.app, spec.color, p.type, i + 1),
          text: buildWorkerUnit({
            ...spec,
            type: p.type,
            index: i + 1,
            command: p.command,
            user: o.user,
            stateDir: join(o.stateDir, spec.app),
            graceSeconds: spec.graceSeconds ?? 10,
          }),
        })),
      );
      mkdirSync(join(o.stateDir, spec.app, "slots"), { recursive: true, mode: 0o700 });
      const masks = [...new Set([...spec.secrets, ...pastSecrets(spec.app)])].slice(0, 500);
      writeFileAtomic(masksFile(spec.app), JSON.stringify(masks), 0o600);
      // What each unit was last written as: one whose text is the same (release, command, env
      // file, limits, grace) keeps running; only new or changed units are (re)started.
      const before = workersMeta(spec.app, spec.color)?.units ?? {};
      const installed = new Set((await slotUnits(spec.app, spec.color)).map((u) => u.name));
      const changed = units.filter((u) => before[u.name] !== u.text || !installed.has(u.name));
      writeFileAtomic(
        workersFile(spec.app, spec.color),
        JSON.stringify({
          releaseId: spec.releaseId,
          secrets: spec.secrets,
          units: Object.fromEntries(units.map((u) => [u.name, u.text])),
        }),
        0o600,
      );
      // Types no longer run, and instances beyond a type's new count, go first.
      const keep = new Set(units.map((u) => u.name));
      const gone = (await slotUnits(spec.app, spec.color)).filter((u) => u.type !== "web" && !keep.has(u.name)).map((u) => u.name);
      await retire(gone, true);
      for (const unit of changed) await host.writeUnit(unit.name, unit.text);
      if (changed.length > 0 || gone.length > 0) await ctl("daemon-reload");
      const fresh = new Set(changed.map((u) => u.name));
      // An unchanged unit is started (nothing happens when it runs already: it was stopped by hand, or failed).
      for (const unit of units) await ctl(fresh.has(unit.name) ? "restart" : "start", unit.name);
      for (const unit of units) await ctl("enable", unit.name);
    },
    stopWorkers,
    async restartWorkers(app, color, type) {
      const units = (await slotUnits(app, color)).filter((u) => u.type === type && type !== "web");
      if (units.length === 0) throw new Error(`${app}/${color} runs no ${type} process`);
      // One instance after another: systemctl restart returns once the new process has started.
      for (const unit of units) await ctl("restart", unit.name);
      for (const unit of units) await ctl("enable", unit.name);
    },
    async processes(app, color) {
      const out: ProcessStatus[] = [];
      const m = meta(app, color);
      if (m) out.push({ type: "web", releaseId: m.releaseId, instances: await webInstances(app, color) });
      const workers = (await slotUnits(app, color)).filter((u) => u.type !== "web");
      const releaseId = workersMeta(app, color)?.releaseId ?? null;
      for (const type of [...new Set(workers.map((u) => u.type))].sort()) {
        const instances = await Promise.all(workers.filter((u) => u.type === type).map((u) => instanceStatus(u.name, u.index, null)));
        out.push({ type, releaseId, instances });
      }
      return out;
    },
    async list() {
      const slots = new Map<string, { app: string; color: Color }>();
      for (const name of await host.listUnits()) {
        const m = /^sy-([a-z0-9-]+)-(blue|green)(-socket)?\.service$/.exec(name);
        if (m) slots.set(`${m[1]}/${m[2]}`, { app: m[1] as string, color: m[2] as Color });
      }
      const out: Array<{ app: string; color: Color; status: SlotStatus }> = [];
      for (const slot of slots.values()) out.push({ ...slot, status: await status(slot.app, slot.color) });
      return out;
    },
    async remove(app) {
      for (const color of COLORS) {
        await this.stop(app, color);
        const units = (await slotUnits(app, color)).map((u) => u.name);
        for (const unit of new Set([unitName(app, color), unitName(app, color, "socket"), ...units])) await host.removeUnit(unit);
        rmSync(metaFile(app, color), { force: true });
        rmSync(workersFile(app, color), { force: true });
      }
      rmSync(masksFile(app), { force: true });
      await ctl("daemon-reload");
    },
  };
}
