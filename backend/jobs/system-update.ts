/** The panel's own version and what it can update to; starting an update of itself. */
import { createPanelHost, type PanelHost } from "../adapters/panel.ts";
import { REVISION, VERSION } from "../config.ts";
import { latestJobOfKind } from "../db/queries/jobs.ts";
import type { Job } from "../db/schema/index.ts";
import type { SourceCommit } from "../domain/panel-update.ts";
import type { Services } from "../services.ts";
import type { Actor } from "./apps.ts";
import { activeUpdate, gitMessage, planUpdate, UpdateRefused } from "./kinds/self-update.ts";

/** Why an update cannot start; `status` is the HTTP status the API answers with. */
export class UpdateDeclined extends Error {
  override name = "UpdateDeclined";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const STARTED_AT = new Date();
const SOURCE_CACHE_MS = 60_000;

/** The source is fetched at most once a minute per panel unless asked to refresh. */
let cached: { source: string | null; at: Date; commits: SourceCommit[]; error: string | null } | null = null;

async function availableCommits(
  host: PanelHost,
  source: string | null,
  refresh: boolean,
): Promise<{ at: Date; commits: SourceCommit[]; error: string | null }> {
  if (cached && cached.source === source && !refresh && Date.now() - cached.at.getTime() < SOURCE_CACHE_MS) return cached;
  try {
    await host.fetchSource();
    cached = { source, at: new Date(), commits: await host.changelog(REVISION), error: null };
  } catch (error) {
    cached = { source, at: new Date(), commits: [], error: `The update source could not be read: ${gitMessage(error)}` };
  }
  return cached;
}

export interface UpdateStatus {
  supported: boolean;
  reason: string | null;
  current: { version: string; revision: string | null; slot: Services["config"]["panel"]["slot"]; startedAt: Date };
  source: { url: string; branch: Services["config"]["panel"]["updateBranch"] } | null;
  available: Array<Omit<SourceCommit, "sha">>;
  kept: Array<{ revision: string; installedAt: Date; current: boolean }>;
  job: Job | null;
  checkedAt: Date;
  error: string | null;
}

export async function updateStatus(services: Services, refresh: boolean): Promise<UpdateStatus> {
  const { config } = services;
  const host = createPanelHost(config);
  const source = host.unsupported
    ? { at: new Date(), commits: [], error: null }
    : await availableCommits(host, config.panel.updateSource, refresh);
  return {
    supported: host.unsupported === null,
    reason: host.unsupported,
    current: { version: VERSION, revision: REVISION, slot: config.panel.slot, startedAt: STARTED_AT },
    source: config.panel.updateSource ? { url: config.panel.updateSource, branch: config.panel.updateBranch } : null,
    available: source.commits.map(({ sha: _sha, ...commit }) => commit),
    kept: host
      .releases()
      .sort((a, b) => b.installedAt.getTime() - a.installedAt.getTime())
      .map((r) => ({ revision: r.revision, installedAt: r.installedAt, current: r.revision === REVISION })),
    job: await latestJobOfKind(services.db, "self-update"),
    checkedAt: source.at,
    error: source.error,
  };
}

/**
 * Queues an update to `revision` (none: the newest of the source's branch). Throws UpdateRefused
 * saying why not; a second update racing this one is refused by the database's unique index.
 */
export async function requestUpdate(services: Services, revision: string | null, actor: Actor): Promise<Job> {
  const { config, orchestrator } = services;
  const host = createPanelHost(config);
  if (host.unsupported) throw new UpdateDeclined(422, "not_supported", host.unsupported);
  const running = await activeUpdate(services.db);
  if (running) {
    throw new UpdateDeclined(409, "update_running", "An update of Switchyard is already under way; wait for it to finish.", {
      jobId: running.id,
    });
  }
  let plan: { revision: string; rollback: boolean };
  try {
    plan = await planUpdate(host, config, revision, REVISION);
  } catch (error) {
    if (error instanceof UpdateRefused) throw new UpdateDeclined(error.status, error.code, error.message);
    throw error;
  }
  return orchestrator.enqueue({
    kind: "self-update",
    appId: null,
    // A kept version is put back without a build: the GUI calls that a rollback.
    params: { ...plan, from: REVISION },
    createdBy: actor.userId ?? null,
    trigger: actor.label ?? "api",
  });
}
