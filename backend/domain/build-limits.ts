/**
 * Builds must not starve the apps already running on the same server: they run at low CPU and
 * I/O priority under a memory ceiling, a few at a time. These are the pure decisions behind that,
 * and the words for the limits a running app gets in each mode.
 */
import { z } from "zod";
import type { BuildSettings } from "../contract/api.ts";

const MIB = 1024 * 1024;

export const BUILD_CONCURRENCY = { min: 1, max: 8 } as const;
export const BUILD_MEMORY_MB = { min: 256, max: 65_536 } as const;
/** The ceiling when the machine has RAM to spare; smaller machines get half their RAM. */
export const PREFERRED_BUILD_MEMORY_MB = 2048;

/** Builds yield the CPU and the disk to the apps: nice 10, and a fifth of a default unit's weight. */
export const BUILD_NICE = 10;
export const BUILD_CPU_WEIGHT = 20;
export const BUILD_IO_WEIGHT = 20;
/** How often a local build's memory is summed. */
export const RSS_WATCH_MS = 500;

/** 2048 MiB, or half the machine's RAM when that is less (in steps of 64 MiB, never under 256). */
export function defaultBuildMemoryMb(totalMemBytes: number): number {
  const half = Math.floor(totalMemBytes / MIB / 2 / 64) * 64;
  return Math.max(BUILD_MEMORY_MB.min, Math.min(PREFERRED_BUILD_MEMORY_MB, half));
}

export function defaultBuildSettings(totalMemBytes: number): BuildSettings {
  return { concurrency: 1, memoryMaxMb: defaultBuildMemoryMb(totalMemBytes) };
}

const whole = (min: number, max: number) =>
  z
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

/** `PUT /settings/builds`: either field, or both. */
export const buildSettingsBody = z
  .strictObject({
    concurrency: whole(BUILD_CONCURRENCY.min, BUILD_CONCURRENCY.max),
    memoryMaxMb: whole(BUILD_MEMORY_MB.min, BUILD_MEMORY_MB.max),
  })
  .partial();

/** The stored settings over the defaults; a stored value out of bounds falls back to its default. */
export function readBuildSettings(stored: unknown, totalMemBytes: number): BuildSettings {
  const out = defaultBuildSettings(totalMemBytes);
  const parsed = buildSettingsBody.strip().safeParse(stored ?? {});
  if (!parsed.success) {
    const value = (stored ?? {}) as Record<string, unknown>;
    const one = (key: keyof BuildSettings) => buildSettingsBody.shape[key].safeParse(value[key]);
    const c = one("concurrency");
    const m = one("memoryMaxMb");
    if (c.success && c.data !== undefined) out.concurrency = c.data;
    if (m.success && m.data !== undefined) out.memoryMaxMb = m.data;
    return out;
  }
  return { ...out, ...parsed.data };
}

/** How a build's I/O priority is lowered: the idle class, or the lowest best-effort level where idle is not allowed. */
export type IoClass = "idle" | "best-effort" | null;

/**
 * `chrt`/`nice`/`ionice` in front of a local build's argv (`-t`: a refused ionice never fails the
 * build). The idle scheduling class is what keeps an app's latency: a niced build still takes its
 * share of a busy core for a full time slice, while an app waking up preempts an idle-class one at
 * once (any user may lower a process to it). nice stays for anything that reads the niceness.
 */
export function lowPriorityArgv(argv: string[], io: IoClass, nice = BUILD_NICE): string[] {
  const ionice = io === "idle" ? ["ionice", "-t", "-c", "3"] : io === "best-effort" ? ["ionice", "-t", "-c", "2", "-n", "7"] : [];
  return ["chrt", "--idle", "0", "nice", "-n", String(nice), ...ionice, ...argv];
}

/** The fields of /proc/<pid>/stat a build watch needs. */
export interface ProcStat {
  pid: number;
  pgid: number;
  nice: number;
  rssPages: number;
}

/** Parses /proc/<pid>/stat (the command name, in parentheses, may itself hold spaces and parentheses). */
export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const pid = Number.parseInt(text, 10);
  // After the name: state(3) ppid(4) pgrp(5) … nice(19) … rss(24); index 0 here is field 3.
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const pgid = Number(rest[2]);
  const nice = Number(rest[16]);
  const rssPages = Number(rest[21]);
  if (![pid, pgid, nice, rssPages].every(Number.isFinite)) return null;
  return { pid, pgid, nice, rssPages };
}

/** The resident memory of one process group, in bytes. */
export function groupRssBytes(stats: readonly ProcStat[], pgid: number, pageSize: number): number {
  let pages = 0;
  for (const s of stats) if (s.pgid === pgid) pages += s.rssPages;
  return pages * pageSize;
}

export function memoryExceededMessage(memoryMaxMb: number): string {
  return `the build used more than ${memoryMaxMb} MiB; raise the build memory limit in Settings → Builds`;
}

/** A build stopped by the server's memory limit (the kernel kills it inside its systemd scope). */
export function memoryKilledMessage(memoryMaxMb: number): string {
  return `the build was killed, most likely for using more than ${memoryMaxMb} MiB; raise the build memory limit in Settings → Builds`;
}

export interface BuildHolder {
  app: string | null;
  jobId: string;
}

/** "waiting for a build slot: 1 build running (app x)". */
export function waitingMessage(holders: readonly BuildHolder[]): string {
  const apps = holders.map((h) => (h.app ? `app ${h.app}` : `job ${h.jobId.slice(0, 8)}`));
  const n = holders.length;
  return `waiting for a build slot: ${n} build${n === 1 ? "" : "s"} running${n ? ` (${apps.join(", ")})` : ""}`;
}

/** The transient scope a server build runs in: `sy-build-<first 12 hex of the job id>`. */
export function buildScopeName(jobId: string): string {
  const hex = jobId.replaceAll("-", "").toLowerCase();
  if (!/^[0-9a-f]{12,}$/.test(hex)) throw new Error(`"${jobId}" is not a job id`);
  return `sy-build-${hex.slice(0, 12)}`;
}
