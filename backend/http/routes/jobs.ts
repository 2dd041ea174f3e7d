import { z } from "zod";
import { findJob, listJobs, logLinesAfter, logLinesBefore, stepsOfJob } from "../../db/queries/jobs.ts";
import type { Job } from "../../db/schema/index.ts";
import { audit } from "../audit.ts";
import { type Context, readParams, readQuery } from "../context.ts";
import { badRequest, HttpError, notFound } from "../errors.ts";
import { requireRole } from "../middleware/auth.ts";
import type { Router } from "../router.ts";
import { jobJson, stepJson } from "../shapes.ts";
import { sseResponse, wantsEventStream } from "../sse.ts";

const idParam = z.object({ id: z.uuid({ error: "must be a job id" }) });
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const PAGE = 1000;
/** The largest JSON page a client may ask for. */
const MAX_PAGE = 5000;

async function loadJob(c: Context): Promise<Job> {
  const { id } = readParams(c, idParam);
  const job = await findJob(c.services.db, id);
  if (!job) throw notFound("Job");
  return job;
}

function readLines(c: Context, jobId: string, after: number, limit = PAGE) {
  return logLinesAfter(c.services.db, jobId, after, limit);
}

const seqParam = (what: string) => z.coerce.number({ error: `must be a line's seq` }).int(`must be a whole number`).min(0, what);
const flag = z.enum(["0", "1", "true", "false"], { error: "must be 1 or 0" }).transform((v) => v === "1" || v === "true");

const logQuery = z
  .object({
    after: seqParam("must be 0 or more").optional(),
    before: seqParam("must be 1 or more").min(1, "must be 1 or more").optional(),
    tail: z.coerce.number().int().min(1).max(MAX_PAGE).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(PAGE),
    download: flag.optional(),
  })
  .superRefine((q, ctx) => {
    const given = (["after", "before", "tail"] as const).filter((k) => q[k] !== undefined);
    if (given.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: [given[1] as string],
        message: `use only one of after, before and tail (got ${given.join(", ")})`,
      });
    }
  });

// CSI, OSC and two-byte escapes, then other control characters: the text as a person reads it.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escapes is the point
const ESCAPES = /\u001b\[[0-9;:?<=>]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]|\u009b[0-9;]*[@-~]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: other control characters are dropped
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
const plain = (line: string) =>
  (line.includes("\u001b") || line.includes("\u009b") ? line.replace(ESCAPES, "") : line).replace(CONTROL, "");

/** The whole log as a text file (escape sequences removed), read in batches as it is sent. */
function downloadLog(c: Context, job: Job): Response {
  const encoder = new TextEncoder();
  let after = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const lines = await logLinesAfter(c.services.db, job.id, after, 5000);
        if (lines.length > 0) {
          after = lines.at(-1)?.seq ?? after;
          controller.enqueue(encoder.encode(lines.map((l) => `${plain(l.line)}\n`).join("")));
        }
        if (lines.length < 5000) controller.close();
      } catch (error) {
        controller.error(error);
      }
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "content-disposition": `attachment; filename="${job.kind}-${job.id.slice(0, 8)}.log"`,
      "cache-control": "no-store",
    },
  });
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
   * JSON pages of lines: forward from `after` (default: from the first line), the newest `tail`
   * lines, or the `limit` lines before `before`, always in seq order. `download=1` sends the whole
   * log as a text file. With `Accept: text/event-stream` a stream that replays from Last-Event-ID
   * (or ?after) and then follows live. Lines are read back from the database in seq order on every
   * notification, so each line is sent exactly once, in order.
   */
  r.get("/api/v1/jobs/:id/logs", { auth: "viewer" }, async (c) => {
    const job = await loadJob(c);
    const q = readQuery(c, logQuery);
    const stream = wantsEventStream(c.req);
    if (stream && (q.before !== undefined || q.tail !== undefined || q.download)) {
      throw badRequest("The live stream starts after `after` or Last-Event-ID; before, tail and download are for JSON pages.");
    }
    if (q.download) return downloadLog(c, job);
    if (!stream && (q.before !== undefined || q.tail !== undefined)) {
      const page = await logLinesBefore(c.services.db, job.id, q.before ?? null, q.tail ?? q.limit);
      const next = page.lines.at(-1)?.seq ?? (q.before === undefined ? 0 : q.before - 1);
      return Response.json({
        job: jobJson(job),
        lines: page.lines,
        next,
        // The newest page of a finished job reaches its end (the status was read before the lines).
        done: q.before === undefined && FINAL.has(job.status),
        more: page.more,
      });
    }
    if (!stream) {
      const after = q.after ?? 0;
      const lines = await readLines(c, job.id, after, q.limit);
      return Response.json({
        job: jobJson(job),
        lines,
        next: lines.at(-1)?.seq ?? after,
        done: FINAL.has(job.status) && lines.length < q.limit,
      });
    }
    const lastEventId = Number(c.req.headers.get("last-event-id") ?? "");
    let last = Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : (q.after ?? 0);
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
