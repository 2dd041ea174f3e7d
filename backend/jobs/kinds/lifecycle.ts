import { and, eq } from "drizzle-orm";
import { appSlots, findAppById } from "../../db/queries/apps.ts";
import { apps } from "../../db/schema/apps.ts";
import { type App, releases } from "../../db/schema/index.ts";
import { type JobContext, JobFailed, type JobHandler } from "../orchestrator.ts";
import { setAppStatus, setSlot } from "../steps/slots.ts";
import { startSlot, waitHealthy } from "../steps/start.ts";
import { GO_LIVE_STEPS, goLive } from "../steps/switch.ts";

async function requireApp(ctx: JobContext): Promise<App> {
  const app = ctx.job.appId ? await findAppById(ctx.services.db, ctx.job.appId) : null;
  if (!app) throw new JobFailed("The app no longer exists.");
  return app;
}

/** Stops both slots; the app stays configured and can be deployed or started again. */
export const stopHandler: JobHandler = {
  steps: () => ["stop"],
  async run(ctx) {
    const app = await requireApp(ctx);
    await ctx.step("stop", async () => {
      for (const slot of await appSlots(ctx.services.db, app.id)) {
        await ctx.services.runtime.stop(app.name, slot.color, { graceMs: 10_000 });
        if (slot.state !== "empty") await setSlot(ctx, app, slot.color, "stopped", slot.releaseId);
        ctx.log(`Stopped the ${slot.color} slot.`);
      }
      await setAppStatus(ctx, app, "stopped");
    });
  },
};

/** Restarts the live release in place (or starts the last live one after a stop). */
export const restartHandler: JobHandler = {
  steps: () => ["start", "health"],
  async run(ctx) {
    const app = await requireApp(ctx);
    const slotRows = await appSlots(ctx.services.db, app.id);
    const slot = slotRows.find((s) => s.state === "live") ?? slotRows.find((s) => s.releaseId && s.state === "stopped");
    if (!slot?.releaseId) throw new JobFailed("Nothing to restart: the app has no release running or stopped.");
    const [release] = await ctx.services.db
      .select()
      .from(releases)
      .where(and(eq(releases.id, slot.releaseId)));
    if (!release || release.pruned) throw new JobFailed("The release of that slot is no longer on disk; deploy again.");
    await ctx.step("start", () => startSlot(ctx, app, release, slot));
    await ctx.step("health", () => waitHealthy(ctx, app, slot));
    await setSlot(ctx, app, slot.color, "live", release.id);
    await setAppStatus(ctx, app, "live");
  },
};

/**
 * Puts a kept release back. When it is the warm standby this is only the switch; otherwise it
 * boots in the idle slot first (start → health → switch), as a deploy does.
 */
export const rollbackHandler: JobHandler = {
  steps: () => GO_LIVE_STEPS,
  async run(ctx) {
    const app = await requireApp(ctx);
    const releaseId = String(ctx.job.params.releaseId ?? "");
    const [release] = await ctx.services.db
      .select()
      .from(releases)
      .where(and(eq(releases.id, releaseId), eq(releases.appId, app.id)));
    if (!release) throw new JobFailed("That release does not belong to this app.");
    if (release.pruned) throw new JobFailed(`v${release.number} was pruned; only the last kept releases can be put back.`);
    ctx.log(`Rolling back to v${release.number} (${release.commitSha.slice(0, 12)}).`);
    const { color, warm, switchMs } = await goLive(ctx, app, release);
    return { releaseId: release.id, color, warm, switchMs };
  },
};

/**
 * Applies the app's domains to nginx: a validated file write, `nginx -t`, a reload confirmed by
 * a request. When nginx refuses, the previous file keeps serving and the domains are put back.
 */
export const configureProxyHandler: JobHandler = {
  steps: () => ["proxy"],
  async run(ctx) {
    const app = await requireApp(ctx);
    const { proxy, db, events } = ctx.services;
    await ctx.step("proxy", async () => {
      if (!proxy.enabled) {
        ctx.log(`No nginx to configure (${proxy.problem ?? "the proxy is off"}); the domains apply once it runs.`);
        return;
      }
      const names = app.domains.length ? app.domains.join(", ") : "no extra domains";
      try {
        await proxy.configureApp(app.name, { serverNames: app.domains, preview: true });
      } catch (error) {
        const previous = Array.isArray(ctx.job.params.previousDomains) ? (ctx.job.params.previousDomains as string[]) : [];
        await db.update(apps).set({ domains: previous, updatedAt: new Date() }).where(eq(apps.id, app.id));
        await events.publish({ type: "app.updated", appId: app.id, app: app.name });
        throw new JobFailed(
          `nginx refused the configuration for ${names}, so the previous configuration keeps serving and the domains were put back to ${previous.length ? previous.join(", ") : "none"}: ${(error as Error).message}`,
        );
      }
      ctx.log(`nginx routes ${names} to ${app.name} (and ${app.name}.localhost).`);
    });
    return { domains: app.domains };
  },
};
