/**
 * Creating, changing and deleting apps: the rows (one transaction, see db/queries/apps.ts), the
 * GitHub webhook, the runtime and the files on disk, in the order that leaves nothing orphaned.
 */

import { removeTree } from "../adapters/host.ts";
import type { SlotStatus } from "../adapters/runtime/types.ts";
import {
  type AppChanges,
  appSlots,
  deleteAppRow,
  domainOwners,
  insertApp,
  listReleases,
  type NewApp,
  updateApp,
} from "../db/queries/apps.ts";
import { activeAppJobIds } from "../db/queries/jobs.ts";
import type { App, Job, Release, Slot } from "../db/schema/index.ts";
import { DomainTakenError } from "../domain/apps.ts";
import type { Services } from "../services.ts";
import { syncWebhook } from "./github-apps.ts";
import { appPaths } from "./paths.ts";
import { assertRepository } from "./repository.ts";

export interface Actor {
  userId?: string | null;
  /** Shown as the job's trigger. */
  label?: string;
}

/** Thrown when the app was made but GitHub refused its webhook: the app was deleted again. */
export class WebhookSetupFailed extends Error {
  override name = "WebhookSetupFailed";
  constructor(readonly reason: unknown) {
    super((reason as Error).message);
  }
}

/**
 * Creates the app (and its webhook, for a GitHub app with auto-deploy), then optionally queues its
 * first deploy. Its repository and branch are checked first, as its deploys will fetch them
 * (RepositoryProblem): an app whose repository cannot be read would only fail at its first fetch.
 */
export async function createApp(
  services: Services,
  input: NewApp,
  options: { deploy: boolean; actor: Actor },
): Promise<{ app: App; job: Job | null }> {
  await assertRepository(services, { repoUrl: input.repoUrl, branch: input.branch ?? "main", githubAccountId: input.githubAccountId });
  let app = await insertApp(services.db, input);
  if (app.githubRepo && app.autoDeploy) {
    try {
      app = await syncWebhook(services, app, true);
    } catch (error) {
      // No half-made app: without its webhook it would never deploy on push.
      await deleteApp(services, app);
      throw new WebhookSetupFailed(error);
    }
  }
  await services.events.publish({ type: "app.created", appId: app.id, app: app.name, status: app.status });
  const job = options.deploy
    ? await services.orchestrator.enqueue({
        kind: "deploy",
        appId: app.id,
        createdBy: options.actor.userId ?? null,
        trigger: options.actor.label ?? "api",
      })
    : null;
  return { app, job };
}

/**
 * Saves the app's settings. The webhook follows auto-deploy first (GitHub may refuse; then nothing
 * is saved); new host names reach nginx through a job, so a refused configuration is reported and
 * undone there.
 */
export async function changeApp(services: Services, app: App, changes: AppChanges, actor: Actor): Promise<{ app: App; job: Job | null }> {
  if (changes.domains) {
    const [taken] = await domainOwners(services.db, changes.domains, app.id);
    if (taken) throw new DomainTakenError(`${taken.name} already belongs to the app ${taken.app}.`);
  }
  // Another repository is not what the owner's GitHub token was given for: the app becomes a plain git app.
  const unlink =
    changes.repoUrl !== undefined && changes.repoUrl !== app.repoUrl && (app.githubRepo !== null || app.githubAccountId !== null);
  if (unlink) {
    if (app.githubHookId) {
      await syncWebhook(services, app, false).catch((error: Error) =>
        services.log.warn("could not remove the app's GitHub webhook", { app: app.name, error: error.message }),
      );
    }
    changes = { ...changes, githubRepo: null, githubAccountId: null, githubHookId: null, webhookSecret: null };
  } else if (changes.autoDeploy !== undefined && changes.autoDeploy !== app.autoDeploy && app.githubRepo) {
    await syncWebhook(services, app, changes.autoDeploy);
  }
  const updated = await updateApp(services.db, app.id, changes);
  // A static site's single-page fallback is a marker nginx reads per request: it applies now, no deploy.
  if (changes.spaFallback !== undefined && services.proxy.enabled) services.proxy.staticSites.setFallback(app.name, updated.spaFallback);
  await services.events.publish({ type: "app.updated", appId: app.id, app: app.name });
  const domainsChanged = changes.domains !== undefined && changes.domains.join(" ") !== app.domains.join(" ");
  const job =
    domainsChanged && app.status !== "new"
      ? await services.orchestrator.enqueue({
          kind: "configure-proxy",
          appId: app.id,
          params: { previousDomains: app.domains },
          createdBy: actor.userId ?? null,
          trigger: actor.label ?? "api",
        })
      : null;
  return { app: updated, job };
}

/**
 * Cancels the app's jobs, stops its slots, takes it out of nginx, removes its files, then its rows. Runtime first:
 * a row deleted with a process still running would leave an orphan nobody can see.
 */
export async function deleteApp(services: Services, app: App): Promise<void> {
  const { db, orchestrator, runtime, proxy, config, events, log } = services;
  if (app.githubHookId) {
    // Best effort: a hook left behind only produces deliveries answered "unknown app".
    await syncWebhook(services, app, false).catch((error: Error) =>
      log.warn("could not remove the app's GitHub webhook", { app: app.name, error: error.message }),
    );
  }
  const active = await activeAppJobIds(db, app.id);
  for (const id of active) await orchestrator.cancel(id);
  for (const id of active) await orchestrator.waitFor(id, 60_000).catch(() => {});
  await runtime.remove(app.name);
  await proxy.removeApp(app.name);
  removeTree(appPaths(config.dataDir, app.name).root);
  await deleteAppRow(db, app.id);
  await events.publish({ type: "app.deleted", appId: app.id, app: app.name });
}

export interface SlotView {
  slot: Slot;
  release: Release | null;
  process: SlotStatus;
}

/** Each slot with its release and what the runtime says about its process. */
export async function slotsWithProcesses(services: Services, app: App): Promise<SlotView[]> {
  const [rows, releases] = await Promise.all([appSlots(services.db, app.id), listReleases(services.db, app.id, 100)]);
  return Promise.all(
    rows.map(async (slot) => ({
      slot,
      release: releases.find((r) => r.id === slot.releaseId) ?? null,
      process: await services.runtime.status(app.name, slot.color),
    })),
  );
}

export function slotLogs(services: Services, app: App, color: Slot["color"], lines: number): Promise<string[]> {
  return services.runtime.logs(app.name, color, { lines });
}
