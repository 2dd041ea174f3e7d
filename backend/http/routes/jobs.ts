import { z } from "zod";
import { findJob, listJobs, logLinesAfter, stepsOfJob } from "../../db/queries/jobs.ts";
import type { Job } from "../../db/schema/index.ts";
import { audit } from "../audit.ts";
import { type Context, readParams, readQuery } from "../context.ts";
import { HttpError, notFound } from "../errors.ts";
import { requireRole } from "../middleware/auth.ts";
import type { Router } from "../router.ts";
import { jobJson, stepJson } from "../shapes.ts";
import { sseResponse, wantsEventStream } from "../sse.ts";

const idParam = z.object({ id: z.uuid({ error: "must be a job id" }) });
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const PAGE = 1000;

async function loadJob(c: Context): Promise<Job> {
  const { id } = readParams(c, idParam);
  const job = await findJob(c.services.db, id);
  if (!job) throw notFound("Job");
  return job;
}

function readLines(c: Context, jobId: string, after: number, limit = PAGE) {
  return logLinesAfter(c.services.db, jobId, after, limit);
}

export function jobRoutes(r: Router): void {
  r.get("/api/v1/jobs/:id", { auth: "viewer" }, async (c) => {
    const job = await loadJob(c);
    const steps = await stepsOfJob(c.services.db, job.id);
    return Response.json({
      job: jobJson(job),
      steps: steps.map(stepJson),
    });
  });

  r.post("/api/v1/jobs/:id/cancel", { auth: "deployer" }, async (c) => {
    const job = await loadJob(c);
    if (FINAL.has(job.status)) throw new HttpError(409, "job_finished", `The job already ${job.status}.`);
    await c.services.orchestrator.cancel(job.id);
    await audit(c, "job.cancel", `job:${job.id}`);
    const now = await findJob(c.services.db, job.id);
    return Response.json({ job: jobJson(now ?? job) }, { status: 202 });
  });

  /**
   * JSON pages of lines, or with `Accept: text/event-stream` a stream that replays from
   * Last-Event-ID (or ?after) and then follows live. Lines are read back from the database in
   * seq order on every notification, so each line is sent exactly once, in order.
   */
  r.get("/api/v1/jobs/:id/logs", { auth: "viewer" }, async (c) => {
    const job = await loadJob(c);
    const q = readQuery(
      c,
      z.object({ after: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(PAGE).default(PAGE) }),
    );
    if (!wantsEventStream(c.req)) {
      const lines = await readLines(c, job.id, q.after, q.limit);
      return Response.json({
        job: jobJson(job),
        lines,
        next: lines.at(-1)?.seq ?? q.after,
        done: FINAL.has(job.status) && lines.length < q.limit,
      });
    }
    const lastEventId = Number(c.req.headers.get("last-event-id") ?? "");
    let last = Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : q.after;
    return sseResponse(c, async (sink) => {
      let chain = Promise.resolve();
      const pump = (thenEnd: boolean) => {
        chain = chain.then(async () => {
          for (;;) {
            if (sink.closed) return;
            const lines = await readLines(c, job.id, last);
            for (const l of lines) sink.send({ event: "line", id: l.seq, data: l });
            if (lines.length > 0) last = lines.at(-1)?.seq ?? last;
            if (lines.length < PAGE) break;
          }
          if (thenEnd && !sink.closed) {
            const final = await findJob(c.services.db, job.id);
            if (final) sink.send({ event: "end", data: jobJson(final) });
            sink.close();
          }
        });
        return chain;
      };
      const unsubscribe = c.services.events.subscribe((event) => {
        if (event.type === "job.log" && event.jobId === job.id) void pump(false);
        else if (event.type === "job.updated" && event.jobId === job.id && FINAL.has(event.status)) void pump(true);
        else if (event.type === "job.step" && event.jobId === job.id) sink.send({ event: "step", data: event });
      });
      sink.onClose(unsubscribe);
      const current = await findJob(c.services.db, job.id);
      await pump(FINAL.has(current?.status ?? "failed"));
    });
  });

  r.get("/api/v1/jobs", { auth: "viewer" }, async (c) => {
    requireRole(c, "viewer");
    const q = readQuery(c, z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }));
    const rows = await listJobs(c.services.db, q.limit);
    return Response.json({ jobs: rows.map(jobJson) });
  });
}
