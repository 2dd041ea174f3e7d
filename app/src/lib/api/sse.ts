/**
 * The one Server-Sent Events helper. It owns the EventSource and its lifecycle:
 *
 *  - reconnects by itself with exponential back-off (1 s, 2 s, 4 s … capped at 15 s, with jitter),
 *    so a missing endpoint (404) or a restarting server is retried quietly, not hammered;
 *  - remembers the last event id and resumes from it (`?after=<id>` on reconnect, since a fresh
 *    EventSource cannot send the Last-Event-ID header itself);
 *  - parses JSON data (falls back to the raw string);
 *  - reports `connecting` → `open` → `offline` so the UI can say "reconnecting…".
 */
import { EVENT_TYPES, READY_EVENT } from "$contract/events.ts";

export type SseStatus = "connecting" | "open" | "offline";

export interface SubscribeHandlers {
  onEvent: (type: string, data: unknown, id: string | null) => void;
  onStatus?: (status: SseStatus) => void;
}

export interface SubscribeOptions {
  /** Named event types to listen for; unnamed events arrive as "message". */
  events?: readonly string[];
  /** Query parameter that carries the last seen id on reconnect; `null` to not send it. */
  resumeParam?: string | null;
  /** Back-off ceiling in ms. */
  maxDelayMs?: number;
}

/** Every event the panel stream (`/api/v1/events`) publishes: the contract's list and its greeting. */
export const PANEL_EVENTS: readonly string[] = [READY_EVENT, ...EVENT_TYPES];

const BASE_DELAY_MS = 1_000;

export function subscribe(url: string, handlers: SubscribeHandlers, options: SubscribeOptions = {}): () => void {
  const events = options.events ?? PANEL_EVENTS;
  const resumeParam = options.resumeParam === undefined ? "after" : options.resumeParam;
  const maxDelay = options.maxDelayMs ?? 15_000;

  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let attempt = 0;
  let lastEventId: string | null = null;
  let stopped = false;
  let status: SseStatus | null = null;

  const setStatus = (next: SseStatus) => {
    if (next === status) return;
    status = next;
    handlers.onStatus?.(next);
  };

  const dispatch = (type: string) => (event: Event) => {
    const message = event as MessageEvent<string>;
    if (message.lastEventId) lastEventId = message.lastEventId;
    let data: unknown = message.data;
    if (typeof message.data === "string" && message.data !== "") {
      try {
        data = JSON.parse(message.data);
      } catch {
        data = message.data;
      }
    }
    try {
      handlers.onEvent(type, data, message.lastEventId || null);
    } catch (error) {
      console.error(`SSE handler for "${type}" failed`, error);
    }
  };

  const close = () => {
    if (!source) return;
    source.onopen = null;
    source.onerror = null;
    source.close();
    source = null;
  };

  const connect = () => {
    timer = null;
    if (stopped) return;
    close();
    setStatus("connecting");
    const target = new URL(url, window.location.href);
    if (lastEventId && resumeParam) target.searchParams.set(resumeParam, lastEventId);

    const es = new EventSource(target, { withCredentials: false });
    source = es;
    es.onopen = () => {
      attempt = 0;
      setStatus("open");
    };
    es.addEventListener("message", dispatch("message"));
    for (const type of events) es.addEventListener(type, dispatch(type));
    // We own reconnection (the browser's own gives up for good on a 404 and cannot back off).
    es.onerror = () => {
      if (source !== es) return;
      close();
      setStatus("offline");
      schedule();
    };
  };

  const schedule = (delay?: number) => {
    if (stopped || timer) return;
    const ceiling = Math.min(maxDelay, BASE_DELAY_MS * 2 ** attempt);
    attempt += 1;
    const wait = delay ?? Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    timer = setTimeout(connect, wait);
  };

  // The network came back: do not wait out the back-off.
  const onOnline = () => {
    if (stopped || status === "open") return;
    if (timer) clearTimeout(timer);
    timer = null;
    attempt = 0;
    connect();
  };
  const onOffline = () => {
    if (stopped) return;
    close();
    setStatus("offline");
    if (timer) clearTimeout(timer);
    timer = null;
    schedule();
  };
  window.addEventListener("online", onOnline);
  window.addEventListener("offline", onOffline);

  connect();

  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = null;
    window.removeEventListener("online", onOnline);
    window.removeEventListener("offline", onOffline);
    close();
  };
}
