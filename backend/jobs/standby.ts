import { and, eq, lt } from "drizzle-orm";
import { apps, slots } from "../db/schema/index.ts";
import type { Services } from "../services.ts";

/**
 * Stops warm standbys that have waited longer than their app's `standbyTimeoutMin`, to give the
 * memory back. A rollback to one of them then boots it again (start → health → switch).
 */
export async function stopIdleStandbys(services: Services, now = Date.now()): Promise<number> {
  const { db, runtime, events, log } = services;
  const rows = await db
    .select({ slot: slots, app: apps })
    .from(slots)
    .innerJoin(apps, eq(slots.appId, apps.id))
    .where(and(eq(slots.state, "standby"), lt(slots.updatedAt, new Date(now - 60_000))));
  let stopped = 0;
  for (const { slot, app } of rows) {
    if (app.standbyTimeoutMin === 0 || now - slot.updatedAt.getTime() < app.standbyTimeoutMin * 60_000) continue;
    await runtime.stop(app.name, slot.color, { graceMs: 10_000 });
    await db
      .update(slots)
      .set({ state: "stopped", updatedAt: new Date() })
      .where(and(eq(slots.id, slot.id), eq(slots.state, "standby")));
    await events.publish({
      type: "slot.updated",
      appId: app.id,
      app: app.name,
      color: slot.color,
      state: "stopped",
      releaseId: slot.releaseId,
    });
    log.info("stopped an idle standby", { app: app.name, color: slot.color, idleMinutes: app.standbyTimeoutMin });
    stopped++;
  }
  return stopped;
}
