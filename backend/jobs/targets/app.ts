/**
 * An app's blue and green slots behind nginx, as the go-live steps see them: processes through
 * the runtime, traffic through the proxy's live symlink, rows through the deploy-state store.
 */
import { checkListener } from "../../adapters/listener.ts";
import { isHealthyStatus, probeHttp } from "../../adapters/probe.ts";
import { removeRelease, writeEnvSnapshot } from "../../adapters/release-store.ts";
import { type Color, otherColor } from "../../adapters/runtime/types.ts";
import { confirmHostname } from "../../commands/nginx.ts";
import { appSlots, findAppById, listReleases } from "../../db/queries/apps.ts";
import { readEnvVars } from "../../db/queries/env.ts";
import { hasQueuedJob } from "../../db/queries/jobs-state.ts";
import { assignFreshPorts } from "../../db/queries/ports.ts";
import { formationRows } from "../../db/queries/processes.ts";
import { findRelease } from "../../db/queries/releases.ts";
import { slotFigures } from "../../db/queries/request-stats.ts";
import type { App, Release, Slot } from "../../db/schema/index.ts";
import { renderEnvFile } from "../../domain/env.ts";
import { releaseWorkers, runnableWorkers, webInstances } from "../../domain/formation.ts";
import { bucketOf } from "../../domain/metrics.ts";
import { RETAINED_RELEASES, rollbackEligible } from "../../domain/retention.ts";
import { DEFAULT_WATCH, judge, type Tally } from "../../domain/watch.ts";
import type { Services } from "../../services.ts";
import { applySlotWorkers, releaseFormation, workersLine } from "../formation.ts";
import { ingesterOf } from "../ingest.ts";
import { notifyAutomaticRollback } from "../notification-sources.ts";
import { appPaths } from "../paths.ts";
import { releaseProcessEnv } from "../process-env.ts";
import { syncRoutes } from "../routes.ts";
import { knownSecrets } from "../secrets.ts";
import * as store from "../store.ts";
import { attachVolumes } from "../volumes.ts";
import { staticTarget } from "./static.ts";
import type { GoLive, Probe, SlotTarget, WatchLook } from "./types.ts";

/**
 * Where the release goes live: the warm standby when it already runs there with as many web
 * instances running as the formation says, else the idle slot (started afresh).
 */
export async function planGoLive(services: Services, app: App, release: Release): Promise<GoLive> {
  const rows = await appSlots(services.db, app.id);
  const live = rows.find((s) => s.state === "live") ?? null;
  const standby = rows.find((s) => s.state === "standby" && s.releaseId === release.id) ?? null;
  let warm = false;
  if (standby !== null && (live === null || live.color !== standby.color)) {
    const status = await services.runtime.status(app.name, standby.color);
    const running = status.instances ? status.instances.filter((i) => i.state === "running").length : status.state === "running" ? 1 : 0;
    warm = status.state === "running" && running === webInstances(await formationRows(services.db, app.id));
  }
  const to: Color = warm && standby ? standby.color : live ? otherColor(live.color) : "blue";
  const target = release.runtime === "static" ? staticTarget(services, app, release) : appTarget(services, app, release);
  return { target, to, from: live ? live.color : null, warm };
}

export function appTarget(services: Services, app: App, release: Release): SlotTarget {
  const { runtime, proxy, config, db, masterKey } = services;
  const paths = appPaths(config.dataDir, app.name);
  const slot = async (color: Color): Promise<Slot> => {
    const row = (await appSlots(db, app.id)).find((s) => s.color === color);
    if (!row) throw new Error(`app ${app.name} has no ${color} slot`);
    return row;
  };

  return {
    label: `v${release.number}`,
    health: { timeoutMs: app.healthTimeoutSec * 1000, intervalMs: app.healthIntervalMs, successes: app.healthSuccesses },
    watchMs: proxy.enabled ? app.watchSeconds * 1000 : 0,
    watchTickMs: Math.min(1_000, Math.max(50, (app.watchSeconds * 1000) / 4)),

    intent(step, g) {
      if (step === "start") return { step, appId: app.id, color: g.to, releaseId: release.id };
      if (step === "switch") return { step, appId: app.id, to: g.to, from: g.from, releaseId: release.id };
      if (step === "revert" && g.from) return { step, appId: app.id, to: g.from, from: g.to, releaseId: release.id };
      return null;
    },

    async start(ctx, g) {
      const row = await slot(g.to);
      // Ports the OS hands out now, one per web instance, which no other slot holds: two panels or
      // test runs on one machine cannot pick the same one, and the health check proves who answers.
      const instances = webInstances(await formationRows(db, app.id));
      const ports = await assignFreshPorts(db, row.id, instances);
      const port = ports[0] as number;
      // Again here: a rollback may go to a release made before a volume was added.
      const volumes = attachVolumes(services, app, release.dir, (line) => ctx.log(line));
      const slotEnv = paths.slotEnv(g.to);
      const vars = Object.entries({
        ...releaseProcessEnv(services, app, release),
        PORT: String(port),
        HOST: "127.0.0.1",
      }).map(([key, value]) => ({ key, value }));
      writeEnvSnapshot(slotEnv, renderEnvFile(vars));
      // Today's secrets, the snapshot's (a rotated secret's old value) and those of the other kept releases.
      const secrets = await knownSecrets(services, app.id, await readEnvVars(db, masterKey, release.environmentId));
      await store.moveSlot(services, app, g.to, "start", { releaseId: release.id });
      ctx.log(
        instances === 1
          ? `Starting v${release.number} in the ${g.to} slot on port ${port}: ${release.startCommand.join(" ")}`
          : `Starting v${release.number} in the ${g.to} slot, ${instances} web instances on ports ${ports.join(", ")}: ${release.startCommand.join(" ")}`,
      );
      await runtime.start({
        app: app.name,
        color: g.to,
        releaseId: release.id,
        releaseDir: release.dir,
        command: release.startCommand,
        envFile: slotEnv,
        port,
        ports,
        socketPath: proxy.paths.slotSocket(app.name, g.to),
        secrets,
        memoryMax: app.memoryMax,
        cpuQuota: app.cpuQuota,
        ioWeight: app.ioWeight,
        volumes: volumes.map(({ dir, mountAt }) => ({ dir, mountAt })),
      });
    },

    async unstart(_ctx, g) {
      await runtime.stop(app.name, g.to, { graceMs: 5_000 }).catch(() => {});
      const row = await slot(g.to);
      if (row.state === "starting") await store.moveSlot(services, app, g.to, "fail");
      await store.failRelease(services, release.id);
    },

    async probe(ctx, g): Promise<Probe> {
      const status = await runtime.status(app.name, g.to);
      const row = await slot(g.to);
      const ports = row.ports.length > 0 ? row.ports : [row.port];
      const units = status.instances ?? [
        { index: 1, state: status.state, pid: status.pid, port: row.port, restarts: status.restarts, lastExit: status.lastExit },
      ];
      const down = [{ state: status.state, restarts: status.restarts, lastExit: status.lastExit }, ...units].find(
        (u) => u.state === "crashed" || u.state === "stopped" || (u.state === "restarting" && u.restarts > 0),
      );
      if (down) {
        const tail = await runtime.logs(app.name, g.to, { lines: 20 }).catch(() => []);
        for (const line of tail) ctx.log(line, "stderr");
        const exit = down?.lastExit ? ` (exit ${down.lastExit.code ?? down.lastExit.signal})` : "";
        return { ok: false, problem: "exited", dead: `The app exited before it became healthy${exit}; its last output is above.` };
      }
      if (units.length < ports.length) return { ok: false, problem: `${units.length} of ${ports.length} web instances started so far` };
      // Every instance answers, each from its own process: the set switches together or not at all.
      const answers: string[] = [];
      for (const [i, port] of ports.entries()) {
        const unit = units.find((u) => u.index === i + 1);
        const which = ports.length > 1 ? `instance ${i + 1}: ` : "";
        const url = `http://127.0.0.1:${port}${app.healthPath}`;
        const answer = await probeHttp(url);
        if ("error" in answer) {
          return {
            ok: false,
            problem: `${which}${url} ${answer.error === "timeout" ? "did not answer within 2 s" : "is not accepting connections yet"}`,
          };
        }
        if (!isHealthyStatus(answer.status)) return { ok: false, problem: `${which}${url} answered ${answer.status}` };
        if (!unit || unit.pid === null) return { ok: false, problem: `${which}${url} answered, but the slot's process is not known yet` };
        const owner = checkListener(port, unit.pid);
        if (!owner.ok)
          return { ok: false, problem: `${which}${url} answered ${answer.status}, but not from the ${g.to} slot: ${owner.why}` };
        answers.push(String(answer.status));
      }
      return ports.length === 1
        ? { ok: true, detail: `${answers[0]} from the ${g.to} slot's process` }
        : { ok: true, detail: `${answers[0]} from each of the ${g.to} slot's ${ports.length} web instances` };
    },

    async route(_ctx, color) {
      if (!proxy.enabled) return;
      // The app's file names <app>.localhost; its custom domains are routes, written from the database.
      await proxy.configureApp(app.name, { serverNames: [], preview: true });
      proxy.switchTo(app.name, color);
      // A route problem is the domain's, not the deploy's: logged, and the next sync tries again.
      await syncRoutes(services).catch((error: unknown) => services.log.warn("routes were not updated", { app: app.name, error }));
    },

    async confirm(_ctx, _g) {
      if (!proxy.enabled) return null;
      const target = new URL(`${proxy.appUrl(app.name)}${app.healthPath}`);
      // The confirmation host's upstream keeps no idle connections: this request opens a new one,
      // which follows the replaced symlink to the new slot (a kept-alive one may still reach the old).
      const answer = await probeHttp(`http://127.0.0.1:${target.port || 80}${target.pathname}${target.search}`, {
        host: confirmHostname(app.name),
        timeoutMs: 5_000,
      });
      if ("error" in answer) return `Through nginx, ${target.href} did not answer (${answer.message})`;
      if (!isHealthyStatus(answer.status)) return `Through nginx, ${target.href} answered ${answer.status}`;
      return null;
    },

    async recordSwitch(ctx, g) {
      const kind = ctx.job.kind === "rollback" ? "rollback" : ctx.job.kind === "restart" ? "restart" : "deploy";
      await store.recordSwitch(services, app, {
        to: g.to,
        releaseId: release.id,
        kind,
        at: new Date(g.switchedAt ?? Date.now()),
        jobId: ctx.job.id,
      });
    },

    async startWorkers(ctx, g) {
      const started = await applySlotWorkers(services, app, g.to, release, ctx.log);
      if (started.length > 0) ctx.log(`Started the ${g.to} slot's workers: ${workersLine(started)}.`);
      if (!g.from) return;
      // After the switch, so there is never a moment with no worker while the web serves.
      await runtime.stopWorkers(app.name, g.from, { graceMs: app.drainSeconds * 1000 });
      ctx.log(started.length > 0 ? `Stopped the ${g.from} slot's workers.` : `No workers to run; the ${g.from} slot's are stopped.`);
    },

    async workersIdle(_ctx, g) {
      const wanted = runnableWorkers(await releaseFormation(services, app, release));
      if (wanted.length > 0) return null;
      const running = g.from ? await runtime.processes(app.name, g.from) : [];
      if (running.some((p) => p.type !== "web" && p.instances.some((i) => i.state !== "stopped"))) return null;
      return Object.keys(releaseWorkers(release.details)).length > 0
        ? `v${release.number}'s workers are stopped or scaled to 0`
        : `v${release.number} declares no worker processes`;
    },

    async restoreWorkers(ctx, g) {
      if (!g.from) return;
      await runtime.stopWorkers(app.name, g.to, { graceMs: app.drainSeconds * 1000 }).catch(() => {});
      const row = await slot(g.from);
      const back = row.releaseId ? await findRelease(db, app.id, row.releaseId) : null;
      if (!back) return;
      const started = await applySlotWorkers(services, app, g.from, back, ctx.log);
      if (started.length > 0) ctx.log(`The ${g.from} slot's workers run again: ${workersLine(started)}.`);
    },

    async drain(ctx, g) {
      if (!g.from) return;
      try {
        const left = await runtime.drain(app.name, g.from, { timeoutMs: app.drainSeconds * 1000 });
        ctx.log(
          left === 0
            ? `The ${g.from} slot has no connections left; it stays warm as the standby.`
            : left < 0
              ? `The ${g.from} slot did not answer the drain within ${app.drainSeconds} s; it keeps running as the standby.`
              : `${left} connection(s) still open on ${g.from} after ${app.drainSeconds} s; they may finish there.`,
          left === 0 ? "system" : "stderr",
        );
      } catch (error) {
        ctx.log(`The ${g.from} slot could not be drained: ${(error as Error).message}. It keeps running as the standby.`, "stderr");
      }
    },

    async look(_ctx, g): Promise<WatchLook> {
      // The same figures the Analytics tab shows: ingest what nginx logged up to now, then compare
      // the new slot and release since the switch with the old slot over the window before it.
      const switchedAt = g.switchedAt ?? Date.now();
      await ingesterOf(services).ingestNow({ only: [app.name], all: true });
      const minute = (ms: number) => new Date(bucketOf(ms, "minute"));
      const window = Math.max(app.watchSeconds * 1000, 60_000);
      const after: Tally = g.from
        ? await slotFigures(db, { appId: app.id, slot: g.to, releaseId: release.id, from: minute(switchedAt), to: minute(Date.now()) })
        : { requests: 0, errors: 0 };
      const before: Tally = g.from
        ? await slotFigures(db, { appId: app.id, slot: g.from, from: minute(switchedAt - window), to: minute(switchedAt) })
        : { requests: 0, errors: 0 };
      const verdict = judge(before, after, {
        ...DEFAULT_WATCH,
        threshold: app.watchErrorRate,
        latencyFactor: app.watchLatencyFactor,
      });
      if (verdict.rollback) {
        return {
          revert: {
            reason: verdict.reason,
            details: {
              autoRolledBack: true,
              reason: verdict.reason,
              before: verdict.before,
              after: verdict.after,
              at: new Date().toISOString(),
            },
          },
          summary: verdict.reason,
        };
      }
      const waiting = await hasQueuedJob(db, app.id);
      return {
        revert: null,
        summary: verdict.reason,
        ...(waiting ? { stop: `Watch ended early: another job for ${app.name} is waiting. ${verdict.reason}.` } : {}),
      };
    },

    async recordRevert(ctx, g, revert) {
      if (!g.from) return;
      // Traffic went back when the watch routed it, just before this.
      const at = new Date();
      await runtime.drain(app.name, g.to, { timeoutMs: 5_000 }).catch(() => 0);
      await store.recordRevert(services, app, { to: g.from, releaseId: release.id, details: revert.details, at, jobId: ctx.job.id });
      await notifyAutomaticRollback(services, { app, releaseId: release.id, to: g.from, details: revert.details, jobId: ctx.job.id });
      // Not a rollback target, so not kept warm either.
      await runtime.stop(app.name, g.to, { graceMs: 5_000 }).catch(() => {});
    },

    async retain(ctx) {
      const fresh = (await findAppById(db, app.id)) ?? app;
      const rows = await listReleases(db, fresh.id, 1000);
      const inUse = new Set((await appSlots(db, fresh.id)).map((s) => s.releaseId).filter(Boolean) as string[]);
      const keep = new Set(rollbackEligible(rows).map((r) => r.id));
      const prune = rows.filter(
        (r) => !r.pruned && !keep.has(r.id) && !r.pinned && !inUse.has(r.id) && r.status !== "live" && r.status !== "standby",
      );
      if (prune.length) await ctx.intend({ step: "retain", appId: app.id, releaseIds: prune.map((r) => r.id) });
      for (const r of prune) {
        removeRelease(r.dir, r.envFile);
        await store.markPruned(services, r.id);
      }
      ctx.log(
        prune.length
          ? `Pruned ${prune.map((r) => `v${r.number}`).join(", ")}; kept the last ${RETAINED_RELEASES} good releases.`
          : "Nothing to prune.",
      );
    },
  };
}
