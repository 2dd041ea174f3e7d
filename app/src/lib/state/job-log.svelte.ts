/**
 * One job's log, followed live: `GET /jobs/:id` for the job and its steps, then the log stream
 * (`GET /jobs/:id/logs`, SSE) with `line` events (id = seq), `step` events and a final `end`.
 *
 * Steps follow the step events exactly: the current step is the one the latest `job.step` event
 * says is running, and timings are only ever the server's (each step's startedAt/finishedAt from
 * `GET /jobs/:id`, fetched again after every step event), never the time an event arrived.
 *
 * Lines live in a plain array that is never made reactive (100,000 proxied objects would make
 * every push slow); a `version` counter, bumped at most every 50 ms, tells views to redraw.
 */
import { untrack } from "svelte";
import { API_BASE, ApiError, getJob } from "#lib/api/client.ts";
import { subscribe } from "#lib/api/sse.ts";
import type { EventOf, Job, JobStep, LogLine, StepStatus } from "#lib/api/types.ts";
import { mergeSteps, type StepEvent } from "#lib/steps.ts";

export type JobLogPhase = "loading" | "streaming" | "done" | "error";

const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const FLUSH_MS = 50;

export class JobLog {
  readonly jobId: string;
  /** Every line so far, in seq order. Read it after reading `version`. */
  readonly lines: LogLine[] = [];

  #version = $state(0);
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

  /** The whole log as text (escape sequences removed by the caller if wanted). */
  text(transform: (line: string) => string = (l) => l): string {
    let out = "";
    for (const l of this.lines) out += `${transform(l.line)}\n`;
    return out;
  }

  async #start(): Promise<void> {
    try {
      const detail = await getJob(this.jobId, { signal: this.#controller.signal });
      if (this.#closed) return;
      this.#job = detail.job;
      this.#listed = detail.steps;
    } catch (error) {
      if (this.#closed) return;
      this.#error = error instanceof ApiError ? error : new ApiError(0, "unknown", "Could not load this job.");
      this.#phase = "error";
      return;
    }
    this.#phase = "streaming";
    this.#stopStream = subscribe(
      `${API_BASE}/jobs/${encodeURIComponent(this.jobId)}/logs`,
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
