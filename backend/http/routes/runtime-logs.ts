import { z } from "zod";
import type { LogFilter, LogFollower, LogStart, RuntimeLogReader } from "../../adapters/runtime-logs/types.ts";
import { LOG_STREAMS, type RuntimeLogLine } from "../../contract/api.ts";
import { listReleases } from "../../db/queries/apps.ts";
import { findRelease } from "../../db/queries/releases.ts";
import type { App } from "../../db/schema/index.ts";
import { SLOT_COLORS } from "../../domain/apps.ts";
import { createMatcher, type Matcher, SearchError } from "../../domain/log-search.ts";
import { type Context, readQuery } from "../context.ts";
import { badRequest, HttpError } from "../errors.ts";
import type { Router } from "../router.ts";
import { sseResponse, wantsEventStream } from "../sse.ts";
import { loadApp } from "./apps.ts";

/** ISO 8601 or epoch milliseconds. */
const instant = z
  .string()
  .trim()
  .transform((text, ctx) => {
    const date = /^\d{1,15}$/.test(text) ? new Date(Number(text)) : /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : null;
    if (!date || Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: "custom", message: "must be an ISO 8601 time or epoch milliseconds" });
      return z.NEVER;
    }
    return date;
  });
const flag = z.enum(["0", "1", "true", "false"], { error: "must be 1 or 0" }).transform((v) => v === "1" || v === "true");
const cursor = z.string().max(700);

const logQuery = z.object({
  from: instant.optional(),
  to: instant.optional(),
  q: z.string().max(500).optional(),
  regex: flag.optional(),
  slot: z.enum(SLOT_COLORS, { error: "must be blue or green" }).optional(),
  release: z.string().trim().max(64).optional(),
  stream: z.enum(LOG_STREAMS, { error: `must be one of ${LOG_STREAMS.join(", ")}` }).optional(),
  process: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,29}(\.\d{1,2})?$/, "must be a process type (worker) or one instance of it (worker.2)")
    .optional(),
  before: cursor.optional(),
  after: cursor.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
  download: flag.optional(),
});
type LogQuery = z.output<typeof logQuery>;

/** How often the live tail looks for new lines: files are cheap to check; the journal costs a helper call. */
const TAIL_MS = { files: 200, journal: 500 } as const;

function checkCursor(reader: RuntimeLogReader, value: string | undefined, name: string): string | null {
  if (value === undefined || value === "") return null;
  if (!reader.isCursor(value)) throw badRequest(`${name} is not a cursor of this log (use a line's id).`);
  return value;
}

/** A release by id or by number (`3` or `v3`). */
async function releaseId(c: Context, app: App, value: string): Promise<string> {
  const number = /^v?(\d{1,9})$/i.exec(value);
  if (number) {
    const found = (await listReleases(c.services.db, app.id, 100_000)).find((r) => r.number === Number(number[1]));
    if (found) return found.id;
  } else {
    const found = await findRelease(c.services.db, app.id, value);
    if (found) return found.id;
  }
  throw badRequest(`release: ${app.name} has no release ${value}.`);
}

function searchError(error: unknown): never {
  if (error instanceof SearchError) throw new HttpError(400, "invalid_search", error.message);
  throw error;
}

async function filterOf(c: Context, app: App, q: LogQuery): Promise<{ filter: LogFilter; matcher: Matcher | null }> {
  if (q.from && q.to && q.from > q.to) throw badRequest("from must not be later than to.");
  let matcher: Matcher | null = null;
  if (q.q) {
    try {
      matcher = createMatcher(q.q, { regex: q.regex ?? false });
    } catch (error) {
      searchError(error);
    }
  } else if (q.regex) {
    throw badRequest("regex=1 needs a pattern in q.");
  }
  const filter: LogFilter = {
    from: q.from ?? null,
    to: q.to ?? null,
    slot: q.slot ?? null,
    releaseId: q.release ? await releaseId(c, app, q.release) : null,
    stream: q.stream ?? null,
    process: q.process ?? null,
    match: matcher ? (text) => (matcher as Matcher).test(text) : null,
  };
  return { filter, matcher };
}

function textLine(line: RuntimeLogLine, numbers: Map<string, number>): string {
  const release = line.releaseId ? `v${numbers.get(line.releaseId) ?? "?"}` : "-";
  const process = line.process && line.process !== "web" ? `:${line.process}` : "";
  return `${line.at} ${line.slot} ${release} ${line.stream}${process} ${line.text}\n`;
}

/** The filtered range as a text file, read forward and written as it is read. */
async function download(c: Context, app: App, reader: RuntimeLogReader, filter: LogFilter): Promise<Response> {
  const numbers = new Map((await listReleases(c.services.db, app.id, 100_000)).map((r) => [r.id, r.number]));
  const follower: LogFollower = await reader.follow(app.name, filter, { at: filter.from });
  const encoder = new TextEncoder();
  // The first batch is read before answering, so a search that fails is a 400 and not a cut file.
  const first = await follower.poll(5000).catch(searchError);
  let pending: typeof first | null = first;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const batch = pending ?? (await follower.poll(5000));
        pending = null;
        if (batch.lines.length > 0) controller.enqueue(encoder.encode(batch.lines.map((l) => textLine(l, numbers)).join("")));
        if (!batch.more) controller.close();
      } catch (error) {
        controller.error(error);
      }
    },
  });
  const stamp = new Date().toISOString().slice(0, 19).replaceAll(":", "");
  return new Response(body, {
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "content-disposition": `attachment; filename="${app.name}-runtime-${stamp}.log"`,
      "cache-control": "no-store",
    },
  });
}

export function runtimeLogRoutes(r: Router): void {
  /**
   * An app's runtime output, both slots, secrets masked: JSON pages newest first (`before` pages
   * back), a live tail with `Accept: text/event-stream` (resuming after Last-Event-ID or `after`),
   * or the filtered range as a file with `download=1`.
   */
  r.get("/api/v1/apps/:app/logs", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const q = readQuery(c, logQuery);
    const reader = c.services.runtime.logReader;
    const { filter, matcher } = await filterOf(c, app, q);
    const before = checkCursor(reader, q.before, "before");

    if (wantsEventStream(c.req)) {
      const header = c.req.headers.get("last-event-id") ?? undefined;
      const after = checkCursor(reader, header || q.after, header ? "Last-Event-ID" : "after");
      const start: LogStart = after ? { after } : filter.from ? { at: filter.from } : "end";
      const follower = await reader.follow(app.name, filter, start).catch(searchError);
      const every = TAIL_MS[reader.kind];
      return sseResponse(c, async (sink) => {
        let timer: ReturnType<typeof setTimeout> | null = null;
        sink.onClose(() => {
          if (timer) clearTimeout(timer);
        });
        const tick = async () => {
          try {
            for (;;) {
              matcher?.reset();
              const batch = await follower.poll(1000);
              for (const line of batch.lines) {
                if (sink.closed) return;
                sink.send({ event: "line", id: line.id, data: line });
              }
              if (!batch.more) break;
            }
          } catch (error) {
            if (!(error instanceof SearchError)) throw error;
            sink.send({ event: "stopped", data: { code: "invalid_search", message: error.message } });
            sink.close();
          }
          if (!sink.closed) timer = setTimeout(() => void tick().catch(() => sink.close()), every);
        };
        await tick();
      });
    }

    if (q.download) return download(c, app, reader, filter);

    const page = await reader.page(app.name, filter, { before, limit: q.limit }).catch(searchError);
    return Response.json(page);
  });
}
