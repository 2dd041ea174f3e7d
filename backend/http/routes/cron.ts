import { z } from "zod";
import type { CronJob, CronRun } from "../../contract/api.ts";
import {
  countCronJobs,
  deleteCronJob,
  findCronJob,
  findCronRun,
  insertCronJob,
  lastRuns,
  listCronJobs,
  listCronRuns,
  updateCronJob,
} from "../../db/queries/cron.ts";
import { liveRelease } from "../../db/queries/release-command.ts";
import type { CronJobRow, CronRunRow } from "../../db/schema/index.ts";
import { applyPatch, cronJobInputSchema, cronJobPatchSchema, MAX_CRON_JOBS_PER_APP, nextRuns } from "../../domain/cron.ts";
import { NoLiveRelease, removeCronFiles, startCronRun } from "../../jobs/cron.ts";
import { cronChanged } from "../../jobs/cron-scheduler.ts";
import { audit } from "../audit.ts";
import { readJson, readParams, readQuery } from "../context.ts";
import { conflict, HttpError, notFound } from "../errors.ts";
import type { Router } from "../router.ts";
import { loadApp } from "./apps.ts";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function cronRunJson(r: CronRunRow, withOutput = false): CronRun {
  return {
    id: r.id,
    cronJobId: r.cronJobId,
    trigger: r.trigger,
    status: r.status,
    releaseId: r.releaseId,
    exitCode: r.exitCode,
    dueAt: r.dueAt.toISOString(),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    durationMs: r.durationMs,
    message: r.message,
    ...(withOutput ? { output: r.output ? r.output.replace(/\n$/, "").split("\n") : [] } : {}),
  };
}

export function cronJobJson(j: CronJobRow, lastRun: CronRunRow | null, live: boolean, now = new Date()): CronJob {
  const [next] = j.enabled && live ? nextRuns(j.schedule, j.timezone, now) : [];
  return {
    id: j.id,
    name: j.name,
    schedule: j.schedule,
    timezone: j.timezone,
    command: j.command,
    overlap: j.overlap,
    timeoutSec: j.timeoutSec,
    enabled: j.enabled,
    nextRunAt: next ? next.toISOString() : null,
    lastRun: lastRun ? cronRunJson(lastRun) : null,
    createdAt: j.createdAt.toISOString(),
    updatedAt: j.updatedAt.toISOString(),
  };
}

const jobParam = z.object({ app: z.string(), id: z.uuid({ error: "is not a cron job id" }) });
const runParam = jobParam.extend({ runId: z.uuid({ error: "is not a run id" }) });

/** The schedule refused for the time zone it would have after a PATCH: 400 naming `schedule`. */
function scheduleRefused(message: string): HttpError {
  return new HttpError(400, "validation_failed", `schedule: ${message}.`, { issues: [{ path: "schedule", message }] });
}

export function cronRoutes(r: Router): void {
  r.get("/api/v1/apps/:app/cron", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const [jobs, live] = await Promise.all([listCronJobs(c.services.db, app.id), liveRelease(c.services.db, app.id)]);
    const last = await lastRuns(
      c.services.db,
      jobs.map((j) => j.id),
    );
    return Response.json({ cronJobs: jobs.map((j) => cronJobJson(j, last.get(j.id) ?? null, live !== null && !live.pruned)) });
  });

  r.post("/api/v1/apps/:app/cron", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const input = await readJson(c, cronJobInputSchema);
    if ((await countCronJobs(c.services.db, app.id)) >= MAX_CRON_JOBS_PER_APP) {
      throw conflict(
        "too_many_cron_jobs",
        `${app.name} has ${MAX_CRON_JOBS_PER_APP} cron jobs, the most an app may have; remove one first.`,
      );
    }
    const job = await insertCronJob(c.services.db, app.id, input);
    await cronChanged(c.services, app.id);
    await audit(c, "app.cron_created", `app:${app.name}`, { cronJobId: job.id, name: job.name, schedule: job.schedule });
    const live = await liveRelease(c.services.db, app.id);
    return Response.json({ cronJob: cronJobJson(job, null, live !== null && !live.pruned) }, { status: 201 });
  });

  r.patch("/api/v1/apps/:app/cron/:id", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const { id } = readParams(c, jobParam);
    const patch = await readJson(c, cronJobPatchSchema);
    const job = await findCronJob(c.services.db, app.id, id);
    if (!job) throw notFound(`Cron job ${id} of ${app.name}`);
    const applied = applyPatch(job, patch);
    if (!applied.ok) throw scheduleRefused(applied.message);
    const { name, schedule, timezone, command, overlap, timeoutSec, enabled } = applied.job;
    const saved = await updateCronJob(c.services.db, id, { name, schedule, timezone, command, overlap, timeoutSec, enabled });
    await cronChanged(c.services, app.id);
    await audit(c, "app.cron_updated", `app:${app.name}`, { cronJobId: id, changed: Object.keys(patch) });
    const [last, live] = await Promise.all([lastRuns(c.services.db, [id]), liveRelease(c.services.db, app.id)]);
    return Response.json({ cronJob: cronJobJson(saved, last.get(id) ?? null, live !== null && !live.pruned) });
  });

  r.delete("/api/v1/apps/:app/cron/:id", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const { id } = readParams(c, jobParam);
    const job = await findCronJob(c.services.db, app.id, id);
    if (!job) throw notFound(`Cron job ${id} of ${app.name}`);
    await deleteCronJob(c.services.db, id);
    await cronChanged(c.services, app.id, [id]);
    if (c.services.runtime.kind !== "systemd") removeCronFiles(c.services, app.name, id);
    await audit(c, "app.cron_deleted", `app:${app.name}`, { cronJobId: id, name: job.name });
    return new Response(null, { status: 204 });
  });

  // Run now: whatever the schedule, and also when the job is disabled (a way to try it first).
  r.post("/api/v1/apps/:app/cron/:id/run", { auth: "deployer" }, async (c) => {
    const app = await loadApp(c);
    const { id } = readParams(c, jobParam);
    const job = await findCronJob(c.services.db, app.id, id);
    if (!job) throw notFound(`Cron job ${id} of ${app.name}`);
    let run: CronRunRow | null;
    try {
      run = await startCronRun(c.services, app, job, "manual", new Date());
    } catch (error) {
      if (error instanceof NoLiveRelease) throw conflict("no_live_release", error.message);
      throw error;
    }
    if (!run) throw new Error("a manual run was not recorded");
    await audit(c, "app.cron_run", `app:${app.name}`, { cronJobId: id, runId: run.id });
    return Response.json({ run: cronRunJson(run) }, { status: 202 });
  });

  r.get("/api/v1/apps/:app/cron/:id/runs", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { id } = readParams(c, jobParam);
    const { limit, before } = readQuery(
      c,
      z.object({
        limit: z.coerce
          .number({ error: "must be a number" })
          .int("must be a whole number")
          .min(1, "must be at least 1")
          .max(200, "must be at most 200")
          .default(50),
        before: z.iso.datetime({ error: "must be an ISO 8601 time (the createdAt of the last run of the previous page)" }).optional(),
      }),
    );
    const job = await findCronJob(c.services.db, app.id, id);
    if (!job) throw notFound(`Cron job ${id} of ${app.name}`);
    const runs = await listCronRuns(c.services.db, id, { limit: limit + 1, before: before ? new Date(before) : undefined });
    const page = runs.slice(0, limit);
    const more = runs.length > limit;
    const last = page.at(-1);
    return Response.json({ runs: page.map((run) => cronRunJson(run)), nextBefore: more && last ? last.createdAt.toISOString() : null });
  });

  r.get("/api/v1/apps/:app/cron/:id/runs/:runId", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { id, runId } = readParams(c, runParam);
    const job = await findCronJob(c.services.db, app.id, id);
    if (!job) throw notFound(`Cron job ${id} of ${app.name}`);
    const run = await findCronRun(c.services.db, id, runId);
    if (!run) throw notFound(`Run ${runId} of cron job ${job.name}`);
    return Response.json({ run: cronRunJson(run, true) });
  });
}
