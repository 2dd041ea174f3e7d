/**
 * The panel's own blue and green slots, as the go-live steps see them: systemd units through the
 * panel host, traffic through nginx's panel.sock symlink. The old panel runs the job, so when the
 * new one fails, the old one is still there to take the traffic back.
 */
import type { PanelHost } from "../../adapters/panel.ts";
import type { Color } from "../../adapters/runtime/types.ts";
import { panelReleasesToPrune, watchVerdict } from "../../domain/panel-update.ts";
import type { JobContext } from "../orchestrator.ts";
import type { GoLive, Probe, SlotTarget, WatchLook } from "./types.ts";

export interface PanelGoLive extends GoLive {
  /** Why the traffic went back to the old panel, once it did. */
  reverted?: string;
}

const HEALTH_TIMEOUT_MS = 120_000;
const CONFIRM_TIMEOUT_MS = 10_000;

export function panelTarget(host: PanelHost, revision: string, from: string | null, watchSeconds: number): SlotTarget {
  let failedChecks = 0;
  const stopNew = async (ctx: JobContext, color: Color) => {
    await host.service("stop", color).catch((e: unknown) => ctx.log(`Could not stop the ${color} slot: ${(e as Error).message}`));
  };
  return {
    label: `Switchyard ${revision}`,
    health: { timeoutMs: HEALTH_TIMEOUT_MS, intervalMs: 500, successes: 1 },
    watchMs: watchSeconds * 1000,
    watchTickMs: 1_000,
    intent: () => null,

    async start(ctx, g) {
      host.pointSlot(g.to, revision);
      ctx.log(`Starting ${revision} in the ${g.to} panel slot`);
      await host.service("restart", g.to);
    },

    async unstart(ctx, g) {
      await stopNew(ctx, g.to);
    },

    async probe(_ctx, g): Promise<Probe> {
      const health = await host.health(g.to);
      if (health.ok && health.revision === revision) return { ok: true, detail: `the ${g.to} panel reports ${revision}` };
      const problem = health.ok ? `it reports revision ${health.revision}` : health.message;
      const state = await host.status(g.to);
      if (!state.active || state.restarts > 0) {
        return {
          ok: false,
          problem,
          dead: `The new version ${revision} did not become healthy: its process exited. ${from ?? "The running version"} keeps serving.`,
        };
      }
      return { ok: false, problem };
    },

    async route(_ctx, color) {
      host.switchTraffic(color);
    },

    async confirm(ctx, g) {
      const deadline = Date.now() + CONFIRM_TIMEOUT_MS;
      for (;;) {
        const through = await host.healthThroughProxy();
        if (through.ok && through.revision === revision) return null;
        if (Date.now() > deadline) {
          (g as PanelGoLive).reverted = `was not reachable through nginx (${through.message})`;
          return `The new version ${revision} was not reachable through nginx (${through.message})`;
        }
        ctx.throwIfCancelled();
        await Bun.sleep(100);
      }
    },

    async recordSwitch(ctx, g) {
      // Queued and new jobs are the new panel's from now on.
      ctx.services.orchestrator.handOver(true);
      await host.service("enable", g.to);
      if (g.from) await host.service("disable", g.from);
      await ctx.services.events.publish({ type: "panel.updated", revision, slot: g.to, reverted: false, reason: null });
    },

    async drain(ctx, g) {
      ctx.log(
        `nginx opens new connections to the ${g.to} panel; the ${g.from} panel finishes what it has in flight and stays up for the watch.`,
      );
    },

    async look(_ctx, g): Promise<WatchLook> {
      const [health, state] = await Promise.all([host.health(g.to), host.status(g.to)]);
      failedChecks = health.ok ? 0 : failedChecks + 1;
      const verdict = watchVerdict({ ...state, failedChecks });
      if (!verdict) return { revert: null, summary: `${revision} stayed healthy for ${watchSeconds} s` };
      const reason = `failed in its first ${watchSeconds} s: ${verdict}`;
      return { revert: { reason, details: { from, to: revision, reverted: true, reason } }, summary: reason };
    },

    async takeBack(ctx, g) {
      if (!g.from) return;
      host.switchTraffic(g.from);
      (g as PanelGoLive).reverted = "was cancelled during its watch";
      await switchedBack(ctx, host, g, stopNew);
    },

    async recordRevert(ctx, g, revert) {
      (g as PanelGoLive).reverted = revert.reason;
      await switchedBack(ctx, host, g, stopNew);
    },

    async retain(ctx, g) {
      const inUse = [revision, g.from ? host.slotRevision(g.from) : null, host.slotRevision(g.to)].filter((r): r is string => r !== null);
      for (const old of panelReleasesToPrune(host.releases(), inUse)) {
        host.removeRelease(old);
        ctx.log(`Removed version ${old} (older than the kept ones).`);
      }
      ctx.log(`The ${g.from} slot (${from}) stops now; it is kept on disk for a rollback.`);
    },
  };
}

/** After traffic went back to g.from: the old panel takes jobs again and stays the enabled unit; the new one stops. */
export async function switchedBack(
  ctx: JobContext,
  host: PanelHost,
  g: GoLive,
  stopNew: (ctx: JobContext, color: Color) => Promise<void>,
): Promise<void> {
  if (!g.from) return;
  ctx.services.orchestrator.handOver(false);
  await host.service("enable", g.from).catch(() => {});
  await host.service("disable", g.to).catch(() => {});
  await stopNew(ctx, g.to);
  ctx.log(`Switched back to the ${g.from} slot.`);
}
