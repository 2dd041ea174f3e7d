/**
 * An app's runtime output (both slots, secrets masked by the server), as the Logs tab shows it:
 * the newest page first (`GET /apps/:app/logs`), older pages in front as the reader scrolls up,
 * and the live tail (SSE, `line` events whose id is the line's cursor) appended after it.
 *
 * Filters and search run on the server, so a 100,000-line log opens as fast as one page. Rows live
 * in a plain array that is never made reactive; `version` tells views to redraw and `prepended`
 * how many older rows went in front.
 */
import { untrack } from "svelte";
import { API_BASE, ApiError, type RuntimeLogQuery, runtimeLogs, runtimeLogsPath } from "#lib/api/client.ts";
import { subscribe } from "#lib/api/sse.ts";
import type { RuntimeLogLine, RuntimeLogStream, SlotColor } from "#lib/api/types.ts";

export interface RuntimeLogFilters {
  q: string;
  regex: boolean;
  slot: SlotColor | null;
  /** A release id. */
  release: string | null;
  stream: RuntimeLogStream | null;
  /** ISO times; `to` set means a past range (no live tail). */
  from: string | null;
  to: string | null;
}

export const NO_FILTERS: RuntimeLogFilters = { q: "", regex: false, slot: null, release: null, stream: null, from: null, to: null };

export interface RuntimeLogRow {
  line: string;
  stream: string;
  source: RuntimeLogLine;
}

const PAGE = 1000;
const FLUSH_MS = 50;
/** A tab left open on a chatty app keeps the newest lines only; older ones load again on scrolling up. */
const MAX_ROWS = 200_000;
const KEEP_ROWS = 150_000;

const pad = (n: number, width = 2) => String(n).padStart(width, "0");
const SLOT_STYLE: Record<SlotColor, string> = { blue: "\u001b[34m", green: "\u001b[32m" };

/** `2026-03-01 10:00:00.123 blue  v3 text`: time dimmed and the slot in its colour (ANSI, drawn by the viewer). */
export function formatRow(line: RuntimeLogLine, release: (id: string) => string): RuntimeLogRow {
  const d = new Date(line.at);
  const time = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const tag = line.releaseId ? release(line.releaseId) : "";
  return {
    source: line,
    stream: line.stream,
    line: `\u001b[2m${time}\u001b[0m ${SLOT_STYLE[line.slot]}${line.slot.padEnd(5)}\u001b[0m \u001b[2m${tag.padEnd(4)}\u001b[0m ${line.text}`,
  };
}

export class RuntimeLogs {
  readonly app: string;
  #rows: RuntimeLogRow[] = [];
  #version = $state(0);
  #prepended = $state(0);
  #phase = $state<"loading" | "ready" | "error">("loading");
  #error = $state<ApiError | null>(null);
  #more = $state(false);
  #loadingOlder = $state(false);
  #connected = $state(false);
  #paused = $state(false);
  #filters = $state.raw<RuntimeLogFilters>(NO_FILTERS);
  #before: string | null = null;
  #newest: string | null = null;
  #generation = 0;
  #controller = new AbortController();
  #stopStream: (() => void) | null = null;
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #opened = false;
  readonly #release: (id: string) => string;

  /** `release` names a release id for display (e.g. `v3`). */
  constructor(app: string, release: (id: string) => string = (id) => id.slice(0, 8)) {
    this.app = app;
    this.#release = release;
  }

  get lines(): readonly RuntimeLogRow[] {
    return this.#rows;
  }
  get version(): number {
    return this.#version;
  }
  get prepended(): number {
    return this.#prepended;
  }
  get phase() {
    return this.#phase;
  }
  get error(): ApiError | null {
    return this.#error;
  }
  /** Older lines exist before the first one loaded. */
  get more(): boolean {
    return this.#more;
  }
  get loadingOlder(): boolean {
    return this.#loadingOlder;
  }
  get filters(): RuntimeLogFilters {
    return this.#filters;
  }
  /** New lines are streaming in (not a past range, not paused). */
  get live(): boolean {
    return !this.#paused && !this.#filters.to;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get connected(): boolean {
    return this.#connected;
  }

  /** Loads the newest page and follows; returns the cleanup. */
  open(): () => void {
    this.#opened = true;
    untrack(() => void this.#reload());
    return () => this.close();
  }

  close(): void {
    this.#opened = false;
    this.#generation++;
    this.#controller.abort();
    this.#stopTail();
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
  }

  /** Changes filters and starts over from the newest matching page. */
  setFilters(change: Partial<RuntimeLogFilters>): void {
    this.#filters = { ...this.#filters, ...change };
    if (this.#opened) void this.#reload();
  }

  /** Pauses or resumes the live tail (resuming starts over from the newest page). */
  setPaused(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    if (!this.#opened) return;
    if (paused) this.#stopTail();
    else void this.#reload();
  }

  /** Draws the release names again (once the app's releases are known). */
  relabel(): void {
    if (this.#rows.length === 0) return;
    for (let i = 0; i < this.#rows.length; i++) this.#rows[i] = formatRow((this.#rows[i] as RuntimeLogRow).source, this.#release);
    this.#version++;
  }

  /** The filtered range as a file, from the server (everything kept, not only what is loaded). */
  downloadUrl(): string {
    return `${API_BASE}${runtimeLogsPath(this.app, { ...this.#query(), download: true })}`;
  }

  /** Puts the page before the first loaded line in front. */
  async loadOlder(): Promise<void> {
    if (!this.#more || this.#loadingOlder || !this.#before || this.#phase !== "ready") return;
    const generation = this.#generation;
    this.#loadingOlder = true;
    try {
      const page = await runtimeLogs(
        this.app,
        { ...this.#query(), before: this.#before, limit: PAGE },
        { signal: this.#controller.signal },
      );
      if (generation !== this.#generation) return;
      const rows = page.lines.map((l) => formatRow(l, this.#release));
      this.#rows.unshift(...rows);
      this.#before = page.before;
      this.#more = page.more;
      this.#prepended += rows.length;
      this.#version++;
    } catch (error) {
      if (generation === this.#generation) this.#error = asApiError(error);
    } finally {
      if (generation === this.#generation) this.#loadingOlder = false;
    }
  }

  #query(): RuntimeLogQuery {
    const f = this.#filters;
    return {
      q: f.q.trim(),
      regex: f.q.trim() ? f.regex : false,
      slot: f.slot,
      release: f.release,
      stream: f.stream,
      from: f.from,
      to: f.to,
    };
  }

  async #reload(): Promise<void> {
    const generation = ++this.#generation;
    this.#controller.abort();
    this.#controller = new AbortController();
    this.#stopTail();
    this.#rows = [];
    this.#prepended = 0;
    this.#version++;
    this.#phase = "loading";
    this.#error = null;
    this.#more = false;
    this.#loadingOlder = false;
    try {
      const page = await runtimeLogs(this.app, { ...this.#query(), limit: PAGE }, { signal: this.#controller.signal });
      if (generation !== this.#generation) return;
      this.#rows = page.lines.map((l) => formatRow(l, this.#release));
      this.#before = page.before;
      this.#more = page.more;
      this.#newest = page.lines.at(-1)?.id ?? null;
      this.#phase = "ready";
      this.#version++;
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#error = asApiError(error);
      this.#phase = "error";
      return;
    }
    if (this.live) this.#startTail(generation);
  }

  #startTail(generation: number): void {
    const url = `${API_BASE}${runtimeLogsPath(this.app, { ...this.#query(), after: this.#newest })}`;
    this.#stopStream = subscribe(
      url,
      {
        onEvent: (type, data) => {
          if (generation !== this.#generation) return;
          if (type === "stopped") {
            const problem = data as { code?: string; message?: string } | null;
            this.#error = new ApiError(400, problem?.code ?? "invalid_search", problem?.message ?? "The search stopped.");
            this.#stopTail();
            return;
          }
          const line = data as RuntimeLogLine | null;
          if (!line || typeof line.id !== "string") return;
          this.#newest = line.id;
          this.#rows.push(formatRow(line, this.#release));
          this.#scheduleFlush();
        },
        onStatus: (status) => {
          if (generation === this.#generation) this.#connected = status === "open";
        },
      },
      { events: ["line", "stopped"], resumeParam: "after", maxDelayMs: 8_000 },
    );
  }

  #stopTail(): void {
    this.#stopStream?.();
    this.#stopStream = null;
    this.#connected = false;
  }

  #scheduleFlush(): void {
    if (this.#flushTimer) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = null;
      if (this.#rows.length > MAX_ROWS) {
        this.#rows = this.#rows.slice(-KEEP_ROWS);
        this.#before = this.#rows[0]?.source.id ?? null;
        this.#more = true;
      }
      this.#version++;
    }, FLUSH_MS);
  }
}

function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, "unknown", "Could not load the runtime logs.");
}
