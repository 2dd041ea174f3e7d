/**
 * One job's log, followed live: `GET /jobs/:id` for the job and its steps and, at the same time,
 * the newest page of the log (`GET /jobs/:id/logs?tail=N`); then, unless that page says the job
 * is over, the log stream after it (`GET /jobs/:id/logs?after=<seq>`, SSE) with `line` events
 * (id = seq), `step` events and a final `end`. Older pages go in front as the reader scrolls up
 * (`?before=<seq>`), so a 100,000-line log opens as fast as one page.
 *
 * Steps follow the step events exactly: the current step is the one the latest `job.step` event
 * says is running, and timings are only ever the server's (each step's startedAt/finishedAt from
 * `GET /jobs/:id`, fetched again after every step event), never the time an event arrived.
 *
 * Lines live in a plain array that is never made reactive (100,000 proxied objects would make
 * every push slow); a `version` counter, bumped at most every 50 ms, tells views to redraw.
 */
import { untrack } from "svelte";
import { API_BASE, ApiError, getJob, jobLogPage } from "#lib/api/client.ts";
import { subscribe } from "#lib/api/sse.ts";
import type { EventOf, Job, JobStep, LogLine, StepStatus } from "#lib/api/types.ts";
import { mergeSteps, type StepEvent } from "#lib/steps.ts";

export type JobLogPhase = "loading" | "streaming" | "done" | "error";

const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const FLUSH_MS = 50;
const PAGE = 1000;
/** Pages asked for when the whole log is wanted (a search). */
const BIG_PAGE = 5000;

export class JobLog {
  readonly jobId: string;
  /** The lines loaded so far (the newest pages and what followed), in seq order. Read it after reading `version`. */
  readonly lines: LogLine[] = [];

  #version = $state(0);
  /** Lines put in front of `lines` so far (older pages). */
  #prepended = $state(0);
  /** Lines of the log before the first loaded one (lines are numbered from 1 by seq). */
  #offset = $state(0);
  #more = $state(false);
  #loadingOlder = $state(false);
  #job = $state<Job | null>(null);
  /** The steps as the server last listed them. */
  #listed = $state.raw<JobStep[]>([]);
  /** The latest step event of each step, in the order they first arrived. */
  #events = $state.raw<StepEvent[]>([]);
  /** The step the latest step event said is running; null once that step finished. */
  #current = $state<string | null>(null);
  #steps = $derived.by(() => mergeSteps(this.#listed, this.#events));
  #phase = $state<JobLogPhase>("loading");
  #error = $state<ApiError | null>(null);
  #connected = $state(false);

  #lastSeq = 0;
  /** The older page on its way, if any. */
  #older: Promise<boolean> | null = null;
  #loadingAll = false;
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #detailTimer: ReturnType<typeof setTimeout> | null = null;
  #detailBusy = false;
  #detailAgain = false;
  #stopStream: (() => void) | null = null;
  #controller = new AbortController();
  #closed = false;

  constructor(jobId: string) {
    this.jobId = jobId;
  }

  /** Bumped whenever `lines` grew. */
  get version(): number {
    return this.#version;
  }

  /** How many older lines went in front of `lines` (the viewer keeps its place). */
  get prepended(): number {
    return this.#prepended;
  }

  /** Lines before the first loaded one. */
  get offset(): number {
    return this.#offset;
  }

  /** Older lines can still be loaded. */
  get more(): boolean {
    return this.#more;
  }

  get loadingOlder(): boolean {
    return this.#loadingOlder;
  }

  /** The whole log as a text file, from the server (not only the loaded lines). */
  downloadUrl(): string {
    return `${API_BASE}/jobs/${encodeURIComponent(this.jobId)}/logs?download=1`;
  }

  /** Saves the whole log as `filename`. */
  download(filename: string): void {
    const a = document.createElement("a");
    a.href = this.downloadUrl();
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
  }

  get job(): Job | null {
    return this.#job;
  }

  get steps(): JobStep[] {
    return this.#steps;
  }

  /** The running step: the one the latest step event named, or the server's running one before any event. */
  get current(): string | null {
    if (this.#events.length > 0) return this.#current;
    return this.#listed.findLast((s) => s.status === "running")?.name ?? null;
  }

  get phase(): JobLogPhase {
    return this.#phase;
  }

  get error(): ApiError | null {
    return this.#error;
  }

  /** The live stream is open (false while reconnecting). */
  get connected(): boolean {
    return this.#connected;
  }

  get finished(): boolean {
    return this.#job ? FINAL.has(this.#job.status) : false;
  }

  /** Loads the job, then follows its log until the `end` event. Returns the cleanup. */
  open(): () => void {
    untrack(() => void this.#start());
    return () => this.close();
  }

  close(): void {
    this.#closed = true;
    this.#controller.abort();
    this.#stopStream?.();
    this.#stopStream = null;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    if (this.#detailTimer) clearTimeout(this.#detailTimer);
    this.#connected = false;
  }

  /** Loads every older line (for a search over the whole log), a page at a time; stops at an error. */
  async loadAll(): Promise<void> {
    if (this.#loadingAll) return;
    this.#loadingAll = true;
    try {
      while (this.#more && !this.#closed) {
        if (this.#older) await this.#older;
        else if (!(await this.loadOlder(BIG_PAGE))) return;
      }
    } finally {
      this.#loadingAll = false;
    }
  }

  /** Puts the page before the first loaded line in front; false when nothing could be loaded. */
  loadOlder(limit = PAGE): Promise<boolean> {
    if (this.#older) return this.#older;
    const first = this.lines[0];
    if (!this.#more || !first || this.#closed) return Promise.resolve(false);
    this.#loadingOlder = true;
    this.#older = (async () => {
      try {
        const page = await jobLogPage(this.jobId, { before: first.seq, limit }, { signal: this.#controller.signal });
        if (this.#closed || this.lines[0] !== first) return false;
        this.lines.unshift(...page.lines);
        this.#more = page.more;
        this.#offset = page.more ? Math.max(0, (this.lines[0]?.seq ?? 1) - 1) : 0;
        this.#prepended += page.lines.length;
        this.#version += 1;
        return page.lines.length > 0;
      } catch {
        // Scrolling up (or searching) again asks again.
        return false;
      } finally {
        this.#older = null;
        this.#loadingOlder = false;
      }
    })();
    return this.#older;
  }

  async #start(): Promise<void> {
    let after = 0;
    try {
      const signal = this.#controller.signal;
      const [detail, page] = await Promise.all([getJob(this.jobId, { signal }), jobLogPage(this.jobId, { limit: PAGE }, { signal })]);
      if (this.#closed) return;
      this.#job = FINAL.has(page.job.status) ? page.job : detail.job;
      this.#listed = detail.steps;
      this.lines.push(...page.lines);
      after = page.next;
      this.#lastSeq = page.next;
      this.#more = page.more;
      this.#offset = page.more ? Math.max(0, (page.lines[0]?.seq ?? 1) - 1) : 0;
      this.#version += 1;
      if (page.done) {
        // Over before the page was read: nothing follows, no stream to open.
        this.#phase = "done";
        // The steps may have been read just before the end.
        if (!FINAL.has(detail.job.status)) this.#scheduleDetail(0);
        return;
      }
    } catch (error) {
      if (this.#closed) return;
      this.#error = error instanceof ApiError ? error : new ApiError(0, "unknown", "Could not load this job.");
      this.#phase = "error";
      return;
    }
    this.#phase = "streaming";
    this.#stopStream = subscribe(
      `${API_BASE}/jobs/${encodeURIComponent(this.jobId)}/logs?after=${after}`,
      {
        onEvent: (type, data) => this.#onEvent(type, data),
        onStatus: (status) => {
          this.#connected = status === "open";
          // Step events are not replayed: what happened before (or while disconnected) comes from the server.
          if (status === "open") this.#scheduleDetail(0);
        },
      },
      { events: ["line", "step", "end"], resumeParam: "after", maxDelayMs: 8_000 },
    );
  }

  #onEvent(type: string, data: unknown): void {
    if (this.#closed) return;
    if (type === "line") {
      const line = data as LogLine;
      if (!line || typeof line.seq !== "number" || line.seq <= this.#lastSeq) return;
      this.#lastSeq = line.seq;
      this.lines.push(line);
      this.#scheduleFlush();
    } else if (type === "step") {
      const event = data as Partial<EventOf<"job.step">> | null;
      if (event?.step && event.status) this.#applyStep(event.step, event.status, event.position ?? Number.MAX_SAFE_INTEGER);
      this.#scheduleDetail();
    } else if (type === "end") {
      // The server closes the stream after this: stop before the helper tries to reconnect.
      this.#stopStream?.();
      this.#stopStream = null;
      this.#connected = false;
      const job = data as Job | null;
      if (job && typeof job === "object" && "status" in job) this.#job = job;
      this.#flush();
      this.#phase = "done";
      this.#scheduleDetail(0);
    }
  }

  #applyStep(step: string, status: StepStatus, position: number): void {
    const at = new Date().toISOString();
    this.#events = [...this.#events.filter((e) => e.step !== step), { step, status, position, at }];
    if (status === "running") this.#current = step;
    else if (this.#current === step) this.#current = null;
    if (this.#job && this.#job.status === "queued") this.#job = { ...this.#job, status: "running" };
  }

  #scheduleFlush(): void {
    this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS);
  }

  #flush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    this.#version += 1;
  }

  /**
   * Server timings and messages for the steps, a moment after a step changed; at once when asked
   * with no delay. A change while an answer is on its way asks again after it (that answer may be older).
   */
  #scheduleDetail(delay = 150): void {
    if (this.#detailBusy) {
      this.#detailAgain = true;
      return;
    }
    if (this.#detailTimer) {
      if (delay > 0) return;
      clearTimeout(this.#detailTimer);
    }
    this.#detailTimer = setTimeout(() => void this.#fetchDetail(), delay);
  }

  async #fetchDetail(): Promise<void> {
    this.#detailTimer = null;
    this.#detailBusy = true;
    try {
      const detail = await getJob(this.jobId, { signal: this.#controller.signal });
      if (this.#closed) return;
      if (!(this.#job && FINAL.has(this.#job.status) && !FINAL.has(detail.job.status))) this.#job = detail.job;
      this.#listed = detail.steps;
    } catch {
      // The stream keeps going; timings arrive with the next step.
    } finally {
      this.#detailBusy = false;
      if (this.#detailAgain && !this.#closed) {
        this.#detailAgain = false;
        this.#scheduleDetail(0);
      }
    }
  }
}
