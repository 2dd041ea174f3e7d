import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  buildSlotUnit,
  buildSocketUnit,
  controlSocketPath,
  type JournalQuery,
  journalctlArgv,
  journalHelperArgs,
  journalQueryArgv,
  systemctlArgv,
  unitName,
} from "../../commands/systemd.ts";
import { createMasker } from "../../domain/masking.ts";
import { type RunResult, run } from "../exec.ts";
import { linkBun, writeFileAtomic } from "../files.ts";
import { HelperError, type Privilege } from "../privilege.ts";
import { createJournalLogReader } from "../runtime-logs/journal.ts";
import { requestDrain } from "./forwarder.ts";
import { COLORS, type Color, type Runtime, type SlotStatus } from "./types.ts";

/** What the systemd runtime needs from the machine; server mode routes it through the privileged helper. */
export interface SystemdHost {
  writeUnit(name: string, text: string): Promise<void>;
  removeUnit(name: string): Promise<void>;
  /** The result of one `systemctl` argv (systemctlArgv); a refusal to run it at all throws. */
  systemctl(args: string[]): Promise<RunResult>;
  journalctl(args: string[]): Promise<RunResult>;
  /** JSON entries of the slots' journal (journalQueryArgv), for the logs API. */
  journal(query: JournalQuery): Promise<RunResult>;
  /** The names of the installed sy-*.service unit files. */
  listUnits(): Promise<string[]>;
}

const UNIT_FILE = /^sy-[a-z][a-z0-9-]{0,38}[a-z0-9]-(blue|green)(-socket)?\.service$/;

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

/** Server mode: each slot is `sy-<app>-<color>.service` plus its socket forwarder unit. */
export function createSystemdRuntime(o: SystemdRuntimeOptions): Runtime {
  const host = o.host ?? directSystemdHost();
  const tools = () =>
    o.toolsDir ? stableTools(o.toolsDir) : { bun: o.bun ?? process.execPath, forwarder: join(import.meta.dir, "forwarder.ts") };
  const metaFile = (app: string, color: Color) => join(o.stateDir, app, "slots", `${color}.json`);
  const meta = (app: string, color: Color): { releaseId: string; port: number; secrets: string[]; socketPath?: string | null } | null => {
    try {
      return JSON.parse(readFileSync(metaFile(app, color), "utf8"));
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
    secrets: (app) => [...new Set([...pastSecrets(app), ...COLORS.flatMap((color) => meta(app, color)?.secrets ?? [])])],
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

  const status = async (app: string, color: Color): Promise<SlotStatus> => {
    const m = meta(app, color);
    const props = await show(unitName(app, color));
    const active = props.ActiveState;
    const state = active === "active" ? "running" : active === "activating" ? "restarting" : active === "failed" ? "crashed" : "stopped";
    const pid = Number(props.MainPID ?? 0);
    return {
      state,
      pid: pid > 0 ? pid : null,
      releaseId: m?.releaseId ?? null,
      port: m?.port ?? null,
      startedAt: props.ExecMainStartTimestamp ? new Date(props.ExecMainStartTimestamp) : null,
      restarts: Number(props.NRestarts ?? 0),
      lastExit: props.ExecMainStatus && active !== "active" ? { code: Number(props.ExecMainStatus), signal: null, at: new Date() } : null,
    };
  };

  return {
    kind: "systemd",
    logReader,
    status,
    async start(spec) {
      mkdirSync(join(o.stateDir, spec.app, "slots"), { recursive: true, mode: 0o700 });
      const masks = [...new Set([...spec.secrets, ...pastSecrets(spec.app)])].slice(0, 500);
      writeFileAtomic(masksFile(spec.app), JSON.stringify(masks), 0o600);
      writeFileAtomic(
        metaFile(spec.app, spec.color),
        JSON.stringify({ releaseId: spec.releaseId, port: spec.port, secrets: spec.secrets, socketPath: spec.socketPath ?? null }),
        0o600,
      );
      await host.writeUnit(unitName(spec.app, spec.color), buildSlotUnit({ ...spec, user: o.user, stateDir: join(o.stateDir, spec.app) }));
      if (spec.socketPath) {
        await host.writeUnit(
          unitName(spec.app, spec.color, "socket"),
          buildSocketUnit({
            app: spec.app,
            color: spec.color,
            ...tools(),
            socketPath: spec.socketPath,
            port: spec.port,
            user: o.user,
          }),
        );
      }
      await ctl("daemon-reload");
      await ctl("restart", unitName(spec.app, spec.color));
      if (spec.socketPath) await ctl("restart", unitName(spec.app, spec.color, "socket"));
      // Enabled, so a running slot comes back after the server reboots; stop() disables it.
      await ctl("enable", unitName(spec.app, spec.color));
      if (spec.socketPath) await ctl("enable", unitName(spec.app, spec.color, "socket"));
    },
    async stop(app, color) {
      await ctl("stop", unitName(app, color, "socket"));
      await ctl("stop", unitName(app, color));
      for (const unit of [unitName(app, color, "socket"), unitName(app, color)]) await ctl("disable", unit);
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
        await host.removeUnit(unitName(app, color));
        await host.removeUnit(unitName(app, color, "socket"));
        rmSync(metaFile(app, color), { force: true });
      }
      rmSync(masksFile(app), { force: true });
      await ctl("daemon-reload");
    },
  };
}
