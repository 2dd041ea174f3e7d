import type { Color, SlotSpec, WorkersSpec } from "../adapters/runtime/types.ts";
import { MAX_INSTANCES, PROCESS_TYPE_PATTERN } from "../contract/api.ts";
import { BUILD_CPU_WEIGHT, BUILD_IO_WEIGHT, BUILD_NICE } from "../domain/build-limits.ts";

/** Pure builders for the systemd units of app slots; every value is checked before it is written. */
export class UnitError extends Error {
  override name = "UnitError";
}

const APP = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
/** A release id as it may appear in a unit's LogExtraFields= and in a journal match. */
const RELEASE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function unitName(app: string, color: Color, kind: "app" | "socket" = "app"): string {
  if (!APP.test(app)) throw new UnitError(`"${app}" is not a valid app name`);
  if (color !== "blue" && color !== "green") throw new UnitError(`"${color}" is not a slot colour`);
  return kind === "app" ? `sy-${app}-${color}.service` : `sy-${app}-${color}-socket.service`;
}

/**
 * The unit of one instance of a slot's process: the web's first instance is the slot's own unit
 * (`sy-<app>-<color>.service`), the web's k-th `sy-<app>-<color>_web_<k>.service`, a worker's
 * `sy-<app>-<color>_<type>_<k>.service`. App names hold no `_`, so the names of one slot never
 * meet another app's.
 */
export function instanceUnitName(app: string, color: Color, type: string, index: number): string {
  const base = unitName(app, color).replace(/\.service$/, "");
  if (!Number.isInteger(index) || index < 1 || index > MAX_INSTANCES) throw new UnitError(`instance ${index} is not 1-${MAX_INSTANCES}`);
  if (type === "web") return index === 1 ? `${base}.service` : `${base}_web_${index}.service`;
  if (!PROCESS_TYPE_PATTERN.test(type) || type === "release") throw new UnitError(`"${type}" is not a process type`);
  return `${base}_${type}_${index}.service`;
}

/** A unit name of instanceUnitName, taken apart (null for any other name, the socket's included). */
export function parseInstanceUnit(name: string): { app: string; color: Color; type: string; index: number } | null {
  const m = /^sy-([a-z][a-z0-9-]{0,38}[a-z0-9])-(blue|green)(?:_([a-z][a-z0-9_-]{0,29})_(\d{1,2}))?\.service$/.exec(name);
  if (!m) return null;
  const index = m[4] === undefined ? 1 : Number(m[4]);
  const type = m[3] ?? "web";
  if (index < 1 || index > MAX_INSTANCES || (type === "web" && m[3] !== undefined && index < 2) || type === "release") return null;
  return { app: m[1] as string, color: m[2] as Color, type, index };
}

/** The journal pattern of every unit of a slot but its first web instance's (journalctl --unit takes globs). */
export function slotExtraUnitsPattern(app: string, color: Color): string {
  return `${unitName(app, color).replace(/\.service$/, "")}_*.service`;
}

function path(value: string, what: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
  if (!value.startsWith("/") || /[\0-\x1f\x7f]/.test(value) || value.split("/").includes("..")) {
    throw new UnitError(`${what} must be an absolute path without control characters or ..: ${JSON.stringify(value)}`);
  }
  return value;
}

/** One argv word in systemd's ExecStart= syntax: quoted when needed; % and $ doubled. */
export function escapeArg(arg: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
  if (/[\0-\x1f\x7f]/.test(arg)) throw new UnitError(`command arguments must not contain control characters: ${JSON.stringify(arg)}`);
  const escaped = arg.replaceAll("%", "%%").replaceAll("$", "$$$$");
  if (escaped !== "" && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

export interface SlotUnitOptions extends SlotSpec {
  /** A dedicated unprivileged system user for apps (not DynamicUser: release files and state must stay readable across restarts). */
  user: string;
  stateDir: string;
  graceSeconds?: number;
  /** Which web instance (1-based, default 1): its unit name and PORT (`ports[instance - 1]`). */
  instance?: number;
}

/** The limits every unit of a slot carries, each unit its own (systemd applies them per unit). */
function limitLines(o: { memoryMax?: string | null; cpuQuota?: string | null; ioWeight?: number | null }): string[] {
  if (o.memoryMax && !/^\d+[KMGT]?$/.test(o.memoryMax)) throw new UnitError(`memory limit "${o.memoryMax}" must look like 512M or 2G`);
  if (o.cpuQuota && !/^\d{1,4}%$/.test(o.cpuQuota)) throw new UnitError(`CPU quota "${o.cpuQuota}" must look like 50% or 200%`);
  if (o.ioWeight != null && (!Number.isInteger(o.ioWeight) || o.ioWeight < 1 || o.ioWeight > 10_000)) {
    throw new UnitError(`I/O weight ${o.ioWeight} must be a whole number from 1 to 10000`);
  }
  return [
    ...(o.memoryMax ? [`MemoryMax=${o.memoryMax}`] : []),
    ...(o.cpuQuota ? [`CPUQuota=${o.cpuQuota}`] : []),
    ...(o.ioWeight != null ? [`IOWeight=${o.ioWeight}`] : []),
  ];
}

/**
 * The sandbox every Switchyard service runs in (slots, workers and cron jobs alike), writable only
 * at `readWritePath`, which the caller has already checked.
 */
export function sandboxLines(readWritePath: string): string[] {
  return [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "RestrictNamespaces=yes",
    `ReadWritePaths=${readWritePath}`,
  ];
}

/** Where a service's output goes: the journal, under the unit's name; every line carries its release, so logs can be read per release. */
export function journalLines(unit: string, releaseId: string): string[] {
  return [
    "StandardOutput=journal",
    "StandardError=journal",
    `SyslogIdentifier=${unit.replace(/\.service$/, "")}`,
    `LogExtraFields=SWITCHYARD_RELEASE=${releaseId}`,
  ];
}

/** What a slot's web and worker units open with: the unit, then the service up to its environment. */
function slotServiceHead(o: { user: string; releaseDir: string; envFile: string }, description: string): string[] {
  return [
    "# Generated by Switchyard; changes are overwritten.",
    "[Unit]",
    `Description=${description}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "StartLimitIntervalSec=300",
    "StartLimitBurst=10",
    "",
    "[Service]",
    "Type=simple",
    `User=${o.user}`,
    `WorkingDirectory=${path(o.releaseDir, "WorkingDirectory")}`,
    `EnvironmentFile=${path(o.envFile, "EnvironmentFile")}`,
  ];
}

/** What a slot's web and worker units share from the sandbox on: state and volumes writable, limits, journal, install. */
function slotServiceTail(
  o: { stateDir: string; volumes?: SlotSpec["volumes"]; releaseId: string },
  name: string,
  limits: string[],
): string[] {
  return [
    ...sandboxLines(path(o.stateDir, "ReadWritePaths")),
    ...volumeLines(o.volumes ?? []),
    ...limits,
    ...journalLines(name, o.releaseId),
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
}

export function buildSlotUnit(o: SlotUnitOptions): string {
  const instance = o.instance ?? 1;
  const name = instanceUnitName(o.app, o.color, "web", instance);
  const ports = o.ports && o.ports.length > 0 ? o.ports : [o.port];
  const port = ports[instance - 1];
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65_535)
    throw new UnitError(`web instance ${instance} has no port`);
  if (!USER.test(o.user)) throw new UnitError(`"${o.user}" is not a valid user name`);
  const limits = limitLines(o);
  if (o.command.length === 0) throw new UnitError("the start command is empty");
  if (!RELEASE.test(o.releaseId)) throw new UnitError(`"${o.releaseId}" is not a valid release id`);
  const exec = o.command.map(escapeArg).join(" ");
  if (!o.command[0]?.startsWith("/")) throw new UnitError("the start command must begin with an absolute path");
  const lines = [
    ...slotServiceHead(
      o,
      `Switchyard app ${o.app} (${o.color} slot${ports.length > 1 ? `, web ${instance}/${ports.length}` : ""}, release ${o.releaseId})`,
    ),
    `Environment=PORT=${port}`,
    `ExecStart=${exec}`,
    "Restart=on-failure",
    "RestartSec=2",
    "KillMode=control-group",
    "KillSignal=SIGTERM",
    `TimeoutStopSec=${o.graceSeconds ?? 10}`,
    ...slotServiceTail(o, name, limits),
  ];
  return lines.join("\n");
}

export interface WorkerUnitOptions extends Omit<WorkersSpec, "processes"> {
  type: string;
  /** 1-based. */
  index: number;
  command: string[];
  user: string;
  stateDir: string;
  graceSeconds?: number;
}

/**
 * One instance of a worker process type: the slot's release, env file and volumes like the web,
 * but no PORT (the env file's is the web's) and no socket; stopped with SIGTERM and the grace.
 */
export function buildWorkerUnit(o: WorkerUnitOptions): string {
  const name = instanceUnitName(o.app, o.color, o.type, o.index);
  if (o.type === "web") throw new UnitError("web instances are slot units");
  if (!USER.test(o.user)) throw new UnitError(`"${o.user}" is not a valid user name`);
  const limits = limitLines(o);
  if (o.command.length === 0) throw new UnitError("the start command is empty");
  if (!RELEASE.test(o.releaseId)) throw new UnitError(`"${o.releaseId}" is not a valid release id`);
  if (!o.command[0]?.startsWith("/")) throw new UnitError("the start command must begin with an absolute path");
  const grace = o.graceSeconds ?? 10;
  if (!Number.isInteger(grace) || grace < 1 || grace > 3600) throw new UnitError(`stop grace ${grace} s must be 1-3600`);
  return [
    ...slotServiceHead(o, `Switchyard app ${o.app} (${o.color} slot, ${o.type} ${o.index}, release ${o.releaseId})`),
    // The slot's env file carries the web's PORT; a worker takes no traffic.
    "UnsetEnvironment=PORT",
    `ExecStart=${o.command.map(escapeArg).join(" ")}`,
    "Restart=on-failure",
    "RestartSec=2",
    "KillMode=control-group",
    "KillSignal=SIGTERM",
    `TimeoutStopSec=${grace}`,
    ...slotServiceTail(o, name, limits),
  ].join("\n");
}

/** The form of a volume and its mount point in a release; the helper accepts exactly this. */
const VOLUME_DIR = /^\/[A-Za-z0-9._/-]+\/apps\/[a-z][a-z0-9-]{0,38}[a-z0-9]\/volumes\/[A-Za-z0-9._-]{1,200}$/;

/**
 * Each volume bind-mounted at its path in the release (writable under ProtectSystem=strict) and
 * writable where it lives (its env var's path); files the app makes stay writable by the group.
 */
function volumeLines(volumes: NonNullable<SlotSpec["volumes"]>): string[] {
  if (volumes.length === 0) return [];
  const lines: string[] = [];
  for (const v of volumes) {
    const dir = path(v.dir, "volume");
    const at = path(v.mountAt, "volume mount point");
    if (!VOLUME_DIR.test(dir) || /[^A-Za-z0-9._/-]/.test(at)) throw new UnitError(`refusing volume ${JSON.stringify(`${dir}:${at}`)}`);
    lines.push(`ReadWritePaths=${dir}`, `BindPaths=${dir}:${at}`);
  }
  return [...lines, "UMask=0007"];
}

/** Where a slot's socket forwarder answers drain requests: beside its socket. */
export function controlSocketPath(socketPath: string): string {
  return `${socketPath.replace(/\.sock$/, "")}.ctl`;
}

/**
 * The slot's socket forwarder as its own unit (the switch's unix socket in front of PORT), so it
 * lives and restarts with its slot.
 */
export function buildSocketUnit(o: {
  app: string;
  color: Color;
  bun: string;
  forwarder: string;
  socketPath: string;
  port: number;
  /** Every web instance's port (instance 1 first); absent: `port` alone. */
  ports?: number[];
  user: string;
}): string {
  const name = unitName(o.app, o.color, "socket");
  if (!USER.test(o.user)) throw new UnitError(`"${o.user}" is not a valid user name`);
  const ports = o.ports && o.ports.length > 0 ? o.ports : [o.port];
  if (ports.length > MAX_INSTANCES || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65_535)) {
    throw new UnitError(`refusing ports ${JSON.stringify(ports)}`);
  }
  return [
    "# Generated by Switchyard; changes are overwritten.",
    "[Unit]",
    `Description=Switchyard socket for ${o.app} (${o.color} slot)`,
    `BindsTo=${unitName(o.app, o.color)}`,
    `After=${unitName(o.app, o.color)}`,
    "",
    "[Service]",
    "Type=simple",
    `User=${o.user}`,
    `ExecStart=${[path(o.bun, "bun"), "--smol", path(o.forwarder, "forwarder"), path(o.socketPath, "socket"), ports.join(","), controlSocketPath(o.socketPath)].map(escapeArg).join(" ")}`,
    "Restart=always",
    "RestartSec=1",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    `ReadWritePaths=${path(o.socketPath.slice(0, o.socketPath.lastIndexOf("/")), "socket dir")}`,
    `SyslogIdentifier=${name.replace(/\.service$/, "")}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

export function systemctlArgv(
  verb: "daemon-reload" | "start" | "stop" | "restart" | "is-active" | "show" | "enable" | "disable",
  unit?: string,
): string[] {
  if (verb === "daemon-reload") return ["systemctl", "daemon-reload"];
  if (!unit || !/^sy-[a-z0-9_-]+\.service$/.test(unit)) throw new UnitError(`refusing to ${verb} "${unit}": only sy-*.service units`);
  if (verb === "show") {
    return [
      "systemctl",
      "show",
      unit,
      "--property=ActiveState,SubState,MainPID,ExecMainStartTimestamp,NRestarts,ExecMainStatus,ExecMainCode",
    ];
  }
  return ["systemctl", verb, unit];
}

export function journalctlArgv(unit: string, lines: number): string[] {
  if (!/^sy-[a-z0-9_-]+\.service$/.test(unit)) throw new UnitError(`refusing to read the journal of "${unit}"`);
  return ["journalctl", "-u", unit, "-n", String(Math.max(1, Math.min(lines, 10_000))), "--no-pager", "-o", "short-iso"];
}

/** One read of the slots' journal (JSON entries); the helper accepts exactly these options. */
export interface JournalQuery {
  units: string[];
  /** Epoch microseconds. */
  since?: number | null;
  until?: number | null;
  afterCursor?: string | null;
  lines: number;
  /** Newest first (with `until`: the newest entries up to it). */
  reverse?: boolean;
}

export const JOURNAL_MAX_LINES = 10_000;
const JOURNAL_CURSOR = /^[a-z]=[0-9a-f]{1,64}(;[a-z]=[0-9a-f]{1,64}){0,7}$/;
/** A slot's first web unit, or the pattern of the slot's other instances and workers (slotExtraUnitsPattern). */
const APP_UNIT = /^sy-[a-z][a-z0-9-]{0,38}[a-z0-9]-(blue|green)(_\*)?\.service$/;

export function isJournalCursor(text: string): boolean {
  return JOURNAL_CURSOR.test(text);
}

/** The helper's `journal` arguments for a query (see infrastructure/helper/switchyard-helper). */
export function journalHelperArgs(q: JournalQuery): string[] {
  if (q.units.length === 0 || q.units.length > 4) throw new UnitError("a journal read names one to four slot units");
  for (const unit of q.units) if (!APP_UNIT.test(unit)) throw new UnitError(`refusing to read the journal of "${unit}"`);
  if (!Number.isInteger(q.lines) || q.lines < 1 || q.lines > JOURNAL_MAX_LINES) throw new UnitError(`refusing line count ${q.lines}`);
  if (q.afterCursor && !isJournalCursor(q.afterCursor)) throw new UnitError("refusing a malformed journal cursor");
  const time = (us: number) => {
    if (!Number.isSafeInteger(us) || us < 0) throw new UnitError(`refusing time ${us}`);
    return `@${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, "0")}`;
  };
  return [
    "journal",
    "--json",
    ...q.units.flatMap((unit) => ["--unit", unit]),
    ...(q.since != null ? ["--since", time(q.since)] : []),
    ...(q.until != null ? ["--until", time(q.until)] : []),
    ...(q.afterCursor ? ["--after-cursor", q.afterCursor] : []),
    "--lines",
    String(q.lines),
    ...(q.reverse ? ["--reverse"] : []),
  ];
}

/** The journalctl command the helper runs for `journal --json …` (and the panel as root). */
export function journalQueryArgv(q: JournalQuery): string[] {
  const args = journalHelperArgs(q).slice(2);
  return ["journalctl", "--no-pager", "--output", "json", ...args];
}

/**
 * `systemd-run --scope` for a build on a server: the command runs in the caller's process (so its
 * output, exit code and cancellation stay the panel's), in a transient scope holding it to the
 * build memory limit, with a fifth of the default CPU and I/O weight and nice 10, as `user`.
 * The helper's build-scope verb runs the same argv as root.
 */
export function buildScopeArgv(o: { unit: string; user: string; memoryMaxMb: number }, argv: string[]): string[] {
  if (!/^sy-build-[0-9a-f]{12}$/.test(o.unit)) throw new UnitError(`"${o.unit}" is not a build scope name`);
  if (!USER.test(o.user)) throw new UnitError(`"${o.user}" is not a valid user name`);
  if (!Number.isInteger(o.memoryMaxMb) || o.memoryMaxMb < 1) throw new UnitError("the build memory limit must be a whole number of MiB");
  if (!argv[0]?.startsWith("/")) throw new UnitError("a build command must begin with an absolute path");
  return [
    // Absolute: a build's PATH starts in its own node_modules/.bin, which the repository controls.
    "/usr/bin/systemd-run",
    "--scope",
    "--quiet",
    "--collect",
    `--unit=${o.unit}`,
    `--uid=${o.user}`,
    `--gid=${o.user}`,
    `--nice=${BUILD_NICE}`,
    `--property=MemoryMax=${o.memoryMaxMb}M`,
    // Over the ceiling means killed, not pushed into swap while the apps wait.
    "--property=MemorySwapMax=0",
    `--property=CPUWeight=${BUILD_CPU_WEIGHT}`,
    `--property=IOWeight=${BUILD_IO_WEIGHT}`,
    "--",
    ...argv,
  ];
}
