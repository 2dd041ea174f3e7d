import { readFile, rm } from "node:fs/promises";
import { and, eq, inArray, ne } from "drizzle-orm";
import { type Color, otherColor } from "../../adapters/runtime/types.ts";
import { appSlots, findAppById, listReleases } from "../../db/queries/apps.ts";
import { type App, jobs, type Release, releases, type Slot, slots } from "../../db/schema/index.ts";
import { RETAINED_RELEASES, rollbackEligible } from "../../domain/retention.ts";
import { DEFAULT_WATCH, judge, tallyAccessLog } from "../../domain/watch.ts";
import { type JobContext, JobFailed } from "../orchestrator.ts";
import { setAppStatus, setSlot } from "./slots.ts";
import { startSlot, waitHealthy } from "./start.ts";

export const GO_LIVE_STEPS = ["start", "health", "switch", "drain", "watch", "retain"];

/**
 * start → health → switch → drain → watch → retain for a release: the idle slot runs it; only
 * once it is healthy does traffic move (one symlink replacement); the old slot lets its
 * connections go and stays warm as the standby. When the release already runs warm in the
 * standby slot, start and health are skipped: that rollback is only a switch.
 */
export async function goLive(ctx: JobContext, app: App, release: Release): Promise<{ color: Color; warm: boolean; switchMs: number }> {
  const { db, runtime } = ctx.services;
  const current = await appSlots(ctx.services.db, app.id);
  const live = current.find((s) => s.state === "live") ?? null;
  const standby = current.find((s) => s.state === "standby" && s.releaseId === release.id) ?? null;
  const warm = standby !== null && (await runtime.status(app.name, standby.color)).state === "running";
  const slot = warm ? (standby as Slot) : (current.find((s) => s.color === (live ? otherColor(live.color) : "blue")) as Slot);
  if (!slot) throw new Error(`app ${app.name} has no idle slot`);
  let started = false;
  let switchMs = 0;
  try {
    if (warm) {
      await ctx.skip("start", `v${release.number} is already running warm in the ${slot.color} slot`);
      await ctx.skip("health", "the warm standby was healthy when it was live");
    } else {
      await ctx.step("start", async () => {
        await startSlot(ctx, app, release, slot);
        started = true;
      });
      await ctx.step("health", () => waitHealthy(ctx, app, slot));
    }
    switchMs = await ctx.step("switch", () => switchTraffic(ctx, app, release, slot, live));
  } catch (error) {
    if (started) {
      ctx.log(`Stopping the ${slot.color} slot; the live slot keeps serving.`);
      await runtime.stop(app.name, slot.color, { graceMs: 5_000 }).catch(() => {});
      await setSlot(ctx, app, slot.color, "failed", release.id);
    }
    if (!ctx.signal.aborted) {
      await db
        .update(releases)
        .set({ status: "failed" })
        .where(and(eq(releases.id, release.id), eq(releases.healthy, false)));
    }
    throw error;
  }
  if (live) await ctx.step("drain", () => drain(ctx, app, live));
  else await ctx.skip("drain", "there was no previous slot");
  if (live && app.watchSeconds > 0) await ctx.step("watch", () => watch(ctx, app, release, slot, live));
  else await ctx.skip("watch", live ? "the watch is turned off for this app" : "nothing to compare with or fall back to");
  await ctx.step("retain", () => retain(ctx, app));
  return { color: slot.color, warm, switchMs };
}

/** Moves traffic and records it; resolves with the ms from health passed to traffic confirmed moved. */
async function switchTraffic(ctx: JobContext, app: App, release: Release, slot: Slot, live: Slot | null): Promise<number> {
  const { db, proxy } = ctx.services;
  const startedAt = performance.now();
  if (proxy.enabled) {
    await proxy.configureApp(app.name, { serverNames: app.domains, preview: true });
    proxy.switchTo(app.name, slot.color);
    try {
      await confirmThroughProxy(ctx, app);
    } catch (error) {
      if (live) proxy.switchTo(app.name, live.color);
      throw error;
    }
  }
  const switchMs = performance.now() - startedAt;
  await db.transaction(async (tx) => {
    if (live) {
      await tx.update(slots).set({ state: "standby", updatedAt: new Date() }).where(eq(slots.id, live.id));
      if (live.releaseId && live.releaseId !== release.id)
        await tx.update(releases).set({ status: "standby" }).where(eq(releases.id, live.releaseId));
    }
    await tx.update(slots).set({ state: "live", releaseId: release.id, updatedAt: new Date() }).where(eq(slots.id, slot.id));
    await tx
      .update(releases)
      .set({ status: "retired" })
      .where(
        and(
          eq(releases.appId, app.id),
          inArray(releases.status, ["live", "standby"]),
          ne(releases.id, release.id),
          live?.releaseId ? ne(releases.id, live.releaseId) : undefined,
        ),
      );
    await tx.update(releases).set({ status: "live", healthy: true, liveAt: new Date() }).where(eq(releases.id, release.id));
  });
  ctx.log(
    `Traffic moved to the ${slot.color} slot (v${release.number}) in ${switchMs.toFixed(1)} ms` +
      (live ? `; ${live.color} is the warm standby.` : "."),
  );
  await setSlot(ctx, app, slot.color, "live", release.id);
  if (live) await setSlot(ctx, app, live.color, "standby", live.releaseId);
  await setAppStatus(ctx, app, "live");
  await ctx.services.events.publish({ type: "release.updated", appId: app.id, app: app.name, releaseId: release.id, status: "live" });
  return switchMs;
}

/** One request through nginx to the health path must answer 2xx/3xx, or the switch is undone. */
async function confirmThroughProxy(ctx: JobContext, app: App): Promise<void> {
  const { proxy } = ctx.services;
  const url = `${proxy.appUrl(app.name)}${app.healthPath}`;
  const target = new URL(url);
  try {
    const res = await fetch(`http://127.0.0.1:${target.port || 80}${target.pathname}${target.search}`, {
      headers: { host: target.host },
      redirect: "manual",
      signal: AbortSignal.timeout(5_000),
    });
    await res.body?.cancel();
    if (res.status >= 200 && res.status < 400) return;
    throw new JobFailed(`Through nginx, ${url} answered ${res.status}; traffic was moved back.`);
  } catch (error) {
    if (error instanceof JobFailed) throw error;
    throw new JobFailed(`Through nginx, ${url} did not answer (${(error as Error).message}); traffic was moved back.`);
  }
}

/** The old slot lets nginx's kept-alive connections go (they reconnect to the new slot) and finishes in-flight requests. */
async function drain(ctx: JobContext, app: App, old: Slot): Promise<void> {
  const left = await ctx.services.runtime.drain(app.name, old.color, { timeoutMs: app.drainSeconds * 1000 });
  ctx.log(
    left === 0
      ? `The ${old.color} slot has no connections left; it stays warm as the standby.`
      : `${left} connection(s) still open on ${old.color} after ${app.drainSeconds} s; they may finish there.`,
  );
}

/**
 * For `watchSeconds` after the switch, compare the share of 5xx answers through nginx with the
 * same span before it; past the threshold, move traffic back to the standby and say why.
 * A job queued for the app (a rollback, a newer deploy) ends the watch early.
 */
async function watch(ctx: JobContext, app: App, release: Release, slot: Slot, old: Slot): Promise<void> {
  const { proxy, db } = ctx.services;
  if (!proxy.enabled) {
    ctx.log("No proxy, so no access log to watch.");
    return;
  }
  const switchedAt = Date.now();
  const windowMs = app.watchSeconds * 1000;
  const logFile = proxy.paths.accessLog(app.name);
  const read = async () => readFile(logFile, "utf8").catch(() => "");
  ctx.log(
    `Watching 5xx answers for ${app.watchSeconds} s (roll back above +${DEFAULT_WATCH.threshold * 100}% with at least ${DEFAULT_WATCH.minRequests} requests).`,
  );
  while (Date.now() - switchedAt < windowMs) {
    ctx.throwIfCancelled();
    await Bun.sleep(Math.min(1000, windowMs / 4));
    const waiting = await db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.appId, app.id), eq(jobs.status, "queued")))
      .limit(1);
    const text = await read();
    const after = tallyAccessLog(text, switchedAt);
    const before = tallyBefore(text, switchedAt, windowMs);
    const verdict = judge(before, after, DEFAULT_WATCH);
    if (verdict.rollback) {
      proxy.switchTo(app.name, old.color);
      await ctx.services.runtime.drain(app.name, slot.color, { timeoutMs: 5_000 }).catch(() => 0);
      const details = {
        autoRolledBack: true,
        reason: verdict.reason,
        before: verdict.before,
        after: verdict.after,
        at: new Date().toISOString(),
      };
      await db.transaction(async (tx) => {
        await tx.update(slots).set({ state: "live", updatedAt: new Date() }).where(eq(slots.id, old.id));
        await tx.update(slots).set({ state: "stopped", updatedAt: new Date() }).where(eq(slots.id, slot.id));
        await tx.update(releases).set({ status: "rolled_back", details }).where(eq(releases.id, release.id));
        if (old.releaseId) await tx.update(releases).set({ status: "live" }).where(eq(releases.id, old.releaseId));
      });
      await setSlot(ctx, app, old.color, "live", old.releaseId);
      // Not a rollback target, so not kept warm either.
      await ctx.services.runtime.stop(app.name, slot.color, { graceMs: 5_000 }).catch(() => {});
      await setSlot(ctx, app, slot.color, "stopped", release.id);
      await ctx.services.events.publish({
        type: "release.updated",
        appId: app.id,
        app: app.name,
        releaseId: release.id,
        status: "rolled_back",
      });
      throw new JobFailed(`Rolled back automatically to the ${old.color} slot: ${verdict.reason}.`);
    }
    if (waiting.length > 0) {
      ctx.log(`Watch ended early: another job for ${app.name} is waiting. ${verdict.reason}.`);
      return;
    }
  }
  const final = judge(tallyBefore(await read(), switchedAt, windowMs), tallyAccessLog(await read(), switchedAt), DEFAULT_WATCH);
  ctx.log(`Watch passed: ${final.reason}.`);
}

function tallyBefore(text: string, switchedAt: number, windowMs: number) {
  const lines = text.split("\n").filter((line) => {
    const m = /"msec":(\d+(?:\.\d+)?)/.exec(line);
    const at = m ? Number(m[1]) * 1000 : 0;
    return at >= switchedAt - windowMs && at < switchedAt;
  });
  return tallyAccessLog(lines.join("\n"));
}

/**
 * Keeps the newest RETAINED_RELEASES good releases (and pinned ones) on disk; older release
 * dirs and env snapshots are removed. Never the live or standby one.
 */
export async function retain(ctx: JobContext, app: App): Promise<void> {
  const { db } = ctx.services;
  const fresh = (await findAppById(db, app.id)) ?? app;
  const rows = await listReleases(db, fresh.id, 1000);
  const inUse = new Set((await appSlots(db, fresh.id)).map((s) => s.releaseId).filter(Boolean) as string[]);
  const keep = new Set(rollbackEligible(rows).map((r) => r.id));
  const prune = rows.filter(
    (r) => !r.pruned && !keep.has(r.id) && !r.pinned && !inUse.has(r.id) && r.status !== "live" && r.status !== "standby",
  );
  for (const r of prune) {
    await rm(r.dir, { recursive: true, force: true });
    await rm(r.envFile, { force: true });
    await db.update(releases).set({ pruned: true }).where(eq(releases.id, r.id));
  }
  ctx.log(
    prune.length
      ? `Pruned ${prune.map((r) => `v${r.number}`).join(", ")}; kept the last ${RETAINED_RELEASES} good releases.`
      : "Nothing to prune.",
  );
}
