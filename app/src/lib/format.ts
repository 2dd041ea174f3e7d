/** Small display helpers shared by pages. */
import type { AppStatus, JobKind, Role, SlotState } from "#lib/api/types.ts";
import type { BadgeTone } from "#lib/components/Badge.svelte";

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

/** "3 minutes ago", "yesterday", "just now". */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "—";
  const seconds = Math.round((then - now) / 1000);
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return date.toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" });
}

export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 7) : "";
}

/** "https://github.com/acme/web.git" → "acme/web". */
export function repoLabel(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.pathname.replace(/^\/+/, "").replace(/\.git$/, "") || parsed.host;
  } catch {
    return url.replace(/^git@[^:]+:/, "").replace(/\.git$/, "");
  }
}

export const APP_STATUS: Record<AppStatus, { label: string; tone: BadgeTone; pulse?: boolean }> = {
  new: { label: "New", tone: "neutral" },
  building: { label: "Deploying", tone: "warning", pulse: true },
  live: { label: "Live", tone: "success" },
  failed: { label: "Failed", tone: "danger" },
  stopped: { label: "Stopped", tone: "neutral" },
  crashed: { label: "Crashed", tone: "danger" },
};

export const ROLE_LABEL: Record<Role, { label: string; description: string }> = {
  owner: { label: "Owner", description: "Full control, including users and server settings." },
  admin: { label: "Admin", description: "Manages apps, settings and users." },
  deployer: { label: "Deployer", description: "Deploys and rolls back apps." },
  viewer: { label: "Viewer", description: "Read-only access." },
};

/** 850 → "850 ms", 12_400 → "12.4 s", 95_000 → "1 min 35 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m - h * 60} min`;
}

/** Time since an ISO date as a compact uptime: "3 h 12 min". */
export function uptime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "—";
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export const JOB_STATUS: Record<string, { label: string; tone: BadgeTone; pulse?: boolean }> = {
  queued: { label: "Queued", tone: "neutral", pulse: true },
  running: { label: "Running", tone: "warning", pulse: true },
  succeeded: { label: "Succeeded", tone: "success" },
  failed: { label: "Failed", tone: "danger" },
  cancelled: { label: "Cancelled", tone: "neutral" },
};

export const JOB_KIND: Record<JobKind, string> = {
  deploy: "Deploy",
  rollback: "Rollback",
  restart: "Restart",
  stop: "Stop",
  "configure-proxy": "Domains",
  "self-update": "Self-update",
  "release-command": "Release command",
  "db-provision": "Provision database",
  "db-backup": "Backup",
  "db-restore": "Restore",
  "db-rotate": "Rotate password",
  "db-delete": "Delete database",
  "issue-certificate": "Certificate",
  "volume-backup": "Volume backup",
  "volume-restore": "Volume restore",
  scale: "Processes",
};

export const RELEASE_STATUS: Record<string, { label: string; tone: BadgeTone }> = {
  ready: { label: "Ready", tone: "neutral" },
  live: { label: "Live", tone: "success" },
  standby: { label: "Standby", tone: "accent" },
  retired: { label: "Retired", tone: "neutral" },
  failed: { label: "Failed", tone: "danger" },
  rolled_back: { label: "Rolled back", tone: "warning" },
};

export const SLOT_STATE: Record<SlotState, { label: string; tone: BadgeTone; pulse?: boolean }> = {
  empty: { label: "Empty", tone: "neutral" },
  starting: { label: "Starting", tone: "warning", pulse: true },
  live: { label: "Live", tone: "success" },
  standby: { label: "Standby", tone: "accent" },
  draining: { label: "Draining", tone: "warning", pulse: true },
  stopped: { label: "Stopped", tone: "neutral" },
  failed: { label: "Failed", tone: "danger" },
  crashed: { label: "Crashed", tone: "danger" },
};

/** How a process ended: "exit code 1", "killed by SIGKILL". */
export function exitReason(exit: { code: number | null; signal: string | null }): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  return exit.code === null ? "exited" : `exit code ${exit.code}`;
}

/** The deploy pipeline, in order (a rollback or a restart runs GO_LIVE_STEPS, without the release command). */
export const DEPLOY_STEPS = [
  "fetch",
  "detect",
  "install",
  "build",
  "release",
  "release-command",
  "start",
  "health",
  "switch",
  "drain",
  "watch",
  "retain",
];

/** How a release goes live: the end of a deploy, and all of a rollback or a restart. */
export const GO_LIVE_STEPS = DEPLOY_STEPS.slice(DEPLOY_STEPS.indexOf("start"));

/** The panel's own update pipeline, in order. */
export const SELF_UPDATE_STEPS = ["fetch", "install", "build", "migrate", "start", "health", "switch", "watch", "retain"];

export const STEP_LABEL: Record<string, string> = {
  fetch: "Fetch",
  detect: "Detect",
  install: "Install",
  build: "Build",
  migrate: "Migrate",
  release: "Release",
  "release-command": "Release command",
  start: "Start",
  health: "Health",
  switch: "Switch",
  drain: "Drain",
  watch: "Watch",
  retain: "Retain",
  stop: "Stop",
  check: "Check",
  issue: "Issue",
};

/** Words for a rolled-back release's `details` ({ reason, … }). */
export function rollbackReason(details: Record<string, unknown> | null | undefined): string | null {
  if (!details) return null;
  const reason = details.reason ?? details.message ?? details.error;
  return typeof reason === "string" && reason.trim() ? reason.trim() : null;
}
