/**
 * The panel updates itself blue-green: the new version is fetched, installed and built into a
 * release directory of its own, started in the idle panel slot, health-checked, given the
 * traffic (the panel.sock symlink, no nginx reload) and watched; if it fails in that window the
 * old one, still running, gets the traffic back. Only then is the old slot stopped.
 * Apps are separate units and keep serving throughout.
 */
import { join } from "node:path";
import { and, eq, inArray } from "drizzle-orm";
import { run } from "../../adapters/exec.ts";
import { createPanelHost, type PanelHost } from "../../adapters/panel.ts";
import { exists } from "../../adapters/release-store.ts";
import { type Config, REVISION } from "../../config.ts";
import type { Db } from "../../db/client.ts";
import { type Job, jobs } from "../../db/schema/index.ts";
import { panelReverted, panelUpdated } from "../../domain/notification-messages.ts";
import { otherSlot, type PanelSlot, REVISION_PATTERN } from "../../domain/panel-update.ts";
import type { Services } from "../../services.ts";
import { notifySafely } from "../notify.ts";
import { type JobContext, JobFailed, type JobHandler } from "../orchestrator.ts";
import { runSteps, type Step } from "../runner.ts";
import { goLiveOver, PANEL_GO_LIVE } from "../steps/go-live.ts";
import { type PanelGoLive, panelTarget } from "../targets/panel.ts";

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

interface SelfUpdateState {
  host: PanelHost;
  /** The revision running now. */
  from: string | null;
  /** What was asked for (null: the branch's newest). */
  wanted: string | null;
  /** What is being installed, once known. */
  revision?: string;
  /** A version kept on disk: put back without fetch, install and build. */
  kept: boolean;
  golive?: PanelGoLive;
}

const releaseDir = (state: SelfUpdateState) => join(state.host.releasesDir, state.revision ?? "");

const fetchStep: Step<SelfUpdateState> = {
  name: "fetch",
  skip: (_ctx, state) => (state.kept ? `version ${state.revision} is kept on disk` : null),
  async run(ctx, state) {
    const { config } = ctx.services;
    ctx.log(`Fetching ${config.panel.updateSource} (${config.panel.updateBranch})`);
    const tip = await state.host.fetchSource({ signal: ctx.signal, onLine: (stream, line) => ctx.log(line, stream) });
    const sha = state.wanted ? await state.host.resolve(state.wanted) : tip;
    if (!sha) throw new JobFailed(`Revision ${state.wanted} is not in ${config.panel.updateSource} (${config.panel.updateBranch}).`);
    state.revision = sha.slice(0, 12);
    if (state.revision === state.from) throw new JobFailed(`Version ${state.revision} is already running.`);
    ctx.log(`Exporting ${state.revision} into ${state.host.releasesDir}`);
    await state.host.exportRelease(sha);
  },
};

const installStep: Step<SelfUpdateState> = {
  name: "install",
  skip: (_ctx, state) => (state.kept ? `version ${state.revision} is kept on disk` : null),
  run: (ctx, state) => command(ctx, [process.execPath, "install", "--no-progress"], releaseDir(state), {}),
};

const buildStep: Step<SelfUpdateState> = {
  name: "build",
  skip: (_ctx, state) => (state.kept ? `version ${state.revision} is kept on disk` : null),
  async run(ctx, state) {
    const dir = releaseDir(state);
    await command(ctx, [join(dir, "node_modules", ".bin", "bun"), "--bun", "vite", "build", "--logLevel", "warn"], join(dir, "app"), {
      NODE_ENV: "production",
    });
    state.host.markInstalled(state.revision ?? "");
  },
};

/** Migrations must keep working for the running version (see docs/operations.md). */
const migrateStep: Step<SelfUpdateState> = {
  name: "migrate",
  async run(ctx, state) {
    const dir = releaseDir(state);
    const bun = join(dir, "node_modules", ".bin", "bun");
    if (!state.host.isComplete(state.revision ?? "")) throw new JobFailed(`Version ${state.revision} on disk is incomplete (no ${bun}).`);
    await command(ctx, [bun, "backend/cli.ts", "migrate"], dir, {});
    const live = state.host.liveSlot() ?? ctx.services.config.panel.slot;
    const to = otherSlot(live as PanelSlot);
    state.golive = {
      target: panelTarget(state.host, state.revision ?? "", state.from, ctx.services.config.panel.watchSeconds),
      to,
      from: live,
      warm: false,
    };
  },
};

export const SELF_UPDATE: readonly Step<SelfUpdateState>[] = [
  fetchStep,
  installStep,
  buildStep,
  migrateStep,
  ...goLiveOver<SelfUpdateState>((s) => s.golive, PANEL_GO_LIVE),
];

export const selfUpdateHandler: JobHandler = {
  steps: () => SELF_UPDATE.map((s) => s.name),

  async run(ctx) {
    const { config } = ctx.services;
    const host = createPanelHost(config);
    if (host.unsupported) throw new JobFailed(host.unsupported);
    const live = host.liveSlot() ?? config.panel.slot;
    if (!live || live !== config.panel.slot) {
      throw new JobFailed(`This panel runs in the ${config.panel.slot} slot, but ${live ?? "no slot"} is live; try again in a minute.`);
    }
    const from = REVISION;
    const wanted = (ctx.job.params as SelfUpdateParams).revision ?? null;
    if (wanted !== null && !REVISION_PATTERN.test(wanted)) throw new JobFailed(`"${wanted}" is not a revision.`);
    const kept = wanted !== null && host.isInstalled(wanted.slice(0, 12));
    const state: SelfUpdateState = { host, from, wanted, kept, ...(kept && wanted ? { revision: wanted.slice(0, 12) } : {}) };
    if (state.revision === from) throw new JobFailed(`Version ${state.revision} is already running.`);
    try {
      await runSteps(ctx, SELF_UPDATE, state);
    } catch (error) {
      const reason = state.golive?.reverted;
      const to = state.revision ?? wanted;
      if (reason) {
        await ctx.services.events.publish({ type: "panel.updated", revision: from, slot: live, reverted: true, reason });
        await notifySafely(ctx.services, panelReverted({ from, to, reason }), null);
        throw new JobFailed(`The new version ${to} ${reason}; Switchyard switched back to ${from ?? "the previous version"} by itself.`, {
          from,
          to,
          reverted: true,
          reason,
        });
      }
      if (error instanceof JobFailed && error.result === null && state.golive) {
        throw new JobFailed(error.message, { from, to, reverted: false, reason: error.message });
      }
      throw error;
    }
    retiring.set(ctx.job.id, live);
    return { from, to: state.revision, slot: state.golive?.to ?? null, reverted: false };
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
    const result = job.result ?? {};
    await notifySafely(
      services,
      panelUpdated({ from: (result.from as string | null) ?? null, to: (result.to as string | null) ?? null }),
      null,
    );
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
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? (exists(SYSTEM_CA) ? SYSTEM_CA : undefined),
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
