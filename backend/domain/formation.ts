/**
 * An app's formation: which process types a release declares (`web` and its Procfile's other
 * lines), how many instances of each run, and which workers were stopped by hand. Pure: the
 * decisions live here, the rows and processes elsewhere.
 */
import { MAX_INSTANCES, PROCESS_TYPE_PATTERN } from "../contract/api.ts";

export const WEB = "web";

/** One row of the formation as stored (a type with no row runs one instance). */
export interface FormationRow {
  type: string;
  instances: number;
  stopped: boolean;
}

/** One process type as it should run from a release. */
export interface DesiredProcess {
  type: string;
  /** Shell text; web's comes from the release's start command. */
  command: string | null;
  instances: number;
  stopped: boolean;
}

export interface FormationIssue {
  /** The body's field (the process type) the problem is about. */
  field: string;
  message: string;
}

/** The worker commands a release recorded (`details.processes`), keeping only well-formed types. */
export function releaseWorkers(details: Record<string, unknown> | null | undefined): Record<string, string> {
  const raw = details?.processes;
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return {};
  const out: Record<string, string> = {};
  for (const [type, command] of Object.entries(raw as Record<string, unknown>)) {
    if (type === WEB || type === "release" || !PROCESS_TYPE_PATTERN.test(type)) continue;
    if (typeof command !== "string" || command.trim() === "") continue;
    out[type] = command;
  }
  return out;
}

/** `web` first, then the release's worker types in name order. */
export function releaseProcessTypes(details: Record<string, unknown> | null | undefined): string[] {
  return [WEB, ...Object.keys(releaseWorkers(details)).sort()];
}

/** The release's process types with the formation's counts: web and each worker, one instance unless a row says otherwise. */
export function desiredFormation(
  release: { details: Record<string, unknown> | null; webCommand: string | null },
  rows: readonly FormationRow[],
): DesiredProcess[] {
  const byType = new Map(rows.map((r) => [r.type, r]));
  const workers = releaseWorkers(release.details);
  return releaseProcessTypes(release.details).map((type) => {
    const row = byType.get(type);
    return {
      type,
      command: type === WEB ? release.webCommand : (workers[type] ?? null),
      instances: row ? row.instances : 1,
      // web is stopped with the app (POST /apps/:app/stop), never on its own.
      stopped: type === WEB ? false : (row?.stopped ?? false),
    };
  });
}

/** How many web instances a slot starts with: at least one (a formation of web 0 is refused). */
export function webInstances(rows: readonly FormationRow[]): number {
  const row = rows.find((r) => r.type === WEB);
  return Math.min(MAX_INSTANCES, Math.max(1, row ? row.instances : 1));
}

/**
 * How long a stopping process gets between SIGTERM and SIGKILL: the app's drain seconds (1 s at
 * the least, an hour at most), in seconds, for worker units and every stop of its processes.
 */
export function stopGraceSeconds(app: { drainSeconds: number }): number {
  return Math.min(3600, Math.max(1, Math.round(app.drainSeconds)));
}

/** The workers a slot runs: every declared type not stopped by hand, with at least one instance. */
export function runnableWorkers(desired: readonly DesiredProcess[]): Array<{ type: string; command: string; instances: number }> {
  return desired
    .filter((p) => p.type !== WEB && !p.stopped && p.instances > 0 && p.command !== null)
    .map((p) => ({ type: p.type, command: p.command as string, instances: p.instances }));
}

/**
 * Checks `PUT /apps/:app/formation`'s body against what the app can run. `known` is the live
 * release's process types (else the newest release's); null before any release, when any
 * well-formed type may be set ahead: it applies once a release declares it.
 */
export function checkFormation(
  body: unknown,
  o: { known: readonly string[] | null },
): { ok: true; counts: Record<string, number> } | { ok: false; issues: FormationIssue[] } {
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, issues: [{ field: "body", message: 'must be an object of process type → instance count, e.g. {"web": 2}' }] };
  }
  const entries = Object.entries(body as Record<string, unknown>);
  if (entries.length === 0) return { ok: false, issues: [{ field: "body", message: "names no process type" }] };
  const issues: FormationIssue[] = [];
  const counts: Record<string, number> = {};
  for (const [type, value] of entries) {
    if (!PROCESS_TYPE_PATTERN.test(type)) {
      issues.push({ field: type, message: "is not a process type (lowercase letters, digits, - and _, starting with a letter)" });
      continue;
    }
    if (o.known && !o.known.includes(type)) {
      issues.push({ field: type, message: `is not a process type of this app (it has ${o.known.join(", ")})` });
      continue;
    }
    if (typeof value !== "number" || !Number.isInteger(value)) {
      issues.push({ field: type, message: "must be a whole number of instances" });
      continue;
    }
    if (value < 0 || value > MAX_INSTANCES) {
      issues.push({ field: type, message: `must be between 0 and ${MAX_INSTANCES}` });
      continue;
    }
    if (type === WEB && value === 0) {
      issues.push({
        field: type,
        message: "a web process type needs at least one instance; to take the app offline, stop it (POST /apps/:app/stop)",
      });
      continue;
    }
    counts[type] = value;
  }
  return issues.length ? { ok: false, issues } : { ok: true, counts };
}

/**
 * What a formation change needs done to a live app: a blue-green restart for web, an in-place
 * change for workers. `running` is how many instances of each type the live slot runs now (absent:
 * not known): a count that equals the saved row but not what runs (a restart or scale that
 * failed) is applied again.
 */
export function formationChange(
  rows: readonly FormationRow[],
  counts: Record<string, number>,
  running?: Record<string, number>,
): { web: { from: number; to: number } | null; workers: string[] } {
  const row = (type: string) => rows.find((r) => r.type === type);
  let web: { from: number; to: number } | null = null;
  const workers: string[] = [];
  for (const [type, to] of Object.entries(counts)) {
    const from = row(type)?.instances ?? 1;
    // A worker stopped by hand runs nothing, as it should: only its count matters.
    const runs = running && !row(type)?.stopped ? (running[type] ?? 0) : undefined;
    if (from === to && (runs === undefined || runs === to)) continue;
    if (type === WEB) web = { from, to };
    else workers.push(type);
  }
  return { web, workers: workers.sort() };
}

/** The limits a runtime applies: systemd applies all three; the process runtime none, said plainly. */
export function limitsReport(
  app: { memoryMax: string | null; cpuQuota: string | null; ioWeight: number | null },
  runtime: "process" | "systemd",
): { memoryMax: string | null; cpuQuota: string | null; ioWeight: number | null; applied: boolean; notApplied: string[] } {
  const limits = { memoryMax: app.memoryMax, cpuQuota: app.cpuQuota, ioWeight: app.ioWeight };
  if (runtime === "systemd") return { ...limits, applied: true, notApplied: [] };
  const why = "local mode runs the app as plain processes, without a systemd unit or cgroup to hold it";
  const notApplied: string[] = [];
  if (app.memoryMax) notApplied.push(`Memory limit ${app.memoryMax} is not applied: ${why}.`);
  if (app.cpuQuota) notApplied.push(`CPU quota ${app.cpuQuota} is not applied: ${why}.`);
  if (app.ioWeight !== null) notApplied.push(`I/O weight ${app.ioWeight} is not applied: ${why}.`);
  return { ...limits, applied: false, notApplied };
}
