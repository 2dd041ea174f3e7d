/**
 * The panel updates itself blue-green: the new version is fetched, installed and built into a
 * release directory of its own, started in the idle panel slot, health-checked, given the
 * traffic (the panel.sock symlink, no nginx reload) and watched; if it fails in that window the
 * old one, still running, gets the traffic back. Only then is the old slot stopped.
 * Apps are separate units and keep serving throughout.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { and, eq, inArray } from "drizzle-orm";
import { run } from "../../adapters/exec.ts";
import { createPanelHost, type PanelHost } from "../../adapters/panel.ts";
import { type Config, REVISION } from "../../config.ts";
import type { Db } from "../../db/client.ts";
import { type Job, jobs } from "../../db/schema/index.ts";
import { otherSlot, type PanelSlot, panelReleasesToPrune, REVISION_PATTERN, watchVerdict } from "../../domain/panel-update.ts";
import type { Services } from "../../services.ts";
import { type JobContext, JobFailed, type JobHandler } from "../orchestrator.ts";

export const SELF_UPDATE_STEPS = ["fetch", "install", "build", "migrate", "start", "health", "switch", "watch", "retain"];

const HEALTH_TIMEOUT_MS = 120_000;
const SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt";

export interface SelfUpdateParams {
  /** A revision of the source, or a kept release (a manual rollback); none: the branch's newest. */
  revision?: string;
}

/** Why an update cannot start; `status` is the HTTP status the API answers with. */
export class UpdateRefused extends Error {
  override name = "UpdateRefused";
  constructor(
    readonly status: 404 | 409 | 502,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The self-update queued or running, if any: there is one at a time. */
export async function activeUpdate(db: Db): Promise<Job | null> {
  const [job] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.kind, "self-update"), inArray(jobs.status, ["queued", "running"])));
  return job ?? null;
}

/**
 * Which revision an update to `requested` (none: the newest of the source's branch) installs,
 * and whether it is a rollback (a version kept on disk, put back without a build). Throws
 * UpdateRefused saying why not. The caller has checked that this panel can update itself.
 */
export async function planUpdate(
  host: PanelHost,
  config: Config,
  requested: string | null,
  current: string | null,
): Promise<{ revision: string; rollback: boolean }> {
  let revision: string;
  if (requested && host.isInstalled(requested.slice(0, 12))) {
    revision = requested.slice(0, 12);
  } else {
    let newest: string | undefined;
    try {
      await host.fetchSource();
      newest = (await host.changelog(current))[0]?.revision;
    } catch (error) {
      throw new UpdateRefused(502, "source_unreachable", `The update source could not be read: ${gitMessage(error)}`);
    }
    const { updateSource, updateBranch } = config.panel;
    if (requested) {
      const sha = await host.resolve(requested);
      if (!sha) throw new UpdateRefused(404, "not_found", `Revision ${requested} is not in ${updateSource} (${updateBranch}).`);
      revision = sha.slice(0, 12);
    } else if (newest) {
      revision = newest;
    } else {
      throw new UpdateRefused(
        409,
        "up_to_date",
        `Switchyard ${current ?? ""} is the newest version of ${updateBranch}.`.replace("  ", " "),
      );
    }
  }
  if (revision === current) throw new UpdateRefused(409, "already_current", `Version ${revision} is the one running.`);
  return { revision, rollback: host.isInstalled(revision) };
}

/** The last lines of a failed git command, which say what went wrong. */
export function gitMessage(error: unknown): string {
  return (error as Error).message.split("\n").slice(-3).join(" ").trim();
}

/** The slot a finished update leaves behind, stopped once the job's outcome is saved. */
const retiring = new Map<string, PanelSlot>();

export const selfUpdateHandler: JobHandler = {
  steps: () => SELF_UPDATE_STEPS,

  async run(ctx) {
    const { config } = ctx.services;
    const host = createPanelHost(config);
    if (host.unsupported) throw new JobFailed(host.unsupported);
    const live = host.liveSlot() ?? config.panel.slot;
    if (!live || live !== config.panel.slot) {
      throw new JobFailed(`This panel runs in the ${config.panel.slot} slot, but ${live ?? "no slot"} is live; try again in a minute.`);
    }
    const idle = otherSlot(live);
    const from = REVISION;
    const params = ctx.job.params as SelfUpdateParams;
    const wanted = params.revision ?? null;
    if (wanted !== null && !REVISION_PATTERN.test(wanted)) throw new JobFailed(`"${wanted}" is not a revision.`);

    // 1–3: the new version's files, dependencies and GUI (skipped for a version kept on disk).
    let revision: string;
    if (wanted && host.isInstalled(wanted.slice(0, 12))) {
      revision = wanted.slice(0, 12);
      for (const step of ["fetch", "install", "build"]) await ctx.skip(step, `version ${revision} is kept on disk`);
    } else {
      const sha = await ctx.step("fetch", async () => {
        ctx.log(`Fetching ${config.panel.updateSource} (${config.panel.updateBranch})`);
        const tip = await host.fetchSource({ signal: ctx.signal, onLine: (stream, line) => ctx.log(line, stream) });
        const sha = wanted ? await host.resolve(wanted) : tip;
        if (!sha) throw new JobFailed(`Revision ${wanted} is not in ${config.panel.updateSource} (${config.panel.updateBranch}).`);
        ctx.log(`Exporting ${sha.slice(0, 12)} into ${host.releasesDir}`);
        await host.exportRelease(sha);
        return sha;
      });
      revision = sha.slice(0, 12);
      if (revision === from) throw new JobFailed(`Version ${revision} is already running.`);
      const dir = join(host.releasesDir, revision);
      await ctx.step("install", () => command(ctx, [process.execPath, "install", "--no-progress"], dir, {}));
      await ctx.step("build", async () => {
        await command(ctx, [join(dir, "node_modules", ".bin", "bun"), "--bun", "vite", "build", "--logLevel", "warn"], join(dir, "app"), {
          NODE_ENV: "production",
        });
        writeFileSync(join(dir, ".installed"), `${new Date().toISOString()}\n`);
      });
    }
    if (revision === from) throw new JobFailed(`Version ${revision} is already running.`);
    const dir = join(host.releasesDir, revision);
    const bun = join(dir, "node_modules", ".bin", "bun");
    if (!existsSync(bun)) throw new JobFailed(`Version ${revision} on disk is incomplete (no ${bun}).`);

    // 4: migrations must keep working for the running version (see docs/operations.md).
    await ctx.step("migrate", () => command(ctx, [bun, "backend/cli.ts", "migrate"], dir, {}));

    // 5–6: the new panel beside the old one.
    const stopNew = async () => {
      await host.service("stop", idle).catch((e: unknown) => ctx.log(`Could not stop the ${idle} slot: ${(e as Error).message}`));
    };
    await ctx.step("start", async () => {
      host.pointSlot(idle, revision);
      ctx.log(`Starting ${revision} in the ${idle} panel slot`);
      await host.service("restart", idle);
    });
    await ctx.step("health", async () => {
      const deadline = Date.now() + HEALTH_TIMEOUT_MS;
      let last = "no answer yet";
      for (;;) {
        if (ctx.signal.aborted) await stopNew();
        ctx.throwIfCancelled();
        const health = await host.health(idle);
        if (health.ok && health.revision === revision) {
          ctx.log(`The ${idle} panel answers: ${revision} is healthy.`);
          return;
        }
        last = health.ok ? `it reports revision ${health.revision}` : health.message;
        const state = await host.status(idle);
        if (!state.active || state.restarts > 0 || Date.now() > deadline) {
          await stopNew();
          const why =
            !state.active || state.restarts > 0 ? "its process exited" : `no healthy answer in ${HEALTH_TIMEOUT_MS / 1000} s (${last})`;
          throw new JobFailed(
            `The new version ${revision} did not become healthy: ${why}. ${from ?? "The running version"} keeps serving.`,
            {
              from,
              to: revision,
              reverted: false,
              reason: why,
            },
          );
        }
        await Bun.sleep(500);
      }
    });

    // 7: traffic moves; the old panel keeps running (and answering what it has in flight).
    const switchBack = async (reason: string): Promise<never> => {
      host.switchTraffic(live);
      ctx.services.orchestrator.handOver(false);
      await host.service("enable", live).catch(() => {});
      await host.service("disable", idle).catch(() => {});
      await stopNew();
      ctx.log(`Switched back to ${from} in the ${live} slot.`);
      await ctx.services.events.publish({ type: "panel.updated", revision: from, slot: live, reverted: true, reason });
      throw new JobFailed(
        `The new version ${revision} ${reason}; Switchyard switched back to ${from ?? "the previous version"} by itself.`,
        {
          from,
          to: revision,
          reverted: true,
          reason,
        },
      );
    };
    await ctx.step("switch", async () => {
      const started = performance.now();
      host.switchTraffic(idle);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const through = await host.healthThroughProxy();
        if (through.ok && through.revision === revision) break;
        if (Date.now() > deadline) await switchBack(`was not reachable through nginx (${through.message})`);
        await Bun.sleep(100);
      }
      ctx.log(`Traffic is on ${revision} (${idle}) in ${Math.round(performance.now() - started)} ms.`);
      // Queued and new jobs are the new panel's from now on.
      ctx.services.orchestrator.handOver(true);
      await host.service("enable", idle);
      await host.service("disable", live);
      await ctx.services.events.publish({ type: "panel.updated", revision, slot: idle, reverted: false, reason: null });
    });

    // 8: the new panel's first minute; the old one stays warm to take the traffic back.
    await ctx.step("watch", async () => {
      const seconds = config.panel.watchSeconds;
      ctx.log(`Watching ${revision} for ${seconds} s before the old version stops.`);
      const until = Date.now() + seconds * 1000;
      let failedChecks = 0;
      while (Date.now() < until) {
        await Bun.sleep(1_000);
        if (ctx.signal.aborted) await switchBack("was cancelled during its watch");
        const [health, state] = await Promise.all([host.health(idle), host.status(idle)]);
        failedChecks = health.ok ? 0 : failedChecks + 1;
        const verdict = watchVerdict({ ...state, failedChecks });
        if (verdict) await switchBack(`failed in its first ${seconds} s: ${verdict}`);
      }
      ctx.log(`${revision} stayed healthy for ${seconds} s.`);
    });

    // 9: keep the running version and the newest few others for a manual rollback.
    await ctx.step("retain", async () => {
      const inUse = [revision, host.slotRevision(live), host.slotRevision(idle)].filter((r): r is string => r !== null);
      for (const old of panelReleasesToPrune(host.releases(), inUse)) {
        host.removeRelease(old);
        ctx.log(`Removed version ${old} (older than the kept ones).`);
      }
      ctx.log(`The ${live} slot (${from}) stops now; it is kept on disk for a rollback.`);
    });
    retiring.set(ctx.job.id, live);
    return { from, to: revision, slot: idle, reverted: false };
  },

  /** Stops the old panel: this very process, when it ran the job. */
  async finished(job: Job, services: Services) {
    const slot = retiring.get(job.id);
    retiring.delete(job.id);
    if (!slot || job.status !== "succeeded") {
      // Still (or again) the live panel: it takes jobs as before.
      if (createPanelHost(services.config).liveSlot() === services.config.panel.slot) services.orchestrator.handOver(false);
      return;
    }
    // Jobs this panel started before the switch (a deploy, say) finish here first.
    if (!(await services.orchestrator.othersDone(job.id, 15 * 60_000))) {
      services.log.warn("jobs still running on the old panel after 15 minutes; they are cancelled as it stops");
    }
    services.log.info("self-update done; stopping the old panel slot", { slot });
    await createPanelHost(services.config).service("stop", slot);
  },
};

async function command(ctx: JobContext, argv: string[], cwd: string, env: Record<string, string>): Promise<void> {
  ctx.log(`$ ${argv.map((a) => a.replace(/^.*\/node_modules\/\.bin\//, "")).join(" ")}`);
  const result = await run(argv, {
    cwd,
    env: {
      ...process.env,
      // Bun keeps its own CA list; the system's also holds whatever this server is told to trust.
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? (existsSync(SYSTEM_CA) ? SYSTEM_CA : undefined),
      SWITCHYARD_SOCKET: undefined,
      SWITCHYARD_PANEL_SLOT: undefined,
      NODE_ENV: undefined,
      ...env,
    },
    signal: ctx.signal,
    timeoutMs: 900_000,
    onLine: (stream, line) => ctx.log(line, stream),
  });
  ctx.throwIfCancelled();
  if (result.code !== 0) {
    throw new JobFailed(`${basenameOf(argv[0])} ${argv.slice(1).join(" ")} ${result.timedOut ? "timed out" : `exited ${result.code}`}.`);
  }
}

function basenameOf(path = ""): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
