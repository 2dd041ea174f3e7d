/**
 * Watches what runs between jobs: a live or standby slot whose process crash-loops (its
 * supervisor gave up, or systemd marked it failed) becomes `crashed`, with its last exits and an
 * event; a warm standby idle past its app's timeout is stopped to give the memory back.
 */
import { and, eq, inArray } from "drizzle-orm";
import { apps, jobs, slots } from "../db/schema/index.ts";
import type { Services } from "../services.ts";
import { notifySlotStopped } from "./notification-sources.ts";
import * as store from "./store.ts";

export async function checkSlots(services: Services, now = Date.now()): Promise<{ crashed: number; stopped: number }> {
  const { db, runtime, log } = services;
  const rows = await db
    .select({ slot: slots, app: apps })
    .from(slots)
    .innerJoin(apps, eq(slots.appId, apps.id))
    .where(inArray(slots.state, ["live", "standby"]));
  const busy = new Set(
    (
      await db
        .select({ appId: jobs.appId })
        .from(jobs)
        .where(and(eq(jobs.status, "running")))
    ).map((r) => r.appId),
  );
  const tally = { crashed: 0, stopped: 0 };
  for (const { slot, app } of rows) {
    if (busy.has(app.id)) continue;
    const status = await runtime.status(app.name, slot.color);
    if (status.state === "crashed" || status.state === "stopped") {
      const exits = status.exits?.length
        ? status.exits
        : status.lastExit
          ? [{ code: status.lastExit.code, signal: status.lastExit.signal, at: status.lastExit.at.toISOString() }]
          : [];
      if (await store.recordCrash(services, app, slot.color, exits)) {
        tally.crashed++;
        await notifySlotStopped(services, {
          app,
          color: slot.color,
          wasLive: slot.state === "live",
          state: status.state,
          exits,
          releaseId: slot.releaseId,
        });
        log.warn("a slot's process is no longer running", { app: app.name, color: slot.color, was: slot.state, exits: exits.slice(-3) });
      }
      continue;
    }
    if (
      slot.state === "standby" &&
      app.standbyTimeoutMin > 0 &&
      now - slot.updatedAt.getTime() >= Math.max(60_000, app.standbyTimeoutMin * 60_000)
    ) {
      await runtime.stop(app.name, slot.color, { graceMs: 10_000 });
      await store.moveSlot(services, app, slot.color, "stop");
      log.info("stopped an idle standby", { app: app.name, color: slot.color, idleMinutes: app.standbyTimeoutMin });
      tally.stopped++;
    }
  }
  return tally;
}
