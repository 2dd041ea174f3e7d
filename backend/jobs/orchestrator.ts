import { and, asc, eq, inArray, lt, sql } from "drizzle-orm";
import { findAppById } from "../db/queries/apps.ts";
import { type App, type Job, type JobKind, jobSteps, jobs, type StepStatus } from "../db/schema/index.ts";
import type { Services } from "../services.ts";
import { JobLogWriter } from "./log-writer.ts";

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

/**
 * Jobs live in the database. Any panel instance may claim a queued one (FOR UPDATE SKIP LOCKED);
 * a partial unique index keeps one running job per app; heartbeats let a restarted panel tell
 * a dead job from a slow one.
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

  constructor(
    private readonly services: Services,
    private readonly handlers: Partial<Record<JobKind, JobHandler>>,
    options: OrchestratorOptions = {},
  ) {
    this.workerId = options.workerId ?? `${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
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
      await Bun.sleep(250);
    }
    return true;
  }

  async enqueue(input: EnqueueInput): Promise<Job> {
    const handler = this.handlers[input.kind];
    if (!handler) throw new Error(`No handler for job kind ${input.kind}`);
    const { db } = this.services;
    const job = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(jobs)
        .values({
          kind: input.kind,
          appId: input.appId,
          params: input.params ?? {},
          createdBy: input.createdBy ?? null,
          trigger: input.trigger ?? "api",
        })
        .returning();
      const job = row as Job;
      const names = handler.steps(job);
      if (names.length > 0) await tx.insert(jobSteps).values(names.map((name, position) => ({ jobId: job.id, position, name })));
      return job;
    });
    await this.announce(job, "job.created");
    await this.services.database.notify(WAKE_CHANNEL, JSON.stringify({ wake: job.id }));
    return job;
  }

  /** Queued: cancelled at once. Running: its process tree is killed and its step undoes itself. */
  async cancel(jobId: string): Promise<Job | null> {
    const { db } = this.services;
    const [queued] = await db
      .update(jobs)
      .set({ status: "cancelled", finishedAt: new Date(), error: "Cancelled before it started." })
      .where(and(eq(jobs.id, jobId), eq(jobs.status, "queued")))
      .returning();
    if (queued) {
      await db.update(jobSteps).set({ status: "cancelled" }).where(eq(jobSteps.jobId, jobId));
      await this.announce(queued, "job.updated");
      return queued;
    }
    const [running] = await db
      .update(jobs)
      .set({ cancelRequested: 1 })
      .where(and(eq(jobs.id, jobId), eq(jobs.status, "running")))
      .returning();
    if (running) await this.services.database.notify(WAKE_CHANNEL, JSON.stringify({ cancel: jobId }));
    return running ?? null;
  }

  /** Resolves when the job reaches a final state (for the CLI and tests). */
  async waitFor(jobId: string, timeoutMs = 120_000): Promise<Job> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [job] = await this.services.db.select().from(jobs).where(eq(jobs.id, jobId));
      if (!job) throw new Error(`job ${jobId} not found`);
      if (job.status !== "queued" && job.status !== "running") return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms`);
      await Bun.sleep(50);
    }
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
        while (!this.stopped && !this.handingOver && this.running.size < this.concurrency) {
          const job = await this.claim();
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

  private async claim(): Promise<Job | null> {
    const { db } = this.services;
    try {
      return await db.transaction(async (tx) => {
        const [candidate] = await tx
          .select({ id: jobs.id })
          .from(jobs)
          .where(
            and(
              eq(jobs.status, "queued"),
              sql`(${jobs.appId} is null or not exists (select 1 from jobs r where r.app_id = ${jobs.appId} and r.status = 'running'))`,
            ),
          )
          .orderBy(asc(jobs.createdAt))
          .limit(1)
          .for("update", { skipLocked: true });
        if (!candidate) return null;
        const now = new Date();
        const [claimed] = await tx
          .update(jobs)
          .set({ status: "running", startedAt: now, heartbeatAt: now, workerId: this.workerId })
          .where(and(eq(jobs.id, candidate.id), eq(jobs.status, "queued")))
          .returning();
        return claimed ?? null;
      });
    } catch (error) {
      // Another instance started a job of the same app in the same instant: the unique index
      // refused ours; it stays queued and is claimed once that one ends.
      if (
        String((error as { code?: string }).code ?? (error as Error).message).includes("23505") ||
        /duplicate key/.test((error as Error).message)
      ) {
        return null;
      }
      throw error;
    }
  }

  private launch(job: Job): void {
    const controller = new AbortController();
    const done = this.execute(job, controller).finally(() => {
      this.running.delete(job.id);
      void this.tick();
    });
    this.running.set(job.id, { controller, done });
  }

  private async execute(job: Job, controller: AbortController): Promise<void> {
    const { db, log, events } = this.services;
    const handler = this.handlers[job.kind];
    const writer = new JobLogWriter(db, events, job.id);
    const app = job.appId ? await findAppById(db, job.appId) : null;
    await this.announce(job, "job.updated", app);
    let current: string | null = null;
    const stepRows = await db.select().from(jobSteps).where(eq(jobSteps.jobId, job.id)).orderBy(asc(jobSteps.position));
    const positionOf = (name: string) => stepRows.find((s) => s.name === name)?.position;

    const setStep = async (name: string, status: StepStatus, message: string | null = null) => {
      const now = new Date();
      let position = positionOf(name);
      if (position === undefined) {
        position = stepRows.length;
        const [row] = await db.insert(jobSteps).values({ jobId: job.id, position, name }).returning();
        if (row) stepRows.push(row);
      }
      await db
        .update(jobSteps)
        .set({
          status,
          message,
          ...(status === "running" ? { startedAt: now } : {}),
          ...(status !== "running" && status !== "pending" ? { finishedAt: now } : {}),
        })
        .where(and(eq(jobSteps.jobId, job.id), eq(jobSteps.name, name)));
      await events.publish({ type: "job.step", jobId: job.id, step: name, position, status });
    };

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
      step: async (name, fn) => {
        ctx.throwIfCancelled();
        current = name;
        await setStep(name, "running");
        const started = performance.now();
        try {
          const result = await fn();
          ctx.throwIfCancelled();
          writer.write(`✓ ${name} (${formatMs(performance.now() - started)})`, "system", name);
          await setStep(name, "succeeded");
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
    // Steps never reached are marked so the progress bar tells the truth.
    await db
      .update(jobSteps)
      .set({ status: status === "cancelled" ? "cancelled" : "skipped" })
      .where(and(eq(jobSteps.jobId, job.id), inArray(jobSteps.status, ["pending", "running"])));
    const [final] = await db
      .update(jobs)
      .set({ status, error, result, finishedAt: new Date(), heartbeatAt: new Date() })
      .where(eq(jobs.id, job.id))
      .returning();
    if (final) await this.announce(final, "job.updated", app);
    if (final && handler?.finished) {
      await handler.finished(final, this.services).catch((e: unknown) => log.error("job epilogue failed", { jobId: job.id, error: e }));
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.running.size === 0) return;
    try {
      await this.services.db
        .update(jobs)
        .set({ heartbeatAt: new Date() })
        .where(and(inArray(jobs.id, [...this.running.keys()]), eq(jobs.status, "running")));
    } catch (error) {
      this.services.log.warn("job heartbeat failed", { error });
    }
  }

  /** Running jobs whose panel died: failed, with the reason, so their app can move on. */
  async recoverStale(olderThanMs = this.staleMs): Promise<number> {
    const { db } = this.services;
    const cutoff = new Date(Date.now() - olderThanMs + 1);
    const stale = await db
      .update(jobs)
      .set({
        status: "failed",
        finishedAt: new Date(),
        error: "The panel stopped while this job was running (no heartbeat); it was marked failed at restart.",
      })
      .where(and(eq(jobs.status, "running"), lt(jobs.heartbeatAt, cutoff)))
      .returning();
    for (const job of stale) {
      await db
        .update(jobSteps)
        .set({ status: "failed", message: "Interrupted: the panel stopped." })
        .where(and(eq(jobSteps.jobId, job.id), eq(jobSteps.status, "running")));
      await db
        .update(jobSteps)
        .set({ status: "skipped" })
        .where(and(eq(jobSteps.jobId, job.id), eq(jobSteps.status, "pending")));
      this.services.log.warn("recovered stale job", { jobId: job.id, kind: job.kind });
      await this.announce(job, "job.updated");
    }
    return stale.length;
  }

  private async announce(job: Job, type: "job.created" | "job.updated", app?: App | null): Promise<void> {
    await this.services.events.publish({
      type,
      jobId: job.id,
      appId: job.appId,
      app: app?.name ?? null,
      kind: job.kind,
      status: job.status,
    });
  }
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
