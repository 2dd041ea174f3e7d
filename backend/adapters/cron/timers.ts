/**
 * Where cron jobs meet the machine: the runner program's stable copy, the spec and run files of
 * each job, and (server mode) the timer units, written through the same systemd host as the slots.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cronStartArgv } from "../../commands/cron-units.ts";
import { type RunResult, run } from "../exec.ts";
import { linkBun, writeFileAtomic } from "../files.ts";
import { HelperError, processPrivilege } from "../privilege.ts";
import { directSystemdHost, helperSystemdHost, type SystemdHost } from "../runtime/systemd.ts";

export const RUNNER_SOURCE = join(import.meta.dir, "runner.ts");

/**
 * The `bun` link and the runner's copy in the data dir's tools, refreshed when the panel's own
 * changed: installed timers keep working after the panel that wrote them is updated and pruned.
 */
export function stableRunner(toolsDir: string): { bun: string; runner: string } {
  const bun = linkBun(toolsDir);
  const runner = join(toolsDir, "cron-runner.ts");
  const text = readFileSync(RUNNER_SOURCE, "utf8");
  if (!existsSync(runner) || readFileSync(runner, "utf8") !== text) writeFileAtomic(runner, text, 0o644);
  return { bun, runner };
}

/** Root writes the units itself; the installed panel asks the helper. */
export function cronSystemdHost(): SystemdHost {
  const privilege = processPrivilege();
  return privilege.root ? directSystemdHost() : helperSystemdHost(privilege);
}

/** Where cron units are written (through `systemd`) and read back from (`unitDir`, world-readable). */
export interface CronUnitHost {
  systemd: SystemdHost;
  unitDir: string;
}

export function cronUnitHost(): CronUnitHost {
  return { systemd: cronSystemdHost(), unitDir: "/etc/systemd/system" };
}

export interface CronJobFiles {
  /** The app's cron directory: the panel's alone to write (the specs are here). */
  cronDir: string;
  /** The job's lock, its Run now requests and `runs/`: writable by the apps' user on a server. */
  jobDir: string;
  /** What the runner runs: beside the job's directory, never in it, so the apps' user cannot replace it. */
  spec: string;
  runs: string;
}

export function cronJobFiles(dataDir: string, app: string, jobId: string): CronJobFiles {
  const cronDir = join(dataDir, "apps", app, "cron");
  const jobDir = join(cronDir, jobId);
  return { cronDir, jobDir, spec: join(cronDir, `${jobId}.spec.json`), runs: join(jobDir, "runs") };
}

/**
 * Creates the job's directories. On a server the apps' user writes its runs there, through the
 * panel's group (setgid keeps new files in it), and may only read the app's cron directory with
 * the specs; locally only the panel.
 */
export function ensureJobDirs(files: CronJobFiles, shared: boolean): void {
  mkdirSync(files.cronDir, { recursive: true });
  chmodSync(files.cronDir, shared ? 0o750 : 0o700);
  for (const dir of [files.jobDir, files.runs]) {
    mkdirSync(dir, { recursive: true });
    // Set after creating: the umask would take the group's write away.
    chmodSync(dir, shared ? 0o2770 : 0o700);
  }
  // Where earlier versions kept the spec, inside the group-writable directory.
  rmSync(join(files.jobDir, "spec.json"), { force: true });
}

export function writeSpec(files: CronJobFiles, spec: unknown, shared: boolean): void {
  writeFileAtomic(files.spec, `${JSON.stringify(spec)}\n`, shared ? 0o640 : 0o600);
}

/** A Run now on a server: the job's service runs the requests it finds, oldest first, as manual runs. */
export function requestManualRun(files: CronJobFiles, runId: string, dueAt: Date): void {
  writeFileAtomic(join(files.jobDir, `manual-${runId}.json`), `${JSON.stringify({ runId, dueAt: dueAt.toISOString() })}\n`, 0o640);
}

/** Whether the Run now request for this run is still waiting for the job's service to take it. */
export function manualRunPending(files: CronJobFiles, runId: string): boolean {
  return existsSync(join(files.jobDir, `manual-${runId}.json`));
}

/** Withdraws a Run now request that systemd refused to start. */
export function withdrawManualRun(files: CronJobFiles, runId: string): void {
  rmSync(join(files.jobDir, `manual-${runId}.json`), { force: true });
}

/**
 * Starts a job's service for Run now without waiting for the run (a one-shot service's start lasts
 * as long as its run): systemctl directly as root, else the helper's `systemctl start NAME --no-block`.
 */
export async function startCronService(unit: string): Promise<RunResult> {
  const argv = cronStartArgv(unit);
  const privilege = processPrivilege();
  if (privilege.root) return run(argv, { capture: true, timeoutMs: 60_000 });
  try {
    return await privilege.helper(["systemctl", "start", unit, "--no-block"]);
  } catch (error) {
    if (error instanceof HelperError && !error.refused) return error.result;
    throw error;
  }
}

/** Whether a runner holds the job's lock now (a run of it is in progress). */
export function jobLocked(files: CronJobFiles): boolean {
  try {
    const pid = Number.parseInt(readFileSync(join(files.jobDir, "lock", "pid"), "utf8"), 10);
    return pid > 0 && processAlive(pid);
  } catch {
    return false;
  }
}

export interface RunFile {
  id: string;
  result: unknown;
  output: string | null;
}

/** The result files a runner left in `runs/` (each `<runId>.json`, its output in `<runId>.out`). */
export function readRunFiles(files: CronJobFiles): RunFile[] {
  if (!existsSync(files.runs)) return [];
  const found: RunFile[] = [];
  for (const name of readdirSync(files.runs)) {
    const match = /^([0-9a-f-]{36})\.json$/.exec(name);
    if (!match?.[1]) continue;
    try {
      const result: unknown = JSON.parse(readFileSync(join(files.runs, name), "utf8"));
      const out = join(files.runs, `${match[1]}.out`);
      found.push({ id: match[1], result, output: existsSync(out) ? readFileSync(out, "utf8") : null });
    } catch {
      // Being replaced by its runner right now: the next pass reads it.
    }
  }
  return found;
}

export function removeRunFiles(files: CronJobFiles, runId: string): void {
  rmSync(join(files.runs, `${runId}.json`), { force: true });
  rmSync(join(files.runs, `${runId}.out`), { force: true });
}

/** Sets a result file aside as `<run>.json.rejected` (kept for a look, never read again); removed when it cannot be renamed. */
export function setAsideRunFile(files: CronJobFiles, runId: string): void {
  try {
    renameSync(join(files.runs, `${runId}.json`), join(files.runs, `${runId}.json.rejected`));
  } catch {
    removeRunFiles(files, runId);
  }
}

export function removeJobFiles(files: CronJobFiles): void {
  rmSync(files.jobDir, { recursive: true, force: true });
  rmSync(files.spec, { force: true });
}

/** Whether a process with this pid is there (a run's runner). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The runner as a child of the panel (local mode), in the live release with its env. */
export function spawnRunner(o: { bun: string; runner: string; args: string[]; cwd: string; env: Record<string, string> }) {
  return Bun.spawn([o.bun, o.runner, ...o.args], { cwd: o.cwd, env: o.env, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
}

/** The cron units installed on this server: `sy-<app>-cron-<8 hex>.timer|.service` file names. */
export function installedCronUnits(unitDir = "/etc/systemd/system"): string[] {
  if (!existsSync(unitDir)) return [];
  return readdirSync(unitDir).filter((name) => /^sy-[a-z][a-z0-9-]{0,38}[a-z0-9]-cron-[0-9a-f]{8}\.(service|timer)$/.test(name));
}

/** The text of an installed unit, or null (units are world-readable). */
export function installedUnitText(name: string, unitDir = "/etc/systemd/system"): string | null {
  try {
    return readFileSync(join(unitDir, name), "utf8");
  } catch {
    return null;
  }
}
