import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildSlotUnit, buildSocketUnit, journalctlArgv, systemctlArgv, unitName } from "../../commands/systemd.ts";
import { createMasker } from "../../domain/masking.ts";
import { type RunResult, run } from "../exec.ts";
import { linkBun, writeFileAtomic } from "../files.ts";
import { COLORS, type Color, type Runtime, type SlotStatus } from "./types.ts";

/** What the systemd runtime needs from the machine; server mode routes it through the privileged helper. */
export interface SystemdHost {
  writeUnit(name: string, text: string): Promise<void>;
  removeUnit(name: string): Promise<void>;
  systemctl(args: string[]): Promise<RunResult>;
  journalctl(args: string[]): Promise<RunResult>;
}

export function directSystemdHost(unitDir = "/etc/systemd/system"): SystemdHost {
  return {
    writeUnit: async (name, text) => writeFileAtomic(join(unitDir, name), text, 0o644),
    removeUnit: async (name) => rmSync(join(unitDir, name), { force: true }),
    systemctl: (args) => run(args, { capture: true, timeoutMs: 60_000 }),
    journalctl: (args) => run(args, { capture: true, timeoutMs: 30_000 }),
  };
}

/** Where install.sh puts the privileged helper (infrastructure/helper/switchyard-helper). */
export const HELPER_PATH = "/usr/local/lib/switchyard/helper";

/** Runs one helper verb as root through sudo (the only root power the panel's user has). */
export function runHelper(args: string[], stdin?: string): Promise<RunResult> {
  return run(["sudo", "-n", HELPER_PATH, ...args], { capture: true, timeoutMs: 120_000, ...(stdin === undefined ? {} : { stdin }) });
}

/** Server mode as the unprivileged `switchyard` user: every systemd action goes through the helper. */
export function helperSystemdHost(): SystemdHost {
  const checked = async (args: string[], stdin?: string) => {
    const result = await runHelper(args, stdin);
    if (result.code !== 0) throw new Error(result.stderr.trim() || `switchyard-helper ${args[0]} failed`);
  };
  return {
    writeUnit: (name, text) => checked(["unit-install", name], text),
    removeUnit: (name) => checked(["unit-remove", name]),
    // systemctlArgv gives ["systemctl", verb, unit, …]: the helper takes the verb and unit.
    systemctl: (args) =>
      args[1] === "daemon-reload" ? runHelper(["daemon-reload"]) : runHelper(["systemctl", args[1] ?? "", args[2] ?? ""]),
    // journalctlArgv gives ["journalctl", "-u", unit, "-n", lines, …].
    journalctl: (args) => runHelper(["journal", args[2] ?? "", String(Math.min(5000, Number(args[4] ?? 200)))]),
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
  const meta = (app: string, color: Color): { releaseId: string; port: number; secrets: string[] } | null => {
    try {
      return JSON.parse(readFileSync(metaFile(app, color), "utf8"));
    } catch {
      return null;
    }
  };
  const ctl = async (verb: Parameters<typeof systemctlArgv>[0], unit?: string) => {
    const result = await host.systemctl(systemctlArgv(verb, unit));
    if (result.code !== 0 && verb !== "is-active" && verb !== "stop")
      throw new Error(`systemctl ${verb} ${unit ?? ""} failed: ${result.stderr.trim()}`);
    return result;
  };

  const status = async (app: string, color: Color): Promise<SlotStatus> => {
    const m = meta(app, color);
    const result = await host.systemctl(systemctlArgv("show", unitName(app, color)));
    const props = Object.fromEntries(
      result.stdout
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
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
    status,
    async start(spec) {
      mkdirSync(join(o.stateDir, spec.app, "slots"), { recursive: true, mode: 0o700 });
      writeFileAtomic(
        metaFile(spec.app, spec.color),
        JSON.stringify({ releaseId: spec.releaseId, port: spec.port, secrets: spec.secrets }),
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
      for (const unit of [unitName(app, color, "socket"), unitName(app, color)]) await host.systemctl(systemctlArgv("disable", unit));
    },
    async logs(app, color, options = {}) {
      const mask = createMasker(meta(app, color)?.secrets ?? []);
      const result = await host.journalctl(journalctlArgv(unitName(app, color), options.lines ?? 200));
      return result.stdout.split("\n").filter(Boolean).map(mask);
    },
    async drain(app, color, options = {}) {
      await host.systemctl(["systemctl", "kill", "--signal=SIGUSR2", unitName(app, color, "socket")]);
      await Bun.sleep(Math.min(options.timeoutMs ?? 2_000, 2_000));
      return 0;
    },
    async list() {
      const result = await host.systemctl(["systemctl", "list-units", "--all", "--plain", "--no-legend", "sy-*.service"]);
      const out: Array<{ app: string; color: Color; status: SlotStatus }> = [];
      for (const line of result.stdout.split("\n")) {
        const m = /^sy-([a-z0-9-]+)-(blue|green)\.service\s/.exec(line.trim());
        if (m) out.push({ app: m[1] as string, color: m[2] as Color, status: await status(m[1] as string, m[2] as Color) });
      }
      return out;
    },
    async remove(app) {
      for (const color of COLORS) {
        await this.stop(app, color);
        await host.removeUnit(unitName(app, color));
        await host.removeUnit(unitName(app, color, "socket"));
        rmSync(metaFile(app, color), { force: true });
      }
      await ctl("daemon-reload");
    },
  };
}
