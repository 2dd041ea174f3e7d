import type { Context } from "./context.ts";

export interface SseMessage {
  event?: string;
  id?: string | number;
  data: unknown;
}

export interface SseSink {
  send(message: SseMessage): void;
  close(): void;
  readonly closed: boolean;
  /** Runs when the stream ends, whoever ends it. */
  onClose(fn: () => void): void;
}

/**
 * Below Bun's idle timeout (10 s): a listener on a unix socket (the panel's slots behind nginx)
 * does not let a request lift it, and a quiet stream would be closed under its reader.
 */
const HEARTBEAT_MS = 8_000;
const encoder = new TextEncoder();
/** The open streams of each panel, ended properly when it stops. */
const open = new WeakMap<object, Set<() => void>>();

/**
 * Ends every event stream of a panel that is stopping, as a finished response (not a cut
 * connection): browsers reconnect after the `retry` delay, to whichever panel serves then.
 */
export function endEventStreams(services: object): void {
  for (const finish of [...(open.get(services) ?? [])]) finish();
}

/**
 * The one SSE helper: owns the headers, the heartbeat comments, refuses newlines in event names
 * and ids (they would forge fields), and always runs the cleanups once, however the stream ends.
 */
export function sseResponse(c: Context, start: (sink: SseSink) => void | Promise<void>): Response {
  c.server?.timeout(c.req, 0);
  const cleanups: Array<() => void> = [];
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | null = null;
  let closed = false;
  let heartbeat: ReturnType<typeof setInterval> | null = null;

  const streams = open.get(c.services) ?? new Set<() => void>();
  open.set(c.services, streams);
  const finish = () => {
    if (closed) return;
    closed = true;
    streams.delete(finish);
    if (heartbeat) clearInterval(heartbeat);
    for (const fn of cleanups.splice(0)) {
      try {
        fn();
      } catch {}
    }
    try {
      controllerRef?.close();
    } catch {}
  };
  const write = (text: string) => {
    if (closed || !controllerRef) return;
    try {
      controllerRef.enqueue(encoder.encode(text));
    } catch {
      finish();
    }
  };
  const sink: SseSink = {
    send({ event, id, data }) {
      if (event !== undefined && /[\r\n]/.test(event)) throw new Error("SSE event names cannot contain newlines");
      if (id !== undefined && /[\r\n]/.test(String(id))) throw new Error("SSE ids cannot contain newlines");
      const payload = typeof data === "string" ? data : JSON.stringify(data);
      let text = "";
      if (event) text += `event: ${event}\n`;
      if (id !== undefined) text += `id: ${id}\n`;
      for (const line of payload.split(/\r?\n/)) text += `data: ${line}\n`;
      write(`${text}\n`);
    },
    close: finish,
    get closed() {
      return closed;
    },
    onClose(fn) {
      if (closed) fn();
      else cleanups.push(fn);
    },
  };

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controllerRef = controller;
      streams.add(finish);
      write(": connected\nretry: 3000\n\n");
      heartbeat = setInterval(() => write(": keep-alive\n\n"), HEARTBEAT_MS);
      c.req.signal.addEventListener("abort", finish, { once: true });
      Promise.resolve(start(sink)).catch((error: unknown) => {
        c.services.log.error("SSE stream failed", { error, path: c.url.pathname });
        finish();
      });
    },
    cancel: finish,
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    },
  });
}

export function wantsEventStream(req: Request): boolean {
  return (req.headers.get("accept") ?? "").includes("text/event-stream");
}
