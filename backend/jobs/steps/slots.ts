import { and, eq } from "drizzle-orm";
import type { Color } from "../../adapters/runtime/types.ts";
import { type App, type AppStatus, apps, type SlotState, slots } from "../../db/schema/index.ts";
import type { JobContext } from "../orchestrator.ts";

export async function setAppStatus(ctx: Pick<JobContext, "services">, app: App, status: AppStatus): Promise<void> {
  await ctx.services.db.update(apps).set({ status, updatedAt: new Date() }).where(eq(apps.id, app.id));
  await ctx.services.events.publish({ type: "app.updated", appId: app.id, app: app.name, status });
}

export async function setSlot(
  ctx: Pick<JobContext, "services">,
  app: App,
  color: Color,
  state: SlotState,
  releaseId: string | null,
): Promise<void> {
  await ctx.services.db
    .update(slots)
    .set({ state, releaseId, updatedAt: new Date(), ...(state === "starting" ? { startedAt: new Date() } : {}) })
    .where(and(eq(slots.appId, app.id), eq(slots.color, color)));
  await ctx.services.events.publish({ type: "slot.updated", appId: app.id, app: app.name, color, state, releaseId });
}
