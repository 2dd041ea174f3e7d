/**
 * Runs cron jobs on schedule. Local mode: one croner timer per enabled job fires its runs (a run
 * is claimed in the database first, so two panels never both run an instant). Server mode:
 * systemd timers fire them; the panel keeps the timers in step with the jobs and the live release.
 * Both: the runners' result files are taken into the database every few seconds.
 */
import { Cron } from "croner";
import { findAppById } from "../db/queries/apps.ts";
import { findCronJob, listAllCronJobs } from "../db/queries/cron.ts";
import type { CronJobRow } from "../db/schema/index.ts";
import { cronUnitId } from "../domain/cron.ts";
import type { Services } from "../services.ts";
import { ingestCronRuns, removeOrphanedCronUnits, resumeLocalRuns, startCronRun, stopLocalRuns, syncCronUnits } from "./cron.ts";

const INGEST_MS = 2_000;
/** Jobs changed by another panel are picked up by its event, or at the latest by this. */
const RESYNC_MS = 60_000;

interface Scheduler {
  timers: Map<string, { key: string; cron: Cron }>;
  intervals: ReturnType<typeof setInterval>[];
  unsubscribe: () => void;
  pending: ReturnType<typeof setTimeout> | null;
}

/** What the events of one debounce window ask for (server mode): apps whose release changed, a full resync. */
interface Changes {
  apps: Set<string>;
  all: boolean;
}

const schedulers = new WeakMap<Services, Scheduler>();

const keyOf = (job: CronJobRow) => `${job.schedule}\n${job.timezone}`;

async function fire(services: Services, jobId: string, appId: string, dueAt: Date): Promise<void> {
  const [job, app] = await Promise.all([findCronJob(services.db, appId, jobId), findAppById(services.db, appId)]);
  if (!job?.enabled || !app) return;
  await startCronRun(services, app, job, "schedule", dueAt);
}

/** Local mode: a croner timer for each enabled job, replaced when its schedule or time zone changed. */
async function syncLocalTimers(services: Services, scheduler: Scheduler): Promise<void> {
  const jobs = (await listAllCronJobs(services.db)).map(({ job }) => job).filter((job) => job.enabled);
  const wanted = new Set(jobs.map((j) => j.id));
  for (const [id, timer] of scheduler.timers) {
    if (!wanted.has(id)) {
      timer.cron.stop();
      scheduler.timers.delete(id);
    }
  }
  for (const job of jobs) {
    const existing = scheduler.timers.get(job.id);
    if (existing?.key === keyOf(job)) continue;
    existing?.cron.stop();
    const cron: Cron = new Cron(job.schedule, { timezone: job.timezone, mode: "5-or-6-parts", protect: false }, () => {
      // The instant it is for, to the second: the same on every panel, which is what the claim compares.
      const due = cron.currentRun() ?? new Date();
      const dueAt = new Date(Math.round(due.getTime() / 1000) * 1000);
      fire(services, job.id, job.appId, dueAt).catch((error: unknown) =>
        services.log.warn("cron run failed to start", { error, cronJobId: job.id }),
      );
    });
    scheduler.timers.set(job.id, { key: keyOf(job), cron });
  }
}

/**
 * Server mode: every app's timers rewritten (after a start, and when another panel changed them),
 * and the units of jobs that are gone (a deleted app's) removed.
 */
async function syncAllUnits(services: Services): Promise<void> {
  const apps = new Map<string, string>();
  const all = await listAllCronJobs(services.db);
  for (const { job, app } of all) apps.set(job.appId, app);
  for (const appId of apps.keys()) {
    const app = await findAppById(services.db, appId);
    if (app) await syncCronUnits(services, app);
  }
  await removeOrphanedCronUnits(services, new Set(all.map(({ job, app }) => `sy-${app}-cron-${cronUnitId(job.id)}`)));
}

/** Re-reads the jobs (local timers) or rewrites one app's units (server), after a change. */
export async function cronChanged(services: Services, appId?: string, removed: string[] = []): Promise<void> {
  const scheduler = schedulers.get(services);
  if (services.runtime.kind === "systemd") {
    const app = appId ? await findAppById(services.db, appId) : null;
    if (app) await syncCronUnits(services, app, removed);
    return;
  }
  if (scheduler) await syncLocalTimers(services, scheduler);
}

export function startCronScheduler(services: Services): void {
  stopTimersOnly(services);
  resumeLocalRuns(services);
  const scheduler: Scheduler = { timers: new Map(), intervals: [], unsubscribe: () => {}, pending: null };
  schedulers.set(services, scheduler);
  const warn = (what: string) => (error: unknown) => services.log.warn(what, { error });
  let changes: Changes = { apps: new Set(), all: false };
  const resync = () =>
    void (services.runtime.kind === "systemd" ? syncAllUnits(services) : syncLocalTimers(services, scheduler)).catch(
      warn("cron schedules were not synced"),
    );
  // Runs the previous panel left unfinished are closed (or picked up if their runner still runs).
  void ingestCronRuns(services).catch(warn("cron runs were not read")).finally(resync);
  scheduler.intervals.push(
    setInterval(() => void ingestCronRuns(services).catch(warn("cron runs were not read")), INGEST_MS),
    setInterval(resync, RESYNC_MS),
  );
  scheduler.unsubscribe = services.events.subscribe((event) => {
    // A switch changes the release the timers run (server); another panel's edit changes the jobs.
    const relevant =
      (event.type === "slot.updated" && event.state === "live") || event.type === "app.updated" || event.type === "app.deleted";
    if (!relevant) return;
    // Every event of the window counts (a switch's `slot.updated` often follows an `app.updated`),
    // and each app is synced once after it.
    if (event.type === "slot.updated") changes.apps.add(event.appId);
    if (event.type === "app.deleted") changes.all = true;
    if (scheduler.pending) return;
    scheduler.pending = setTimeout(() => {
      scheduler.pending = null;
      const { apps, all } = changes;
      changes = { apps: new Set(), all: false };
      if (services.runtime.kind !== "systemd" || all) resync();
      else for (const appId of apps) void cronChanged(services, appId).catch(warn("cron timers were not synced"));
    }, 200);
  });
}

function stopTimersOnly(services: Services): Scheduler | undefined {
  const scheduler = schedulers.get(services);
  if (!scheduler) return undefined;
  for (const { cron } of scheduler.timers.values()) cron.stop();
  for (const interval of scheduler.intervals) clearInterval(interval);
  if (scheduler.pending) clearTimeout(scheduler.pending);
  scheduler.unsubscribe();
  schedulers.delete(services);
  return scheduler;
}

/** Stops firing runs, and the runs this panel started (each records itself as cancelled). */
export async function stopCronScheduler(services: Services): Promise<void> {
  stopTimersOnly(services);
  await stopLocalRuns(services);
  await ingestCronRuns(services).catch(() => {});
}
