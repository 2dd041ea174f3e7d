/**
 * After a crash or restart, make the rows agree with what really runs — and make what runs
 * serve. The proxy's live link is the authority on where traffic goes: a running slot it points
 * at is live, whatever the rows said. Interrupted jobs' intents say what else was in flight: a
 * slot being started that never took traffic is stopped, a prune is finished.
 */
import { killLeftover } from "../adapters/exec.ts";
import { joinPath, listDir, removeDir, removeRelease } from "../adapters/release-store.ts";
import { COLORS, type Color } from "../adapters/runtime/types.ts";
import { activeJobs, allApps, allSlots } from "../db/queries/jobs-state.ts";
import { findReleaseById } from "../db/queries/releases.ts";
import type { App, Job } from "../db/schema/index.ts";
import { decideRepair, type Intent } from "../domain/deploy-state.ts";
import type { Services } from "../services.ts";
import { reconcileWorkers } from "./formation.ts";
import { appPaths } from "./paths.ts";
import * as store from "./store.ts";

export interface ReconcileTally {
  adopted: number;
  stopped: number;
  removed: number;
  rerouted: number;
}

export async function reconcileSlots(services: Services, recovered: Job[] = []): Promise<ReconcileTally> {
  const { runtime, proxy, log } = services;
  const tally: ReconcileTally = { adopted: 0, stopped: 0, removed: 0, rerouted: 0 };
  const appRows = await allApps(services.db);
  const slotRows = await allSlots(services.db);
  const active = await activeJobs(services.db);
  const busy = new Set(active.filter((j) => j.status === "running").map((j) => j.appId));
  const intents = new Map<string, Intent[]>();
  const jobOf = new Map<Intent, Job>();
  for (const job of recovered) {
    const intent = job.intent as Intent | null;
    if (intent && "appId" in intent) {
      intents.set(intent.appId, [...(intents.get(intent.appId) ?? []), intent]);
      jobOf.set(intent, job);
    }
  }

  for (const app of appRows) {
    // Another panel's job is changing this app right now: its job owns the truth.
    if (busy.has(app.id)) continue;
    const own = slotRows.filter((s) => s.appId === app.id);
    const status = Object.fromEntries(
      await Promise.all(COLORS.map(async (c) => [c, await runtime.status(app.name, c)] as const)),
    ) as Record<Color, Awaited<ReturnType<typeof runtime.status>>>;
    const running = { blue: isUp(status.blue.state), green: isUp(status.green.state) };
    const recordedLive = own.find((s) => s.state === "live")?.color ?? null;
    const appIntents = intents.get(app.id) ?? [];
    const switching = appIntents.find((i) => i.step === "switch" || i.step === "revert") as { to: Color; from: Color | null } | undefined;
    const routed = proxy.enabled ? proxy.liveColor(app.name) : recordedLive;
    const repair = decideRepair({ routed, running, recordedLive, switching: switching ?? null });
    const live = repair.action === "down" ? null : repair.live;
    if (repair.action === "route" && proxy.enabled) {
      proxy.switchTo(app.name, repair.live);
      tally.rerouted++;
      log.warn("traffic pointed at a slot that was not running; moved it to the running one", { app: app.name, to: repair.live });
    }
    // A running slot that is neither live nor a kept standby was being started when the panel died.
    for (const color of COLORS) {
      if (!running[color] || color === live) continue;
      const row = own.find((s) => s.color === color);
      const startedByInterruptedJob = appIntents.some((i) => i.step === "start" && i.color === color);
      if (row?.state === "standby" && !startedByInterruptedJob) continue;
      if (row?.state === "live" && !startedByInterruptedJob) continue; // was live: keep it warm as the standby
      await runtime.stop(app.name, color, { graceMs: 5_000 });
      running[color] = false;
      tally.stopped++;
    }
    if (live) tally.adopted++;
    const releaseOf = { blue: running.blue ? status.blue.releaseId : null, green: running.green ? status.green.releaseId : null };
    // Traffic that moved without its switch recorded (the panel died in between) is recorded now,
    // as what the interrupted job was doing, so request metrics are attributed to the right slot.
    const job = switching ? jobOf.get(switching as Intent) : undefined;
    const kind = switching && "step" in switching && (switching as Intent).step === "revert" ? "auto-rollback" : switchKindOf(job?.kind);
    const { changed } = await store.recordTruth(services, app, { live, running, releaseOf, kind, jobId: job?.id ?? null });
    if (changed > 0) log.info("slots reconciled with what runs", { app: app.name, live });
    // A worker problem is the app's, not the start-up's: logged, and the next deploy or start sets them right.
    await reconcileWorkers(services, app, live).catch((error: unknown) =>
      log.warn("workers were not reconciled", { app: app.name, error }),
    );
    for (const intent of appIntents) if (intent.step === "retain") await finishPrune(services, intent.releaseIds);
  }

  await cleanBuilds(services, appRows, new Set(active.map((j) => j.id)));
  const known = new Set(appRows.map((a) => a.name));
  const orphans = new Set((await runtime.list()).filter((s) => !known.has(s.app)).map((s) => s.app));
  for (const name of orphans) {
    await runtime.remove(name);
    tally.removed++;
  }
  return tally;
}

function switchKindOf(kind: string | undefined): "deploy" | "rollback" | "restart" {
  return kind === "rollback" || kind === "restart" ? kind : "deploy";
}

function isUp(state: string): boolean {
  return state === "running" || state === "restarting";
}

async function finishPrune(services: Services, releaseIds: string[]): Promise<void> {
  for (const id of releaseIds) {
    const release = await findReleaseById(services.db, id);
    if (!release || release.pruned || release.status === "live" || release.status === "standby") continue;
    removeRelease(release.dir, release.envFile);
    await store.markPruned(services, id);
  }
}

/** Build dirs (and build processes) of jobs that are no longer running are leftovers of a crash. */
async function cleanBuilds(services: Services, apps: App[], active: Set<string>): Promise<void> {
  for (const app of apps) {
    const dir = appPaths(services.config.dataDir, app.name).builds;
    for (const entry of listDir(dir)) {
      const jobId = entry.replace(/\.pid$/, "");
      if (active.has(jobId)) continue;
      if (entry.endsWith(".pid")) {
        if (killLeftover(joinPath(dir, entry)))
          services.log.warn("killed a build left running by a stopped panel", { app: app.name, jobId });
      } else {
        removeDir(joinPath(dir, entry));
      }
    }
  }
}
