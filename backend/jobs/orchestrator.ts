import { hostname } from "node:os";
import { eq } from "drizzle-orm";
import { isAlive, processStartTime } from "../adapters/runtime/process-state.ts";
import { findAppById } from "../db/queries/apps.ts";
import { type App, type Job, type JobKind, jobs, type StepStatus } from "../db/schema/index.ts";
import type { Intent } from "../domain/deploy-state.ts";
import type { Services } from "../services.ts";
import { faultPoint } from "./fault.ts";
import { JobLogWriter } from "./log-writer.ts";
import * as store from "./store.ts";

export class JobCancelled extends Error {
  override name = "JobCancelled";
  constructor() {
    super("The job was cancelled.");
  }
}

/** A failure the user can act on; its message goes to the job's error and log as is. */
export class JobFailed extends Error {
  override name = "JobFailed";
  constructor(
    message: string,
    /** Kept as the job's result: what the job did before it failed (a self-update's revert, say). */
    readonly result: Record<string, unknown> | null = null,
  ) {
    super(message);
  }
}

export interface JobContext {
  readonly job: Job;
  readonly app: App | null;
  readonly services: Services;
  readonly signal: AbortSignal;
  /** A line in the job log, under the current step. */
  log(line: string, stream?: "stdout" | "stderr" | "system"): void;
  /** Runs one named step: marks it running, times it, and records how it ended. */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Marks a declared step skipped (with why), for steps a job does not need this time. */
  skip(name: string, why: string): Promise<void>;
  /**
   * Records what the current step is about to change outside the database, before it does
   * (null once the change is recorded): reconciliation after a crash finishes or undoes it.
   */
  intend(intent: Intent | null): Promise<void>;
  /** From now on every log line has these values replaced by ••••. */
  maskWith(mask: (text: string) => string): void;
  throwIfCancelled(): void;
}

export interface JobHandler {
  /** The steps shown (pending) from the moment the job is queued. */
  steps(job: Job): string[];
  run(ctx: JobContext): Promise<Record<string, unknown> | undefined>;
  /** After the job's final state is saved and announced (a self-update stops the old panel here). */
  finished?(job: Job, services: Services): Promise<void>;
}

export interface EnqueueInput {
  kind: JobKind;
  appId: string | null;
  /** Database jobs: one runs per database at a time. */
  databaseId?: string | null;
  /** issue-certificate jobs: one runs per certificate at a time. */
  certificateId?: string | null;
  params?: Record<string, unknown>;
  createdBy?: string | null;
  trigger?: string;
}

export interface OrchestratorOptions {
  workerId?: string;
  concurrency?: number;
  heartbeatMs?: number;
  /** A running job whose heartbeat is older than this belongs to a dead panel. */
  staleMs?: number;
  pollMs?: number;
}

const WAKE_CHANNEL = "switchyard_jobs";

/** `<host>:<pid>:<process start>`: a restarted panel can tell its dead predecessor's jobs at once. */
function workerIdentity(): string {
  return `${hostname()}:${process.pid}:${processStartTime(process.pid) ?? crypto.randomUUID().slice(0, 8)}`;
}

/** Workers on this machine whose process is gone (their jobs died with them). */
function deadLocalWorkers(workers: string[]): string[] {
  const host = hostname();
  return workers.filter((w) => {
    const [h, pid, start] = w.split(":");
    return h === host && pid !== undefined && !isAlive(Number(pid), start ?? null);
  });
}

/**
 * Jobs live in the database. Any panel instance may claim a queued one (FOR UPDATE SKIP LOCKED);
 * a partial unique index keeps one running job per app; heartbeats let a restarted panel tell
 * a dead job from a slow one. Every row it changes goes through the deploy-state store.
 */
export class Orchestrator {
  readonly workerId: string;
  private readonly concurrency: number;
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  private readonly pollMs: number;
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private unlisten: (() => Promise<void>) | null = null;
  private stopped = true;
  /** Set while another panel instance takes over (a self-update): jobs are left to it. */
  private handingOver = false;
  private claiming = false;
  private claimAgain = false;
  /** Called with the jobs found dead (their intents), before queued jobs are claimed again. */
  onRecovered: ((jobs: Job[]) => Promise<void>) | null = null;

  constructor(
    private readonly services: Services,
    private readonly handlers: Partial<Record<JobKind, JobHandler>>,
    options: OrchestratorOptions = {},
  ) {
    this.workerId = options.workerId ?? workerIdentity();
    this.concurrency = options.concurrency ?? 2;
    this.heartbeatMs = options.heartbeatMs ?? 5_000;
    this.staleMs = options.staleMs ?? 30_000;
    this.pollMs = options.pollMs ?? 2_000;
  }

  async start(): Promise<void> {
    this.stopped = false;
    // An embedded database is opened by one panel at a time: whatever it says is running died.
    await this.recoverStale(this.services.database.kind === "pglite" ? 0 : this.staleMs);
    this.unlisten = await this.services.database.listen(WAKE_CHANNEL, (payload) => this.onWake(payload));
    this.timers.push(setInterval(() => void this.heartbeat(), this.heartbeatMs));
    this.timers.push(setInterval(() => void this.tick(), this.pollMs));
    this.timers.push(setInterval(() => void this.recoverStale().catch(() => {}), this.staleMs));
    void this.tick();
  }

  /** Stops claiming; running jobs are cancelled and awaited (they undo what they started). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.unlisten?.().catch(() => {});
    for (const { controller } of this.running.values()) controller.abort();
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  /**
   * Stops (or, with false, resumes) claiming queued jobs, so they go to the other panel instance
   * that is taking over; jobs already running here go on.
   */
  handOver(on: boolean): void {
    this.handingOver = on;
    if (!on) void this.tick();
  }

  /** Resolves once no job but `except` runs here, or after `timeoutMs`. */
  async othersDone(except: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.running.keys()].some((id) => id !== except)) {
      if (Date.now() > deadline) return false;
      await Promise.race([...this.running.entries()].filter(([id]) => id !== except).map(([, r]) => r.done));
    }
    return true;
  }

  /**
   * Queues a job and, when this panel has a free worker and the app no running job, starts it
   * at once: a rollback to the warm standby must not wait for a poll or a notification.
   */
  async enqueue(input: EnqueueInput): Promise<Job> {
    const handler = this.handlers[input.kind];
    if (!handler) throw new Error(`No handler for job kind ${input.kind}`);
    const app = input.appId ? await findAppById(this.services.db, input.appId) : null;
    const draft = { kind: input.kind, appId: input.appId, params: input.params ?? {} } as Job;
    const job = await store.insertJob(this.services, input, handler.steps(draft), app?.name);
    if (this.canClaim()) {
      const claimed = await store.claimJob(this.services, this.workerId, job.id);
      if (claimed) {
        this.launch(claimed, app);
        return claimed;
      }
    }
    await this.services.database.notify(WAKE_CHANNEL, JSON.stringify({ wake: job.id }));
    return job;
  }

  /**
   * Runs a job in this panel right now, bypassing the queue, when its app has no running or
   * queued job: `first` runs before anything else of the job (a warm rollback moves traffic
   * there), with `intent` already recorded. Null when the job cannot start now.
   */
  async runNow(input: EnqueueInput, intent: Intent, first: () => Promise<void>): Promise<Job | null> {
    const handler = this.handlers[input.kind];
    if (!handler || !this.canClaim()) return null;
    const draft = { kind: input.kind, appId: input.appId, params: input.params ?? {} } as Job;
    const job = await store.insertRunningJob(this.services, input, handler.steps(draft), this.workerId, intent);
    if (!job) return null;
    try {
      await first();
    } finally {
      this.launch(job);
    }
    return job;
  }

  /** Queued: cancelled at once. Running: its process tree is killed and its steps undo themselves. */
  async cancel(jobId: string): Promise<Job | null> {
    const outcome = await store.requestCancel(this.services, jobId);
    if (outcome && !outcome.queued) {
      this.running.get(jobId)?.controller.abort();
      await this.services.database.notify(WAKE_CHANNEL, JSON.stringify({ cancel: jobId }));
    }
    return outcome?.job ?? null;
  }

  /** Resolves when the job reaches a final state (for the CLI and tests). */
  async waitFor(jobId: string, timeoutMs = 120_000): Promise<Job> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const local = this.running.get(jobId);
      if (local) await Promise.race([local.done, Bun.sleep(Math.max(0, Math.min(1_000, deadline - Date.now())))]);
      const [job] = await this.services.db.select().from(jobs).where(eq(jobs.id, jobId));
      if (!job) throw new Error(`job ${jobId} not found`);
      if (job.status !== "queued" && job.status !== "running") return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms`);
      if (!local) await Bun.sleep(50);
    }
  }

  private canClaim(): boolean {
    return !this.stopped && !this.handingOver && this.running.size < this.concurrency;
  }

  private onWake(payload: string): void {
    let message: { wake?: string; cancel?: string };
    try {
      message = JSON.parse(payload);
    } catch {
      return;
    }
    if (message.cancel) this.running.get(message.cancel)?.controller.abort();
    else void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = true;
    try {
      do {
        this.claimAgain = false;
        while (this.canClaim()) {
          const job = await store.claimJob(this.services, this.workerId);
          if (!job) break;
          this.launch(job);
        }
      } while (this.claimAgain && !this.stopped);
    } catch (error) {
      this.services.log.error("job claim failed", { error });
    } finally {
      this.claiming = false;
    }
  }

  private launch(job: Job, app?: App | null): void {
    const controller = new AbortController();
    const done = this.execute(job, controller, app).finally(() => {
      this.running.delete(job.id);
      void this.tick();
    });
    this.running.set(job.id, { controller, done });
  }

  private async execute(job: Job, controller: AbortController, known?: App | null): Promise<void> {
    const { db, log, events } = this.services;
    const handler = this.handlers[job.kind];
    const writer = new JobLogWriter(db, events, job.id);
    const app = known !== undefined ? known : job.appId ? await findAppById(db, job.appId) : null;
    await store.announceJob(this.services, job, app?.name);
    let current: string | null = null;
    const setStep = (name: string, status: StepStatus, message: string | null = null) =>
      store.setStep(this.services, job.id, name, status, message);

    const ctx: JobContext = {
      job,
      app,
      services: this.services,
      signal: controller.signal,
      log: (line, stream = "system") => writer.write(line, stream, current),
      maskWith: (mask) => writer.setMask(mask),
      throwIfCancelled: () => {
        if (controller.signal.aborted) throw new JobCancelled();
      },
      skip: (name, why) => setStep(name, "skipped", why),
      intend: (intent) => store.setIntent(this.services, job.id, intent),
      step: async (name, fn) => {
        ctx.throwIfCancelled();
        faultPoint(`before:${name}`);
        current = name;
        await setStep(name, "running");
        const started = performance.now();
        try {
          const result = await fn();
          ctx.throwIfCancelled();
          writer.write(`✓ ${name} (${formatMs(performance.now() - started)})`, "system", name);
          await setStep(name, "succeeded");
          faultPoint(`after:${name}`);
          return result;
        } catch (error) {
          const cancelled = controller.signal.aborted || error instanceof JobCancelled;
          const message = cancelled ? "Cancelled." : (error as Error).message;
          writer.write(`✗ ${name}: ${message}`, "system", name);
          await setStep(name, cancelled ? "cancelled" : "failed", message.slice(0, 2000));
          throw cancelled ? new JobCancelled() : error;
        } finally {
          current = null;
        }
      },
    };

    let status: "succeeded" | "failed" | "cancelled" = "succeeded";
    let error: string | null = null;
    let result: Record<string, unknown> | null = null;
    try {
      if (!handler) throw new JobFailed(`No handler for job kind ${job.kind}.`);
      result = (await handler.run(ctx)) ?? null;
    } catch (e) {
      status = controller.signal.aborted || e instanceof JobCancelled ? "cancelled" : "failed";
      error = status === "cancelled" ? "Cancelled." : (e as Error).message;
      if (e instanceof JobFailed) result = e.result;
      if (!(e instanceof JobFailed) && !(e instanceof JobCancelled) && status === "failed") {
        log.error("job failed unexpectedly", { jobId: job.id, kind: job.kind, error: e });
      }
      writer.write(status === "cancelled" ? "Job cancelled." : `Job failed: ${error}`, "system");
    }
    await writer.flush().catch((e: unknown) => log.error("job log flush failed", { jobId: job.id, error: e }));
    const final = await store.finishJob(this.services, job.id, { status, error, result }, app?.name);
    if (final && handler?.finished) {
      await handler.finished(final, this.services).catch((e: unknown) => log.error("job epilogue failed", { jobId: job.id, error: e }));
    }
  }

  private async heartbeat(): Promise<void> {
    try {
      await store.heartbeat(this.services, [...this.running.keys()]);
    } catch (error) {
      this.services.log.warn("job heartbeat failed", { error });
    }
  }

  /**
   * Running jobs whose panel died — no heartbeat for `olderThanMs`, or a worker on this machine
   * whose process is gone — are failed with the reason; what they were changing is then
   * finished or undone (onRecovered, see reconcile.ts).
   */
  async recoverStale(olderThanMs = this.staleMs): Promise<number> {
    const cutoff = new Date(Date.now() - olderThanMs + 1);
    const dead = deadLocalWorkers((await store.runningWorkers(this.services)).filter((w) => w !== this.workerId));
    const stale = (await store.failStaleJobs(this.services, cutoff, dead)).filter((j) => !this.running.has(j.id));
    for (const job of stale) this.services.log.warn("recovered a job its panel left running", { jobId: job.id, kind: job.kind });
    if (stale.length > 0 && this.onRecovered) await this.onRecovered(stale);
    return stale.length;
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
