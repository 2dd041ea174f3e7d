/**
 * Cron jobs: their runs (started by the local scheduler, a server's timers or Run now), the
 * results the runner leaves on disk taken into the database (masked), and the timers kept in step
 * with the jobs and the live release.
 *
 * Every run goes through the same runner program (adapters/cron/runner.ts): it holds the job's
 * lock (the overlap policy), applies the timeout, and writes the run's result and output.
 */
import { join } from "node:path";
import { z } from "zod";
import { appUserFor } from "../adapters/app-user.ts";
import {
  type CronJobFiles,
  type CronUnitHost,
  cronJobFiles,
  cronSystemdHost,
  cronUnitHost,
  ensureJobDirs,
  installedCronUnits,
  installedUnitText,
  jobLocked,
  manualRunPending,
  processAlive,
  RUNNER_SOURCE,
  readRunFiles,
  removeJobFiles,
  removeRunFiles,
  requestManualRun,
  setAsideRunFile,
  spawnRunner,
  stableRunner,
  startCronService,
  withdrawManualRun,
  writeSpec,
} from "../adapters/cron/timers.ts";
import { buildCronService, buildCronTimer, cronStartBudgetSec, cronSystemctlArgv, cronUnitName } from "../commands/cron-units.ts";
import type { CronRunStatus, CronRunTrigger } from "../contract/api.ts";
import { productionEnvironment } from "../db/queries/apps.ts";
import {
  type CronRunValues,
  claimScheduledRun,
  findCronRun,
  insertCronRun,
  listAllCronJobs,
  listCronJobs,
  markCronRun,
  unfinishedCronRuns,
  upsertCronRun,
} from "../db/queries/cron.ts";
import { readEnvVars } from "../db/queries/env.ts";
import { liveRelease } from "../db/queries/release-command.ts";
import type { App, CronJobRow, CronRunRow, Release } from "../db/schema/index.ts";
import { cronUnitId, onCalendar, outputTail } from "../domain/cron.ts";
import { createMasker } from "../domain/masking.ts";
import type { Services } from "../services.ts";
import { releaseProcessEnv, releaseWorkDir } from "./process-env.ts";
import { knownSecrets } from "./secrets.ts";
import { volumeEnv, volumeMounts } from "./volumes.ts";

const FINAL: CronRunStatus[] = ["succeeded", "failed", "timed_out", "skipped", "cancelled"];
/** A run row whose runner never reported (it could not start, or its panel died first) is closed after this. */
const SILENT_RUN_MS = 60_000;

export class NoLiveRelease extends Error {
  override name = "NoLiveRelease";
}

const server = (services: Services) => services.runtime.kind === "systemd";
const toolsDir = (services: Services) => join(services.config.dataDir, "bin");
const filesOf = (services: Services, app: string, jobId: string) => cronJobFiles(services.config.dataDir, app, jobId);

/** Panels stopping their runs: a runner ended before it reported was stopped by the panel, not broken. */
const panelStopping = new WeakSet<Services>();

/** Runners this panel started (local mode), by run id. */
const children = new WeakMap<Services, Map<string, ReturnType<typeof spawnRunner>>>();
/** What each of those runners' ends still has to record. */
const pending = new WeakMap<Services, Set<Promise<void>>>();
function pendingOf(services: Services): Set<Promise<void>> {
  let set = pending.get(services);
  if (!set) {
    set = new Set();
    pending.set(services, set);
  }
  return set;
}

function childrenOf(services: Services): Map<string, ReturnType<typeof spawnRunner>> {
  let map = children.get(services);
  if (!map) {
    map = new Map();
    children.set(services, map);
  }
  return map;
}

function noLiveMessage(app: App, live: Release | null): string {
  return live?.pruned
    ? `The files of v${live.number} of ${app.name} are no longer on disk; deploy it again.`
    : `${app.name} has no live release to run in; deploy it first.`;
}

/** What the runner needs to know of the job; the environment and directory come with its process. */
async function specOf(services: Services, job: CronJobRow, files: CronJobFiles) {
  const user = server(services) ? null : await appUserFor(services.config.appUser, services.config.dataDir);
  return {
    jobId: job.id,
    command: job.command,
    timeoutSec: job.timeoutSec,
    overlap: job.overlap,
    jobDir: files.jobDir,
    user: user ? { uid: user.uid, gid: user.gid, home: user.home } : null,
    startBudgetSec: server(services) ? cronStartBudgetSec(job.timeoutSec) : null,
  };
}

/**
 * Starts a run of the job. A scheduled run is claimed first, so of two panels firing the same
 * instant one runs it (null for the other). With no live release the run is recorded as skipped
 * (a schedule) or refused with NoLiveRelease (Run now).
 */
export async function startCronRun(
  services: Services,
  app: App,
  job: CronJobRow,
  trigger: CronRunTrigger,
  dueAt: Date,
): Promise<CronRunRow | null> {
  const live = await liveRelease(services.db, app.id);
  const base: CronRunValues = {
    id: crypto.randomUUID(),
    cronJobId: job.id,
    appId: app.id,
    trigger,
    status: "running",
    releaseId: live?.id ?? null,
    dueAt,
  };
  const locking = services.database.kind !== "pglite";
  if (!live || live.pruned) {
    if (trigger === "manual") throw new NoLiveRelease(noLiveMessage(app, live));
    return claimScheduledRun(
      services.db,
      { ...base, status: "skipped", finishedAt: new Date(), message: noLiveMessage(app, live) },
      locking,
    );
  }
  const files = filesOf(services, app.name, job.id);
  if (server(services)) {
    if (job.overlap === "skip" && jobLocked(files)) {
      return insertCronRun(services.db, {
        ...base,
        status: "skipped",
        finishedAt: new Date(),
        message: "The previous run was still running (overlap policy: skip).",
      });
    }
    // The job's own service runs it, as its timer would, and reports like any run (the runner's
    // file is taken in as the run goes). A service already running takes the request when its run
    // ends (queue). The start does not wait for the run: a one-shot service's start lasts the run.
    const row = await insertCronRun(services.db, { ...base, status: "queued" });
    requestManualRun(files, row.id, dueAt);
    await startJobService(services, app, job.id, row.id);
    return row;
  }
  const row =
    trigger === "schedule"
      ? await claimScheduledRun(services.db, { ...base, startedAt: new Date() }, locking)
      : await insertCronRun(services.db, { ...base, startedAt: new Date() });
  if (!row) return null;
  ensureJobDirs(files, false);
  writeSpec(files, await specOf(services, job, files), false);
  const tools = stableRunner(toolsDir(services));
  let proc: ReturnType<typeof spawnRunner>;
  try {
    proc = spawnRunner({
      ...tools,
      args: [files.spec, row.id, trigger, dueAt.toISOString()],
      cwd: releaseWorkDir(live),
      env: releaseProcessEnv(services, app, live),
    });
  } catch (error) {
    await markCronRun(services.db, row.id, "failed", `The run could not start: ${(error as Error).message}`);
    return row;
  }
  childrenOf(services).set(row.id, proc);
  const bookkeeping = (async () => {
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    childrenOf(services).delete(row.id);
    await ingestJobRuns(services, app, job.id);
    const after = await findCronRun(services.db, job.id, row.id);
    if (after && !FINAL.includes(after.status)) {
      if (panelStopping.has(services)) await markCronRun(services.db, row.id, "cancelled", "The panel stopped before the run started.");
      else
        await markCronRun(
          services.db,
          row.id,
          "failed",
          `The runner stopped (exit ${code}) before reporting: ${stderr.trim().slice(-500)}`,
        );
    }
    await publishCron(services, app);
  })()
    .catch((error: unknown) => services.log.warn("cron run bookkeeping failed", { error, runId: row.id }))
    .finally(() => pendingOf(services).delete(bookkeeping));
  pendingOf(services).add(bookkeeping);
  await publishCron(services, app);
  return row;
}

/** Starts the job's service for a Run now request; a start systemd refuses fails the run. */
async function startJobService(services: Services, app: App, jobId: string, runId: string): Promise<void> {
  try {
    const result = await startCronService(cronUnitName(app.name, cronUnitId(jobId), "service"));
    // No exit code (the call timed out): the request stays, and the service may still take it.
    if (result.code === null || result.code === 0) return;
    withdrawManualRun(filesOf(services, app.name, jobId), runId);
    await markCronRun(services.db, runId, "failed", `systemd could not start the run: ${(result.stderr || result.stdout).trim()}`);
  } catch (error) {
    services.log.warn("starting a cron run failed", { error, runId });
  }
}

async function publishCron(services: Services, app: App): Promise<void> {
  await services.events.publish({ type: "app.updated", appId: app.id, app: app.name });
}

const isoDate = z
  .string()
  .max(64)
  .refine((v) => !Number.isNaN(Date.parse(v)), "is not a date");
const int = z.number().int().min(0).max(2_147_483_647);

/** A runner's result file, as the runner writes it (the apps' user can write these files on a server: checked). */
const runnerResultSchema = z.object({
  status: z.enum(["queued", "running", "succeeded", "failed", "timed_out", "skipped", "cancelled"]),
  trigger: z.enum(["schedule", "manual"]),
  dueAt: isoDate,
  startedAt: isoDate.nullable(),
  finishedAt: isoDate.nullable(),
  durationMs: int.nullable(),
  exitCode: z.number().int().min(-1024).max(1024).nullable(),
  message: z.string().max(2000).nullable(),
  pid: int.nullable(),
});
type RunnerResult = z.infer<typeof runnerResultSchema>;

const date = (iso: string | null | undefined) => (iso ? new Date(iso) : null);

/** A result file that is not the runner's is moved aside (`.rejected`), so the other runs are still taken in. */
function rejectRunFile(services: Services, files: CronJobFiles, app: App, runId: string, why: string): void {
  services.log.warn("a cron run file was not a runner's result; it was moved aside", { app: app.name, runId, why });
  setAsideRunFile(files, runId);
}

/** Takes the runner's result files of one job into cron_runs (output masked); finished ones are removed. */
export async function ingestJobRuns(services: Services, app: App, jobId: string, mask?: (text: string) => string): Promise<number> {
  const files = filesOf(services, app.name, jobId);
  const found = readRunFiles(files);
  if (found.length === 0) return 0;
  const masker = mask ?? (await appMasker(services, app));
  const live = await liveRelease(services.db, app.id);
  for (const { id, result, output } of found) {
    const parsed = runnerResultSchema.safeParse(result);
    if (!parsed.success) {
      rejectRunFile(services, files, app, id, parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
      continue;
    }
    const r = parsed.data;
    const final = FINAL.includes(r.status);
    await upsertCronRun(services.db, {
      id,
      cronJobId: jobId,
      appId: app.id,
      trigger: r.trigger === "manual" ? "manual" : "schedule",
      status: r.status,
      releaseId: live?.id ?? null,
      dueAt: date(r.dueAt) ?? new Date(),
      startedAt: date(r.startedAt),
      finishedAt: date(r.finishedAt),
      durationMs: r.durationMs,
      exitCode: r.exitCode,
      message: r.message,
      output: output === null ? null : outputTail(masker(output)),
    });
    if (final) removeRunFiles(files, id);
  }
  return found.length;
}

async function appMasker(services: Services, app: App): Promise<(text: string) => string> {
  const current = await readEnvVars(services.db, services.masterKey, (await productionEnvironment(services.db, app.id)).id);
  return createMasker(await knownSecrets(services, app.id, current));
}

/**
 * One pass over every job's run files, then the runs nobody will report on: their runner is gone
 * (its panel stopped, the machine rebooted) or never started.
 */
export async function ingestCronRuns(services: Services, now = new Date()): Promise<void> {
  const byApp = new Map<string, { app: App | null; jobs: string[] }>();
  for (const { job, app } of await listAllCronJobs(services.db)) {
    const entry = byApp.get(job.appId) ?? { app: null, jobs: [] };
    entry.jobs.push(job.id);
    byApp.set(job.appId, { ...entry, app: entry.app ?? ({ id: job.appId, name: app } as App) });
  }
  for (const { app, jobs } of byApp.values()) {
    if (!app) continue;
    // One app's trouble (its files, its secrets) does not hold up the others' history.
    try {
      let masker: ((text: string) => string) | undefined;
      for (const jobId of jobs) {
        if (readRunFiles(filesOf(services, app.name, jobId)).length === 0) continue;
        masker ??= await appMasker(services, app);
        await ingestJobRuns(services, app, jobId, masker);
      }
    } catch (error) {
      services.log.warn("cron runs of an app were not read", { error, app: app.name });
    }
  }
  const mine = childrenOf(services);
  for (const { run, app } of await unfinishedCronRuns(services.db)) {
    if (mine.has(run.id)) continue;
    const files = filesOf(services, app, run.cronJobId);
    const found = readRunFiles(files).find((f) => f.id === run.id)?.result;
    const reported: RunnerResult | undefined = found === undefined ? undefined : runnerResultSchema.safeParse(found).data;
    if (reported?.pid && processAlive(reported.pid)) continue;
    // Server mode: a Run now request still waiting for the job's service (behind a long run, or
    // left for a later start of it) is not abandoned; the service is started for it when idle.
    if (!reported && server(services) && manualRunPending(files, run.id)) {
      if (!jobLocked(files) && now.getTime() - run.createdAt.getTime() >= SILENT_RUN_MS) {
        await startJobService(services, { id: run.appId, name: app } as App, run.cronJobId, run.id);
      }
      continue;
    }
    if (!reported && now.getTime() - run.createdAt.getTime() < SILENT_RUN_MS) continue;
    await markCronRun(
      services.db,
      run.id,
      "cancelled",
      reported
        ? "The run ended without reporting (the panel or the server stopped while it ran)."
        : "The run never started (the panel stopped first).",
    );
    if (reported) removeRunFiles(files, run.id);
  }
}

/** Stops the runs this panel started (local mode); each records itself as cancelled. */
export async function stopLocalRuns(services: Services): Promise<void> {
  panelStopping.add(services);
  const mine = [...childrenOf(services).values()];
  for (const proc of mine) proc.kill("SIGTERM");
  // Each runner's bookkeeping (startCronRun) records how its run ended, once the runner has exited.
  await Promise.race([Promise.all([...pendingOf(services)]), Bun.sleep(15_000)]);
}

/** A panel starting (again) runs its jobs' runs normally. */
export function resumeLocalRuns(services: Services): void {
  panelStopping.delete(services);
}

/**
 * Server mode: each job of the app gets its service (the live release, its env, its volumes) and
 * timer, or loses both when disabled, when there is no live release, or when it is gone.
 */
export async function syncCronUnits(
  services: Services,
  app: App,
  removed: string[] = [],
  units: CronUnitHost = cronUnitHost(),
): Promise<void> {
  if (!server(services)) return;
  const host = units.systemd;
  const installed = (unit: string) => installedUnitText(unit, units.unitDir);
  const live = await liveRelease(services.db, app.id);
  const remove = async (jobId: string) => {
    for (const kind of ["timer", "service"] as const) {
      const unit = cronUnitName(app.name, cronUnitId(jobId), kind);
      if (installed(unit) !== null) await host.removeUnit(unit);
    }
  };
  for (const jobId of removed) {
    await remove(jobId);
    removeJobFiles(filesOf(services, app.name, jobId));
  }
  const tools = stableRunner(toolsDir(services));
  for (const job of await listCronJobs(services.db, app.id)) {
    if (!live || live.pruned) {
      await remove(job.id);
      continue;
    }
    const files = filesOf(services, app.name, job.id);
    ensureJobDirs(files, true);
    writeSpec(files, await specOf(services, job, files), true);
    const env = releaseProcessEnv(services, app, live);
    const unitId = cronUnitId(job.id);
    const service = cronUnitName(app.name, unitId, "service");
    const serviceText = buildCronService({
      app: app.name,
      unitId,
      jobName: job.name,
      releaseId: live.id,
      releaseDir: releaseWorkDir(live),
      envFile: live.envFile,
      env: { PATH: env.PATH ?? "", NODE_ENV: "production", ...volumeEnv(services, app) },
      user: "switchyard-apps",
      ...tools,
      specFile: files.spec,
      jobDir: files.jobDir,
      volumes: volumeMounts(services, app, live.dir),
      timeoutSec: job.timeoutSec,
    });
    const timer = cronUnitName(app.name, unitId, "timer");
    const timerText = buildCronTimer({ app: app.name, unitId, jobName: job.name, onCalendar: onCalendar(job.schedule, job.timezone) });
    if (!job.enabled) {
      // A disabled job keeps its service, so Run now still works; only the timer goes.
      if (installed(timer) !== null) await host.removeUnit(timer);
      if (installed(service)?.trim() !== serviceText.trim()) {
        await host.writeUnit(service, serviceText);
        await host.systemctl(["systemctl", "daemon-reload"]);
      }
      continue;
    }
    // Unchanged units are left alone: no daemon-reload, and the timer keeps its next elapse.
    if (installed(service)?.trim() === serviceText.trim() && installed(timer)?.trim() === timerText.trim()) continue;
    await host.writeUnit(service, serviceText);
    await host.writeUnit(timer, timerText);
    await host.systemctl(["systemctl", "daemon-reload"]);
    await host.systemctl(cronSystemctlArgv("enable", timer));
    await host.systemctl(cronSystemctlArgv("restart", timer));
  }
}

/** Removes installed cron units whose job is gone (`keep`: the unit names without suffix of existing jobs). */
export async function removeOrphanedCronUnits(services: Services, keep: Set<string>): Promise<void> {
  if (!server(services)) return;
  const host = cronSystemdHost();
  for (const unit of installedCronUnits()) {
    if (!keep.has(unit.replace(/\.(service|timer)$/, ""))) await host.removeUnit(unit);
  }
}

/** Forget a job's runs on disk (local mode) after it is deleted. */
export function removeCronFiles(services: Services, app: string, jobId: string): void {
  removeJobFiles(filesOf(services, app, jobId));
}

export { RUNNER_SOURCE };
