/**
 * One job's log, followed live: `GET /jobs/:id` for the job and its steps, then the log stream
 * (`GET /jobs/:id/logs`, SSE) with `line` events (id = seq), `step` events and a final `end`.
 *
 * Lines live in a plain array that is never made reactive (100,000 proxied objects would make
 * every push slow); a `version` counter, bumped at most every 50 ms, tells views to redraw.
 */
import { untrack } from "svelte";
import { API_BASE, ApiError, getJob } from "#lib/api/client.ts";
import { subscribe } from "#lib/api/sse.ts";
import type { Job, JobStep, LogLine, StepStatus } from "#lib/api/types.ts";

export type JobLogPhase = "loading" | "streaming" | "done" | "error";

const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const STEP_DONE = new Set<StepStatus>(["succeeded", "failed", "skipped", "cancelled"]);
const FLUSH_MS = 50;

export class JobLog {
  readonly jobId: string;
  /** Every line so far, in seq order. Read it after reading `version`. */
  readonly lines: LogLine[] = [];

  #version = $state(0);
  #job = $state<Job | null>(null);
  #steps = $state<JobStep[]>([]);
  #phase = $state<JobLogPhase>("loading");
  #error = $state<ApiError | null>(null);
  #connected = $state(false);

  #lastSeq = 0;
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #detailTimer: ReturnType<typeof setTimeout> | null = null;
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
      this.#steps = detail.steps;
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
      const event = data as { step?: string; status?: StepStatus; position?: number };
      if (event?.step && event.status) this.#applyStep(event.step, event.status, event.position);
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

  #applyStep(name: string, status: StepStatus, position?: number): void {
    const now = new Date().toISOString();
    const i = this.#steps.findIndex((s) => s.name === name);
    const base: JobStep =
      i === -1
        ? { name, status: "pending", message: null, startedAt: null, finishedAt: null, durationMs: null }
        : (this.#steps[i] as JobStep);
    const startedAt = base.startedAt ?? (status === "running" || STEP_DONE.has(status) ? now : null);
    const finishedAt = STEP_DONE.has(status) ? (base.finishedAt ?? now) : null;
    const next: JobStep = {
      ...base,
      status,
      startedAt,
      finishedAt,
      durationMs: startedAt && finishedAt ? Date.parse(finishedAt) - Date.parse(startedAt) : null,
    };
    if (i === -1) {
      const steps = [...this.#steps];
      steps.splice(position !== undefined ? Math.min(position, steps.length) : steps.length, 0, next);
      this.#steps = steps;
    } else {
      this.#steps[i] = next;
    }
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

  /** Server timings and messages for the steps, a moment after a step changed. */
  #scheduleDetail(delay = 400): void {
    if (this.#detailTimer) return;
    this.#detailTimer = setTimeout(async () => {
      this.#detailTimer = null;
      try {
        const detail = await getJob(this.jobId, { signal: this.#controller.signal });
        if (this.#closed) return;
        // Keep a step the stream already moved past what this (older) answer says.
        if (!(this.#job && FINAL.has(this.#job.status) && !FINAL.has(detail.job.status))) this.#job = detail.job;
        this.#steps = detail.steps.map((s) => {
          const live = this.#steps.find((x) => x.name === s.name);
          return live && rank(live.status) > rank(s.status) ? { ...s, status: live.status } : s;
        });
      } catch {
        // The stream keeps going; timings arrive with the next step.
      }
    }, delay);
  }
}

function rank(status: StepStatus): number {
  return status === "pending" ? 0 : status === "running" ? 1 : 2;
}
