/**
 * What each event says: one builder per event, pure, so every message can be checked by its exact
 * output. A builder answers the event and the message before it is formatted for a channel; `url`
 * is a panel path (notify() makes it absolute with the public URL).
 */
import type { NotificationEvent, NotificationMessage } from "../contract/api.ts";

export type Draft = Omit<NotificationMessage, "event" | "at" | "url"> & { url: string | null };

export interface Built {
  event: NotificationEvent;
  message: Draft;
}

type Release = NotificationMessage["release"];

/** How many of the last log lines a failed deploy's message carries. */
export const LOG_LINES = 20;
const LINE_MAX = 300;

function appPath(app: string, query: Record<string, string> = {}): string {
  const q = new URLSearchParams(query).toString();
  return `/apps/${encodeURIComponent(app)}${q ? `?${q}` : ""}`;
}

function short(sha: string | null | undefined): string | null {
  return sha ? sha.slice(0, 12) : null;
}

function releaseFields(release: Release): { label: string; value: string }[] {
  if (!release) return [];
  const sha = short(release.commitSha);
  return [{ label: "Release", value: `v${release.number}${sha ? ` (${sha})` : ""}` }];
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

// Terminal colours and cursor moves (CSI, OSC), which no channel renders.
// biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what it removes
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

export function plainLine(line: string): string {
  return line.replace(ESCAPES, "");
}

/** The last `n` lines, without terminal escapes, each cut to a readable length. */
function tail(lines: string[], n = LOG_LINES): string[] {
  return lines.slice(-n).map((raw) => {
    const l = plainLine(raw);
    return l.length > LINE_MAX ? `${l.slice(0, LINE_MAX)}…` : l;
  });
}

export function deploySucceeded(input: {
  app: string;
  release: NonNullable<Release>;
  color: string;
  switchMs: number;
  jobId: string;
  trigger?: string | null;
}): Built {
  const { app, release } = input;
  return {
    event: "deploy.succeeded",
    message: {
      severity: "success",
      title: `Deploy of ${app} succeeded: v${release.number} is live`,
      text: `${app} now serves v${release.number} from the ${input.color} slot; traffic moved in ${input.switchMs} ms.`,
      app,
      release,
      fields: [
        ...releaseFields(release),
        { label: "Slot", value: input.color },
        ...(input.trigger ? [{ label: "Trigger", value: input.trigger }] : []),
      ],
      lines: [],
      url: appPath(app, { job: input.jobId }),
    },
  };
}

export function deployFailed(input: {
  app: string;
  /** The step that failed (null: before any step ran). */
  step: string | null;
  error: string;
  /** The job's log lines, masked as the job log is; the last ones are kept. */
  lines: string[];
  release: Release;
  commitSha: string | null;
  jobId: string;
  trigger?: string | null;
}): Built {
  const { app, step } = input;
  const sha = short(input.release?.commitSha ?? input.commitSha);
  const last = tail(input.lines);
  return {
    event: "deploy.failed",
    message: {
      severity: "critical",
      title: step ? `Deploy of ${app} failed at ${step}` : `Deploy of ${app} failed`,
      text: `${input.error}${/[.!?]$/.test(input.error) ? "" : "."} The live release keeps serving.${
        last.length ? ` The last ${last.length} log lines${step ? ` of ${step}` : ""} are below.` : ""
      }`,
      app,
      release: input.release,
      fields: [
        ...(step ? [{ label: "Step", value: step }] : []),
        ...releaseFields(input.release),
        ...(!input.release && sha ? [{ label: "Commit", value: sha }] : []),
        ...(input.trigger ? [{ label: "Trigger", value: input.trigger }] : []),
      ],
      lines: last,
      url: appPath(app, { job: input.jobId }),
    },
  };
}

export interface WatchFigures {
  requests: number;
  errors: number;
  ratio: number;
  p95?: number | null;
}

export function automaticRollback(input: {
  app: string;
  release: NonNullable<Release>;
  /** The slot traffic went back to. */
  to: string;
  reason: string;
  before: WatchFigures | null;
  after: WatchFigures | null;
  jobId: string;
}): Built {
  const { app, release, before, after } = input;
  const side = (t: WatchFigures) =>
    `${percent(t.ratio)} 5xx (${t.errors}/${t.requests})${t.p95 != null ? `, p95 ${Math.round(t.p95)} ms` : ""}`;
  return {
    event: "rollback.automatic",
    message: {
      severity: "critical",
      title: `${app} was rolled back automatically from v${release.number}`,
      text: `After the switch to v${release.number}, the watch saw ${input.reason}. Traffic went back to the ${input.to} slot.`,
      app,
      release,
      fields: [
        ...releaseFields(release),
        ...(after ? [{ label: "After the switch", value: side(after) }] : []),
        ...(before ? [{ label: "Before", value: side(before) }] : []),
        { label: "Back on", value: `${input.to} slot` },
      ],
      lines: [],
      url: appPath(app, { job: input.jobId }),
    },
  };
}

export interface Exit {
  code: number | null;
  signal: string | null;
  at: string;
}

function exitText(e: Exit): string {
  return `${e.signal ? `killed by ${e.signal}` : `exit code ${e.code ?? "?"}`} at ${e.at}`;
}

/**
 * A slot whose process is no longer running: crash-looping (its supervisor gave up after repeated
 * exits), crashed (it exited and stayed down), or down (stopped without a crash).
 */
export function slotStopped(input: {
  app: string;
  color: string;
  wasLive: boolean;
  state: "crashed" | "stopped";
  exits: Exit[];
  release: Release;
}): Built {
  const { app, color, exits } = input;
  const looping = input.state === "crashed" && exits.length > 1;
  const crashed = input.state === "crashed" || exits.some((e) => e.code !== 0 || e.signal);
  const event: NotificationEvent = looping ? "app.crash-looping" : crashed ? "app.crashed" : "slot.down";
  const role = input.wasLive ? "live" : "standby";
  const what = looping
    ? `is crash-looping: its process exited ${exits.length} times and was not restarted again`
    : crashed
      ? "crashed and is not running"
      : "is down: its process is not running";
  const last = exits.at(-1);
  return {
    event,
    message: {
      severity: input.wasLive ? "critical" : "warning",
      title: `${app}: the ${role} ${color} slot ${looping ? "is crash-looping" : crashed ? "crashed" : "is down"}`,
      text: `The ${role} slot (${color}) of ${app} ${what}.${
        input.wasLive ? " The app is not serving from it." : " It can no longer take traffic back on a rollback."
      }`,
      app,
      release: input.release,
      fields: [
        { label: "Slot", value: `${color} (${role})` },
        ...releaseFields(input.release),
        ...(last ? [{ label: "Last exit", value: exitText(last) }] : []),
        ...(exits.length > 1 ? [{ label: "Exits", value: String(exits.length) }] : []),
      ],
      lines: exits.slice(-5).map(exitText),
      url: appPath(app),
    },
  };
}

export function certificateIssued(input: { name: string; names: string[]; issuer: string; notAfter: Date; renewal: boolean }): Built {
  return {
    event: "certificate.issued",
    message: {
      severity: "success",
      title: `Certificate for ${input.name} ${input.renewal ? "renewed" : "issued"}`,
      text: `${input.issuer} ${input.renewal ? "renewed" : "issued"} the certificate for ${input.names.join(", ")}; it is valid until ${input.notAfter.toISOString().slice(0, 10)}.`,
      app: null,
      release: null,
      fields: [
        { label: "Certificate", value: input.name },
        { label: "Names", value: input.names.join(", ") },
        { label: "Valid until", value: input.notAfter.toISOString() },
      ],
      lines: [],
      url: "/certificates",
    },
  };
}

export function certificateFailed(input: { name: string; names: string[]; reason: string; stillValidUntil: Date | null }): Built {
  return {
    event: "certificate.failed",
    message: {
      severity: input.stillValidUntil ? "warning" : "critical",
      title: `Certificate for ${input.name} could not be ${input.stillValidUntil ? "renewed" : "issued"}`,
      text: `${input.reason}${
        input.stillValidUntil
          ? ` The current certificate keeps serving until ${input.stillValidUntil.toISOString().slice(0, 10)}.`
          : " The names have no valid certificate."
      }`,
      app: null,
      release: null,
      fields: [
        { label: "Certificate", value: input.name },
        { label: "Names", value: input.names.join(", ") },
      ],
      lines: [],
      url: "/certificates",
    },
  };
}

export function certificateExpiring(input: {
  name: string;
  notAfter: Date;
  now: Date;
  autoRenew: boolean;
  mode: string;
  lastError: string | null;
}): Built {
  const days = Math.max(0, Math.floor((input.notAfter.getTime() - input.now.getTime()) / 86_400_000));
  const why =
    input.mode === "custom"
      ? "It was uploaded: upload a new one to renew it."
      : !input.autoRenew
        ? "Automatic renewal is off for it."
        : input.lastError
          ? `Renewing it failed: ${input.lastError}`
          : "It has not been renewed yet.";
  return {
    event: "certificate.expiring",
    message: {
      severity: days <= 7 ? "critical" : "warning",
      title: `Certificate for ${input.name} expires in ${days} day${days === 1 ? "" : "s"}`,
      text: `The certificate for ${input.name} expires on ${input.notAfter.toISOString().slice(0, 10)}. ${why}`,
      app: null,
      release: null,
      fields: [
        { label: "Certificate", value: input.name },
        { label: "Expires", value: input.notAfter.toISOString() },
      ],
      lines: [],
      url: "/certificates",
    },
  };
}

/** `panel`: the panel's own database (its backups are under Settings). */
export function backupFailed(input: { database: string; kind: string; error: string; verification: boolean; panel?: boolean }): Built {
  return {
    event: input.verification ? "backup.verify-failed" : "backup.failed",
    message: {
      severity: "critical",
      title: input.verification ? `Backup of ${input.database} failed verification` : `Backup of ${input.database} failed`,
      text: input.verification
        ? `The ${input.kind} backup of ${input.database} was written but restoring it did not give back the database: ${input.error} Do not rely on it.`
        : `The ${input.kind} backup of ${input.database} was not taken: ${input.error}`,
      app: null,
      release: null,
      fields: [
        { label: "Database", value: input.database },
        { label: "Kind", value: input.kind },
      ],
      lines: [],
      url: input.panel ? "/settings" : `/databases/${encodeURIComponent(input.database)}`,
    },
  };
}

export function panelUpdated(input: { from: string | null; to: string | null }): Built {
  return {
    event: "panel.updated",
    message: {
      severity: "success",
      title: `Switchyard updated to ${input.to ?? "a new version"}`,
      text: `The panel now runs ${input.to ?? "the new version"}${input.from ? ` (was ${input.from})` : ""}.`,
      app: null,
      release: null,
      fields: [...(input.from ? [{ label: "From", value: input.from }] : []), ...(input.to ? [{ label: "To", value: input.to }] : [])],
      lines: [],
      url: "/settings",
    },
  };
}

export function panelReverted(input: { from: string | null; to: string | null; reason: string }): Built {
  return {
    event: "panel.reverted",
    message: {
      severity: "warning",
      title: `Switchyard switched back to ${input.from ?? "the previous version"}`,
      text: `The new version ${input.to ?? ""} ${input.reason}; the panel switched back to ${input.from ?? "the previous version"} by itself.`.replace(
        "  ",
        " ",
      ),
      app: null,
      release: null,
      fields: [
        ...(input.to ? [{ label: "Tried", value: input.to }] : []),
        ...(input.from ? [{ label: "Running", value: input.from }] : []),
      ],
      lines: [],
      url: "/settings",
    },
  };
}

export function signInFromNewAddress(input: { email: string; ip: string; userAgent: string | null }): Built {
  return {
    event: "signin.new-address",
    message: {
      severity: "warning",
      title: `${input.email} signed in from a new address`,
      text: `${input.email} signed in from ${input.ip}, an address this account had not signed in from before. If it was not them, sign their sessions out and change the password.`,
      app: null,
      release: null,
      fields: [
        { label: "Account", value: input.email },
        { label: "Address", value: input.ip },
        ...(input.userAgent ? [{ label: "Browser", value: input.userAgent.slice(0, 200) }] : []),
      ],
      lines: [],
      url: "/account",
    },
  };
}

export function twoFactorDisabled(input: { email: string; ip: string }): Built {
  return {
    event: "two-factor.disabled",
    message: {
      severity: "warning",
      title: `Two-factor authentication turned off for ${input.email}`,
      text: `${input.email} turned off two-factor authentication from ${input.ip}. The account now signs in with its password alone.`,
      app: null,
      release: null,
      fields: [
        { label: "Account", value: input.email },
        { label: "Address", value: input.ip },
      ],
      lines: [],
      url: "/account",
    },
  };
}

/** The line a throttled alert's next message adds: what the interval held back. */
export function suppressedNote(count: number): string {
  return `${count} more change${count === 1 ? "" : "s"} of this alert ${count === 1 ? "was" : "were"} held back since the last message.`;
}
