/**
 * The formation in practice: which workers a slot runs and with what, what runs now (for
 * `GET /apps/:app/processes`), and the jobs that change it. Every change to running processes is
 * a job, so it is logged and waits its turn behind a deploy of the same app.
 */
import { join } from "node:path";
import { writeEnvSnapshot } from "../adapters/release-store.ts";
import { COLORS, type Color, type InstanceStatus, type ProcessStatus, type WorkersSpec } from "../adapters/runtime/types.ts";
import { readProcessUsage } from "../adapters/sampler/process-usage.ts";
import type { AppProcess, ProcessesResponse, ProcessInstance } from "../contract/api.ts";
import { appSlots, listReleases, productionEnvironment } from "../db/queries/apps.ts";
import { readEnvVars } from "../db/queries/env.ts";
import { formationRows } from "../db/queries/processes.ts";
import { findRelease } from "../db/queries/releases.ts";
import type { App, Job, Release, Slot } from "../db/schema/index.ts";
import { startArgv } from "../domain/detect.ts";
import { renderEnvFile } from "../domain/env.ts";
import {
  type DesiredProcess,
  desiredFormation,
  limitsReport,
  releaseProcessTypes,
  runnableWorkers,
  stopGraceSeconds,
  WEB,
} from "../domain/formation.ts";
import type { Services } from "../services.ts";
import { appPaths } from "./paths.ts";
import { releaseProcessEnv } from "./process-env.ts";
import { knownSecrets } from "./secrets.ts";
import { attachVolumes } from "./volumes.ts";

/** The shell text of a release's web process, as its Procfile or settings say it (without the `cd`/`exec` it runs with). */
export function webCommand(release: Release): string {
  const argv = release.startCommand;
  if (argv.length !== 3 || argv[0] !== "/bin/sh" || argv[1] !== "-c") return argv.join(" ");
  return (argv[2] as string).replace(/^cd \S+ && /, "").replace(/^exec /, "");
}

/** Where the release's processes run, relative to its files (a monorepo's package). */
function releaseRootDir(release: Release): string | null {
  const dir = release.details?.rootDir;
  return typeof dir === "string" && dir !== "" ? dir : null;
}

/** The release's process types with the app's counts. */
export async function releaseFormation(services: Services, app: App, release: Release): Promise<DesiredProcess[]> {
  const rows = await formationRows(services.db, app.id);
  return desiredFormation({ details: release.details, webCommand: webCommand(release) }, rows);
}

/** The live slot and its release, or nulls when nothing is live. */
export async function liveSlot(services: Services, app: App): Promise<{ slot: Slot | null; release: Release | null }> {
  const slot = (await appSlots(services.db, app.id)).find((s) => s.state === "live") ?? null;
  const release = slot?.releaseId ? await findRelease(services.db, app.id, slot.releaseId) : null;
  return { slot, release };
}

/**
 * The process types a formation may name: the live release's, else the newest release's; null
 * before the first release, when nothing is known yet and any well-formed type may be set ahead.
 */
export async function knownProcessTypes(services: Services, app: App): Promise<string[] | null> {
  const { release } = await liveSlot(services, app);
  if (release) return releaseProcessTypes(release.details);
  const [newest] = await listReleases(services.db, app.id, 1);
  return newest ? releaseProcessTypes(newest.details) : null;
}

/**
 * Starts the slot's workers as the formation says (types it no longer lists stop); with none to
 * run, the slot's workers stop. Returns what was started, for the log.
 */
export async function applySlotWorkers(
  services: Services,
  app: App,
  color: Color,
  release: Release,
  log: (line: string, stream?: "stdout" | "stderr" | "system") => void,
): Promise<Array<{ type: string; instances: number }>> {
  const workers = runnableWorkers(await releaseFormation(services, app, release));
  if (workers.length === 0) {
    await services.runtime.stopWorkers(app.name, color, { graceMs: stopGraceSeconds(app) * 1000 });
    return [];
  }
  await services.runtime.startWorkers(await workersSpec(services, app, color, release, workers, log));
  return workers.map(({ type, instances }) => ({ type, instances }));
}

async function workersSpec(
  services: Services,
  app: App,
  color: Color,
  release: Release,
  workers: Array<{ type: string; command: string; instances: number }>,
  log: (line: string, stream?: "stderr") => void,
): Promise<WorkersSpec> {
  const paths = appPaths(services.config.dataDir, app.name);
  const volumes = attachVolumes(services, app, release.dir, log);
  // The release's env as the web gets it, without a port: workers take no traffic.
  const envFile = join(paths.envDir, `slot-${color}-workers.env`);
  const vars = Object.entries(releaseProcessEnv(services, app, release)).map(([key, value]) => ({ key, value }));
  writeEnvSnapshot(envFile, renderEnvFile(vars));
  const current = await readEnvVars(services.db, services.masterKey, release.environmentId);
  return {
    app: app.name,
    color,
    releaseId: release.id,
    releaseDir: release.dir,
    envFile,
    secrets: await knownSecrets(services, app.id, current),
    volumes: volumes.map(({ dir, mountAt }) => ({ dir, mountAt })),
    memoryMax: app.memoryMax,
    cpuQuota: app.cpuQuota,
    ioWeight: app.ioWeight,
    graceSeconds: stopGraceSeconds(app),
    // Run as the web is: in the release's root directory, exec'd when simple so signals reach it.
    processes: workers.map(({ type, command, instances }) => ({ type, command: startArgv(command, releaseRootDir(release)), instances })),
  };
}

/** Says which workers run where, in a job log's words. */
export function workersLine(workers: Array<{ type: string; instances: number }>): string {
  return workers.map((w) => `${w.instances} × ${w.type}`).join(", ");
}

const unitState = (s: InstanceStatus["state"]): ProcessInstance["state"] => s;

/** What runs of each process type now, with the formation, the live release and each instance's figures. */
export async function processesReport(services: Services, app: App): Promise<ProcessesResponse> {
  const { slot, release } = await liveSlot(services, app);
  const rows = await formationRows(services.db, app.id);
  const running: ProcessStatus[] = slot ? await services.runtime.processes(app.name, slot.color).catch(() => []) : [];
  if (slot && !running.some((p) => p.type === WEB)) {
    // A runtime that reports no per-type list still knows the web process of the slot.
    const status = await services.runtime.status(app.name, slot.color);
    running.unshift({
      type: WEB,
      releaseId: status.releaseId,
      instances: status.instances ?? [
        {
          index: 1,
          state: status.state,
          pid: status.pid,
          port: status.port,
          restarts: status.restarts,
          startedAt: status.startedAt,
          lastExit: status.lastExit,
        },
      ],
    });
  }
  const desired: DesiredProcess[] = release
    ? desiredFormation({ details: release.details, webCommand: webCommand(release) }, rows)
    : rows.map((r) => ({ type: r.type, command: null, instances: r.instances, stopped: r.stopped }));
  // Types that still run (or have a row) but the live release no longer declares.
  for (const p of running) {
    if (!desired.some((d) => d.type === p.type))
      desired.push({ type: p.type, command: null, instances: p.instances.length, stopped: false });
  }
  const pids = running.flatMap((p) => p.instances.map((i) => i.pid)).filter((pid): pid is number => pid !== null);
  const usage = await readProcessUsage(pids);
  const processes: AppProcess[] = desired.map((d) => {
    const now = running.find((p) => p.type === d.type);
    const units: ProcessInstance[] = (now?.instances ?? []).map((i) => {
      const figures = i.pid !== null && i.state === "running" ? usage.get(i.pid) : undefined;
      return {
        index: i.index,
        state: unitState(i.state),
        pid: i.pid,
        port: i.port,
        restarts: i.restarts,
        startedAt: i.startedAt ? i.startedAt.toISOString() : null,
        lastExit: i.lastExit ? { code: i.lastExit.code, signal: i.lastExit.signal, at: i.lastExit.at.toISOString() } : null,
        cpuPercent: figures?.cpuPercent ?? null,
        rssBytes: figures?.rssBytes ?? null,
      };
    });
    return {
      type: d.type,
      command: d.command,
      instances: d.instances,
      stopped: d.stopped,
      color: slot ? slot.color : null,
      releaseId: now?.releaseId ?? release?.id ?? null,
      running: units.filter((u) => u.state === "running").length,
      units,
    };
  });
  return { processes, limits: limitsReport(app, services.runtime.kind) };
}

/**
 * How many instances of each process type the live slot runs now (running or restarting), from
 * the runtime's report; null when nothing is live or the runtime cannot say.
 */
export async function liveRunningCounts(services: Services, app: App): Promise<Record<string, number> | null> {
  const { slot } = await liveSlot(services, app);
  if (!slot) return null;
  try {
    const running = await services.runtime.processes(app.name, slot.color);
    const counts: Record<string, number> = {};
    for (const p of running) counts[p.type] = p.instances.filter((i) => i.state === "running" || i.state === "restarting").length;
    if (counts[WEB] === undefined) {
      const status = await services.runtime.status(app.name, slot.color);
      counts[WEB] = status.instances
        ? status.instances.filter((i) => i.state === "running" || i.state === "restarting").length
        : status.state === "running" || status.state === "restarting"
          ? 1
          : 0;
    }
    return counts;
  } catch {
    return null;
  }
}

/** Who asked, for the job row. */
export interface Actor {
  userId?: string | null;
  trigger?: string;
}

/** The zero-downtime restart: the live release boots again blue-green (with the formation's web count). */
export function enqueueRestart(services: Services, app: App, actor: Actor): Promise<Job> {
  return services.orchestrator.enqueue({ kind: "restart", appId: app.id, createdBy: actor.userId, trigger: actor.trigger });
}

export type ScaleAction = { action: "apply" } | { action: "restart" | "stop" | "start"; type: string };

/** Changes the live slot's workers in place (see kinds/scale.ts). */
export function enqueueScale(services: Services, app: App, what: ScaleAction, actor: Actor): Promise<Job> {
  return services.orchestrator.enqueue({ kind: "scale", appId: app.id, params: what, createdBy: actor.userId, trigger: actor.trigger });
}

/** The env of the app's production environment is read through here only to mask job logs. */
export async function currentSecrets(services: Services, app: App): Promise<string[]> {
  const current = await readEnvVars(services.db, services.masterKey, (await productionEnvironment(services.db, app.id)).id);
  return knownSecrets(services, app.id, current);
}

/**
 * At start-up, after the slots are reconciled: workers run in the live slot only. A panel that
 * died between a switch and its workers step left them in the old slot; they move now. Workers
 * already running as the formation says are left alone.
 */
export async function reconcileWorkers(services: Services, app: App, live: Color | null): Promise<void> {
  const { runtime } = services;
  const up = (p: ProcessStatus) => p.instances.filter((i) => i.state === "running" || i.state === "restarting").length;
  for (const color of COLORS) {
    if (color === live) continue;
    const stray = (await runtime.processes(app.name, color)).filter((p) => p.type !== WEB && up(p) > 0);
    if (stray.length > 0) await runtime.stopWorkers(app.name, color, { graceMs: stopGraceSeconds(app) * 1000 });
  }
  if (!live) return;
  const slot = (await appSlots(services.db, app.id)).find((s) => s.color === live);
  const release = slot?.releaseId ? await findRelease(services.db, app.id, slot.releaseId) : null;
  if (!release || release.pruned) return;
  const wanted = runnableWorkers(await releaseFormation(services, app, release));
  const running = (await runtime.processes(app.name, live)).filter((p) => p.type !== WEB);
  const agrees =
    wanted.every((w) => running.some((p) => p.type === w.type && p.releaseId === release.id && up(p) === w.instances)) &&
    running.every((p) => up(p) === 0 || wanted.some((w) => w.type === p.type));
  if (agrees) return;
  await applySlotWorkers(services, app, live, release, () => {});
  services.log.info("workers reconciled with the live slot", { app: app.name, live, workers: workersLine(wanted) });
}
