import { desc, eq } from "drizzle-orm";
import { z } from "zod";
import { createPanelHost, type PanelHost } from "../../adapters/panel.ts";
import { REVISION, VERSION } from "../../config.ts";
import { type Job, jobs } from "../../db/schema/index.ts";
import type { SourceCommit } from "../../domain/panel-update.ts";
import { activeUpdate, gitMessage, planUpdate, UpdateRefused } from "../../jobs/kinds/self-update.ts";
import type { Context } from "../context.ts";
import { readJson, readQuery } from "../context.ts";
import { conflict, HttpError, unprocessable } from "../errors.ts";
import type { Router } from "../router.ts";
import { jobJson } from "./jobs.ts";

const STARTED_AT = new Date();
const SOURCE_CACHE_MS = 60_000;

const updateBody = z.object({
  revision: z
    .string()
    .regex(/^[0-9a-f]{7,40}$/, "must be a git revision (7 to 40 hex characters)")
    .optional(),
});

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

async function latestJob(c: Context): Promise<Job | null> {
  const [job] = await c.services.db.select().from(jobs).where(eq(jobs.kind, "self-update")).orderBy(desc(jobs.createdAt)).limit(1);
  return job ?? null;
}

/** The panel's own version and its self-update (owner only). */
export function systemRoutes(r: Router): void {
  r.get("/api/v1/system/update", { auth: "owner" }, async (c) => {
    const { config } = c.services;
    const host = createPanelHost(config);
    const { refresh } = readQuery(c, z.object({ refresh: z.enum(["0", "1"]).optional() }));
    const source = host.unsupported
      ? { at: new Date(), commits: [], error: null }
      : await availableCommits(host, config.panel.updateSource, refresh === "1");
    const job = await latestJob(c);
    return Response.json({
      update: {
        supported: host.unsupported === null,
        reason: host.unsupported,
        current: { version: VERSION, revision: REVISION, slot: config.panel.slot, startedAt: STARTED_AT },
        source: config.panel.updateSource ? { url: config.panel.updateSource, branch: config.panel.updateBranch } : null,
        available: source.commits.map(({ sha: _sha, ...commit }) => commit),
        kept: host
          .releases()
          .sort((a, b) => b.installedAt.getTime() - a.installedAt.getTime())
          .map((r) => ({ revision: r.revision, installedAt: r.installedAt, current: r.revision === REVISION })),
        job: job ? jobJson(job) : null,
        checkedAt: source.at,
        error: source.error,
      },
    });
  });

  r.post("/api/v1/system/update", { auth: "owner" }, async (c) => {
    const { config, orchestrator } = c.services;
    const body = await readJson(c, updateBody);
    const host = createPanelHost(config);
    if (host.unsupported) throw unprocessable("not_supported", host.unsupported);
    const running = await activeUpdate(c.services.db);
    if (running)
      throw conflict("update_running", "An update of Switchyard is already under way; wait for it to finish.", { jobId: running.id });
    let plan: { revision: string; rollback: boolean };
    try {
      plan = await planUpdate(host, config, body.revision ?? null, REVISION);
    } catch (error) {
      if (error instanceof UpdateRefused) throw new HttpError(error.status, error.code, error.message);
      throw error;
    }
    const job = await orchestrator.enqueue({
      kind: "self-update",
      appId: null,
      // A kept version is put back without a build: the GUI calls that a rollback.
      params: { ...plan, from: REVISION },
      createdBy: c.auth?.user.id ?? null,
      trigger: c.auth?.user.email ?? "api",
    });
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });
}
