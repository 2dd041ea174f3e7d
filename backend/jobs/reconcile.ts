import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { eq, inArray } from "drizzle-orm";
import { killLeftover } from "../adapters/exec.ts";
import { apps, jobs, slots } from "../db/schema/index.ts";
import type { Services } from "../services.ts";
import { appPaths } from "./steps/paths.ts";

/**
 * After a restart, make the database agree with what really runs: slots that were starting
 * belong to a job that died (stop them); live or standby slots whose process is gone are
 * stopped; processes of apps that no longer exist are removed.
 */
export async function reconcileSlots(services: Services): Promise<{ adopted: number; stopped: number; removed: number }> {
  const { db, runtime, log } = services;
  const tally = { adopted: 0, stopped: 0, removed: 0 };
  const appRows = await db.select().from(apps);
  const slotRows = appRows.length
    ? await db
        .select()
        .from(slots)
        .where(
          inArray(
            slots.appId,
            appRows.map((a) => a.id),
          ),
        )
    : [];
  for (const slot of slotRows) {
    const app = appRows.find((a) => a.id === slot.appId);
    if (!app) continue;
    const status = await runtime.status(app.name, slot.color);
    const alive = status.state === "running" || status.state === "restarting";
    if (slot.state === "starting" || slot.state === "draining") {
      if (alive) await runtime.stop(app.name, slot.color, { graceMs: 5_000 });
      await db.update(slots).set({ state: "stopped", updatedAt: new Date() }).where(eq(slots.id, slot.id));
      tally.stopped++;
    } else if (slot.state === "live" || slot.state === "standby") {
      if (alive) {
        tally.adopted++;
      } else {
        await db.update(slots).set({ state: "stopped", updatedAt: new Date() }).where(eq(slots.id, slot.id));
        tally.stopped++;
        log.warn("slot found not running at start-up", { app: app.name, color: slot.color, was: slot.state });
      }
    } else if (alive) {
      await runtime.stop(app.name, slot.color, { graceMs: 5_000 });
      tally.stopped++;
    }
  }
  for (const app of appRows) {
    const own = await db.select().from(slots).where(eq(slots.appId, app.id));
    const live = own.some((s) => s.state === "live");
    const status = live ? "live" : app.status === "live" || app.status === "building" ? "stopped" : app.status;
    if (status !== app.status) await db.update(apps).set({ status, updatedAt: new Date() }).where(eq(apps.id, app.id));
  }
  await cleanBuilds(
    services,
    appRows.map((a) => a.name),
  );
  const known = new Set(appRows.map((a) => a.name));
  const orphans = new Set((await runtime.list()).filter((s) => !known.has(s.app)).map((s) => s.app));
  for (const name of orphans) {
    await runtime.remove(name);
    tally.removed++;
  }
  return tally;
}

/** Build dirs (and build processes) of jobs that are no longer running are leftovers of a crash. */
async function cleanBuilds(services: Services, names: string[]): Promise<void> {
  const { db, config, log } = services;
  const active = new Set(
    (
      await db
        .select({ id: jobs.id })
        .from(jobs)
        .where(inArray(jobs.status, ["queued", "running"]))
    ).map((j) => j.id),
  );
  for (const name of names) {
    const dir = appPaths(config.dataDir, name).builds;
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const jobId = entry.replace(/\.pid$/, "");
      if (active.has(jobId)) continue;
      if (entry.endsWith(".pid")) {
        if (killLeftover(join(dir, entry))) log.warn("killed a build left running by a stopped panel", { app: name, jobId });
      } else {
        await rm(join(dir, entry), { recursive: true, force: true });
      }
    }
  }
}
