/**
 * The one owner of deploy state: every write to slots, releases, builds, jobs and job steps (and
 * the app's status) happens here. Each write checks the transition table in domain/, takes the
 * rows' lock (SELECT … FOR UPDATE inside one transaction), and publishes the matching event once
 * the transaction is committed. Nothing else updates those tables.
 */
import { and, asc, desc, eq, inArray, isNull, lt, max, ne, or, sql } from "drizzle-orm";
import type { Color } from "../adapters/runtime/types.ts";
import type { Tx } from "../db/client.ts";
import {
  type App,
  type AppStatus,
  apps,
  builds,
  type Job,
  type JobKind,
  jobSteps,
  jobs,
  type Release,
  releases,
  type Slot,
  type StepStatus,
  type SwitchKind,
  slots,
  trafficSwitches,
} from "../db/schema/index.ts";
import { type Intent, type ReleaseEvent, releaseTransition, type SlotEvent, slotTransition } from "../domain/deploy-state.ts";
import type { Services } from "../services.ts";
import type { PanelEvent } from "./events.ts";

type S = Pick<Services, "db" | "events">;
type Exit = { code: number | null; signal: string | null; at: string };

/** Runs `fn` in a transaction, then publishes what it queued (only once committed). */
async function write<T>(s: S, fn: (tx: Tx, emit: (e: PanelEvent) => void) => Promise<T>): Promise<T> {
  const queued: PanelEvent[] = [];
  const result = await s.db.transaction((tx) => fn(tx as Tx, (e) => queued.push(e)));
  for (const event of queued) await s.events.publish(event);
  return result;
}

async function lockSlots(tx: Tx, appId: string): Promise<Slot[]> {
  return tx.select().from(slots).where(eq(slots.appId, appId)).orderBy(asc(slots.color)).for("update");
}

function slotEvent(app: App, slot: Slot): PanelEvent {
  return { type: "slot.updated", appId: app.id, app: app.name, color: slot.color, state: slot.state, releaseId: slot.releaseId };
}

async function moveRelease(tx: Tx, id: string, event: ReleaseEvent, extra: Partial<Release> = {}): Promise<Release | null> {
  const [row] = await tx.select().from(releases).where(eq(releases.id, id)).for("update");
  if (!row) return null;
  const status = releaseTransition(row.status, event);
  // Details add up (what the release recorded when it was made stays beside why it was reverted).
  const details = extra.details ? { ...(row.details ?? {}), ...extra.details } : undefined;
  const [updated] = await tx
    .update(releases)
    .set({ status, ...extra, ...(details ? { details } : {}) })
    .where(eq(releases.id, id))
    .returning();
  return updated ?? null;
}

async function updateSlot(tx: Tx, slot: Slot, event: SlotEvent, extra: Partial<Slot> = {}): Promise<Slot> {
  const state = slotTransition(slot.state, event);
  const [row] = await tx
    .update(slots)
    .set({ state, updatedAt: new Date(), ...(event === "start" ? { startedAt: new Date(), exits: null } : {}), ...extra })
    .where(eq(slots.id, slot.id))
    .returning();
  return row as Slot;
}

// ── slots ────────────────────────────────────────────────────────────────────────────────

/** One slot moves on `event` (checked against the transition table). */
export async function moveSlot(
  s: S,
  app: App,
  color: Color,
  event: SlotEvent,
  extra: { releaseId?: string | null; exits?: Exit[] | null } = {},
): Promise<Slot> {
  return write(s, async (tx, emit) => {
    const slot = (await lockSlots(tx, app.id)).find((r) => r.color === color);
    if (!slot) throw new Error(`app ${app.name} has no ${color} slot`);
    const row = await updateSlot(tx, slot, event, extra);
    emit(slotEvent(app, row));
    return row;
  });
}

/**
 * Records that traffic moved to `to` (running `releaseId`): it is live, the slot it came from
 * is the warm standby, and every other release that was live or standby is retired.
 */
export async function recordSwitch(
  s: S,
  app: App,
  input: { to: Color; releaseId: string; kind: Exclude<SwitchKind, "auto-rollback" | "stop">; at: Date; jobId: string | null },
): Promise<void> {
  await write(s, async (tx, emit) => {
    await tx
      .insert(trafficSwitches)
      .values({ appId: app.id, at: input.at, color: input.to, releaseId: input.releaseId, kind: input.kind, jobId: input.jobId });
    const rows = await lockSlots(tx, app.id);
    const target = rows.find((r) => r.color === input.to);
    const other = rows.find((r) => r.color !== input.to);
    if (!target || !other) throw new Error(`app ${app.name} has no ${input.to} slot`);
    const live = await updateSlot(tx, target, "promote", { releaseId: input.releaseId });
    emit(slotEvent(app, live));
    const kept = new Set([input.releaseId]);
    if (other.state === "live" || other.state === "draining") {
      const standby = await updateSlot(tx, other, "demote");
      emit(slotEvent(app, standby));
      if (other.releaseId && other.releaseId !== input.releaseId) {
        await moveRelease(tx, other.releaseId, "demote");
        kept.add(other.releaseId);
      }
    } else if (other.state === "standby" && other.releaseId) {
      kept.add(other.releaseId);
    }
    const stale = await tx
      .select({ id: releases.id })
      .from(releases)
      .where(and(eq(releases.appId, app.id), inArray(releases.status, ["live", "standby"])));
    for (const r of stale) if (!kept.has(r.id)) await moveRelease(tx, r.id, "retire");
    await moveRelease(tx, input.releaseId, "promote", { healthy: true, liveAt: new Date() });
    await tx.update(apps).set({ status: "live", updatedAt: new Date() }).where(eq(apps.id, app.id));
    emit({ type: "release.updated", appId: app.id, app: app.name, releaseId: input.releaseId, status: "live" });
    emit({ type: "app.updated", appId: app.id, app: app.name, status: "live" });
  });
}

/**
 * The post-switch watch took the traffic back: `to` (the previous release) is live again, the
 * slot it left is stopped, and the release that failed is marked rolled back with why.
 */
export async function recordRevert(
  s: S,
  app: App,
  input: { to: Color; releaseId: string; details: Record<string, unknown>; at: Date; jobId: string | null },
): Promise<void> {
  await write(s, async (tx, emit) => {
    const rows = await lockSlots(tx, app.id);
    const back = rows.find((r) => r.color === input.to);
    const bad = rows.find((r) => r.color !== input.to);
    if (!back || !bad) throw new Error(`app ${app.name} has no ${input.to} slot`);
    await tx
      .insert(trafficSwitches)
      .values({ appId: app.id, at: input.at, color: input.to, releaseId: back.releaseId, kind: "auto-rollback", jobId: input.jobId });
    emit(slotEvent(app, await updateSlot(tx, back, "promote")));
    emit(slotEvent(app, await updateSlot(tx, bad, "stop")));
    await moveRelease(tx, input.releaseId, "revert", { details: input.details });
    if (back.releaseId) await moveRelease(tx, back.releaseId, "promote");
    emit({ type: "release.updated", appId: app.id, app: app.name, releaseId: input.releaseId, status: "rolled_back" });
  });
}

/**
 * Reconciliation's verdict for an app: `live` is what nginx routes to (or null: nothing runs),
 * `running` which slots' processes are up. Rows are made to say exactly that.
 */
export async function recordTruth(
  s: S,
  app: App,
  input: {
    live: Color | null;
    running: Record<Color, boolean>;
    releaseOf: Record<Color, string | null>;
    /** What moved the traffic, when it moved without its switch being recorded. */
    kind?: Exclude<SwitchKind, "stop">;
    jobId?: string | null;
  },
): Promise<{ changed: number }> {
  return write(s, async (tx, emit) => {
    let changed = 0;
    const rows = await lockSlots(tx, app.id);
    if (input.live) {
      const releaseId = input.releaseOf[input.live] ?? rows.find((r) => r.color === input.live)?.releaseId ?? null;
      const [last] = await tx
        .select({ color: trafficSwitches.color, releaseId: trafficSwitches.releaseId })
        .from(trafficSwitches)
        .where(eq(trafficSwitches.appId, app.id))
        .orderBy(desc(trafficSwitches.at), desc(trafficSwitches.id))
        .limit(1);
      if (!last || last.color !== input.live || (releaseId && last.releaseId !== releaseId)) {
        await tx.insert(trafficSwitches).values({
          appId: app.id,
          at: new Date(),
          color: input.live,
          releaseId,
          kind: input.kind ?? "deploy",
          jobId: input.jobId ?? null,
        });
      }
    }
    for (const slot of rows) {
      const releaseId = input.releaseOf[slot.color] ?? slot.releaseId;
      let want: Slot["state"];
      if (slot.color === input.live) want = "live";
      else if (input.running[slot.color]) want = slot.state === "standby" || slot.state === "live" ? "standby" : "stopped";
      else want = slot.state === "empty" ? "empty" : slot.state === "crashed" || slot.state === "failed" ? slot.state : "stopped";
      if (want === slot.state && releaseId === slot.releaseId) continue;
      const [row] = await tx.update(slots).set({ state: want, releaseId, updatedAt: new Date() }).where(eq(slots.id, slot.id)).returning();
      if (row) emit(slotEvent(app, row));
      changed++;
    }
    const liveRelease = input.live ? (input.releaseOf[input.live] ?? rows.find((r) => r.color === input.live)?.releaseId) : null;
    if (liveRelease) {
      const [release] = await tx.select().from(releases).where(eq(releases.id, liveRelease));
      if (release && release.status !== "live") {
        await tx
          .update(releases)
          .set({ status: "live", healthy: true, liveAt: release.liveAt ?? new Date() })
          .where(eq(releases.id, liveRelease));
        await tx
          .update(releases)
          .set({ status: "retired" })
          .where(and(eq(releases.appId, app.id), eq(releases.status, "live"), ne(releases.id, liveRelease)));
        emit({ type: "release.updated", appId: app.id, app: app.name, releaseId: liveRelease, status: "live" });
        changed++;
      }
    }
    const status: AppStatus = input.live ? "live" : app.status === "live" || app.status === "building" ? "stopped" : app.status;
    if (status !== app.status) {
      await tx.update(apps).set({ status, updatedAt: new Date() }).where(eq(apps.id, app.id));
      emit({ type: "app.updated", appId: app.id, app: app.name, status });
      changed++;
    }
    return { changed };
  });
}

/** A slot whose process kept crashing: crashed, with its last exits; the app too when it was the live one. */
export async function recordCrash(s: S, app: App, color: Color, exits: Exit[]): Promise<Slot | null> {
  return write(s, async (tx, emit) => {
    const slot = (await lockSlots(tx, app.id)).find((r) => r.color === color);
    if (!slot || !["live", "standby", "starting", "draining"].includes(slot.state)) return null;
    const wasLive = slot.state === "live";
    const row = await updateSlot(tx, slot, "crash", { exits });
    emit(slotEvent(app, row));
    if (wasLive) {
      await tx.update(apps).set({ status: "crashed", updatedAt: new Date() }).where(eq(apps.id, app.id));
      emit({ type: "app.updated", appId: app.id, app: app.name, status: "crashed" });
    }
    return row;
  });
}

/** Both slots were stopped on purpose: from `at` on, no slot takes the app's traffic. */
export async function recordStop(s: S, app: App, input: { at: Date; jobId: string | null }): Promise<void> {
  await s.db
    .insert(trafficSwitches)
    .values({ appId: app.id, at: input.at, color: null, releaseId: null, kind: "stop", jobId: input.jobId });
}

export async function setAppStatus(s: S, app: App, status: AppStatus): Promise<void> {
  await write(s, async (tx, emit) => {
    await tx.update(apps).set({ status, updatedAt: new Date() }).where(eq(apps.id, app.id));
    emit({ type: "app.updated", appId: app.id, app: app.name, status });
  });
}

/** After a failed or cancelled deploy: live when a slot still serves, else failed. */
export async function settleAppStatus(s: S, appId: string): Promise<void> {
  await write(s, async (tx, emit) => {
    const [app] = await tx.select().from(apps).where(eq(apps.id, appId)).for("update");
    if (!app) return;
    const rows = await tx.select().from(slots).where(eq(slots.appId, appId));
    const status: AppStatus = rows.some((r) => r.state === "live") ? "live" : app.status === "building" ? "failed" : app.status;
    if (status === app.status) return;
    await tx.update(apps).set({ status, updatedAt: new Date() }).where(eq(apps.id, appId));
    emit({ type: "app.updated", appId, app: app.name, status });
  });
}

// ── builds and releases ──────────────────────────────────────────────────────────────────

export async function createBuild(s: S, appId: string, jobId: string): Promise<string> {
  const [row] = await s.db.insert(builds).values({ appId, jobId }).returning({ id: builds.id });
  if (!row) throw new Error("build insert returned nothing");
  return row.id;
}

export async function updateBuild(s: S, buildId: string, values: Partial<typeof builds.$inferInsert>): Promise<void> {
  await s.db.update(builds).set(values).where(eq(builds.id, buildId));
}

/** A new release numbered after the app's newest (under the app's row lock, so numbers never repeat). */
export async function createRelease(s: S, values: Omit<typeof releases.$inferInsert, "number">): Promise<Release> {
  return write(s, async (tx) => {
    await tx.select({ id: apps.id }).from(apps).where(eq(apps.id, values.appId)).for("update");
    const [top] = await tx
      .select({ n: max(releases.number) })
      .from(releases)
      .where(eq(releases.appId, values.appId));
    const [row] = await tx
      .insert(releases)
      .values({ ...values, number: (top?.n ?? 0) + 1 })
      .returning();
    if (!row) throw new Error("release insert returned nothing");
    return row;
  });
}

/** A release that never became healthy. */
export async function failRelease(s: S, releaseId: string): Promise<void> {
  await write(s, async (tx) => {
    const [row] = await tx.select().from(releases).where(eq(releases.id, releaseId)).for("update");
    if (row && !row.healthy && (row.status === "ready" || row.status === "failed")) await moveRelease(tx, releaseId, "fail");
  });
}

export async function markPruned(s: S, releaseId: string): Promise<void> {
  await s.db.update(releases).set({ pruned: true }).where(eq(releases.id, releaseId));
}

// ── jobs ─────────────────────────────────────────────────────────────────────────────────

export interface NewJob {
  kind: JobKind;
  appId: string | null;
  /** Database jobs (db-*): at most one runs per database at a time. */
  databaseId?: string | null;
  /** issue-certificate jobs: at most one runs per certificate at a time. */
  certificateId?: string | null;
  params?: Record<string, unknown>;
  createdBy?: string | null;
  trigger?: string;
}

function jobEvent(job: Job, type: "job.created" | "job.updated", appName?: string | null): PanelEvent {
  return { type, jobId: job.id, appId: job.appId, app: appName ?? null, kind: job.kind, status: job.status };
}

function jobValues(input: NewJob): typeof jobs.$inferInsert {
  return {
    kind: input.kind,
    appId: input.appId,
    databaseId: input.databaseId ?? null,
    certificateId: input.certificateId ?? null,
    params: input.params ?? {},
    createdBy: input.createdBy ?? null,
    trigger: input.trigger ?? "api",
  };
}

async function insertWithSteps(tx: Tx, values: typeof jobs.$inferInsert, stepNames: string[]): Promise<Job> {
  const [row] = await tx.insert(jobs).values(values).returning();
  const job = row as Job;
  if (stepNames.length > 0) await tx.insert(jobSteps).values(stepNames.map((name, position) => ({ jobId: job.id, position, name })));
  return job;
}

export async function insertJob(s: S, input: NewJob, stepNames: string[], appName?: string | null): Promise<Job> {
  return write(s, async (tx, emit) => {
    const job = await insertWithSteps(tx, jobValues(input), stepNames);
    emit(jobEvent(job, "job.created", appName));
    return job;
  });
}

/**
 * A job that starts at once in the calling panel, with its intent recorded in the same insert:
 * null when its app already has a running job (the partial unique index says so), or queued work
 * for the app would be overtaken.
 */
export async function insertRunningJob(
  s: S,
  input: NewJob,
  stepNames: string[],
  workerId: string,
  intent: Intent | null,
): Promise<Job | null> {
  try {
    return await s.db.transaction(async (tx) => {
      if (input.appId) {
        const [waiting] = await tx
          .select({ id: jobs.id })
          .from(jobs)
          .where(and(eq(jobs.appId, input.appId), eq(jobs.status, "queued")))
          .limit(1);
        if (waiting) return null;
      }
      const now = new Date();
      return insertWithSteps(tx, { ...jobValues(input), status: "running", startedAt: now, heartbeatAt: now, workerId, intent }, stepNames);
    });
  } catch (error) {
    if (isUniqueViolation(error)) return null;
    throw error;
  }
}

/**
 * Claims the oldest queued job (or the one given) whose app has no running job. The partial
 * unique index on running jobs per app settles a race between two panels: the loser gets null.
 */
export async function claimJob(s: S, workerId: string, only?: string): Promise<Job | null> {
  try {
    return await s.db.transaction(async (tx) => {
      const [candidate] = await tx
        .select({ id: jobs.id })
        .from(jobs)
        .where(
          and(
            eq(jobs.status, "queued"),
            only ? eq(jobs.id, only) : undefined,
            sql`(${jobs.appId} is null or not exists (select 1 from jobs r where r.app_id = ${jobs.appId} and r.status = 'running'))`,
            // Jobs of one app run in the order they were asked for.
            sql`(${jobs.appId} is null or not exists (select 1 from jobs q where q.app_id = ${jobs.appId} and q.status = 'queued' and q.created_at < ${jobs.createdAt}))`,
            // Likewise one running job per database, in order.
            sql`(${jobs.databaseId} is null or not exists (select 1 from jobs r where r.database_id = ${jobs.databaseId} and r.status = 'running'))`,
            sql`(${jobs.databaseId} is null or not exists (select 1 from jobs q where q.database_id = ${jobs.databaseId} and q.status = 'queued' and q.created_at < ${jobs.createdAt}))`,
            // And one running job per certificate (a renewal and a forced issue of the same one).
            sql`(${jobs.certificateId} is null or not exists (select 1 from jobs r where r.certificate_id = ${jobs.certificateId} and r.status = 'running'))`,
          ),
        )
        .orderBy(asc(jobs.createdAt))
        .limit(1)
        .for("update", { skipLocked: true });
      if (!candidate) return null;
      const now = new Date();
      const [claimed] = await tx
        .update(jobs)
        .set({ status: "running", startedAt: now, heartbeatAt: now, workerId })
        .where(and(eq(jobs.id, candidate.id), eq(jobs.status, "queued")))
        .returning();
      return claimed ?? null;
    });
  } catch (error) {
    if (isUniqueViolation(error)) return null;
    throw error;
  }
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string }; message?: string };
  return e?.code === "23505" || e?.cause?.code === "23505" || /duplicate key|23505/.test(String(e?.message ?? ""));
}

export async function announceJob(s: S, job: Job, appName?: string | null): Promise<void> {
  await s.events.publish(jobEvent(job, "job.updated", appName));
}

/** One step's status; a step not declared when the job was queued is appended. */
export async function setStep(s: S, jobId: string, name: string, status: StepStatus, message: string | null = null): Promise<void> {
  const now = new Date();
  const values = {
    status,
    message,
    ...(status === "running" ? { startedAt: now, finishedAt: null } : {}),
    ...(status !== "running" && status !== "pending" ? { finishedAt: now } : {}),
    // A skipped step took no time: it has no start either.
    ...(status === "skipped" ? { startedAt: null, finishedAt: null } : {}),
  };
  // One statement for the usual case (the step was declared when the job was queued).
  let [row] = await s.db
    .update(jobSteps)
    .set(values)
    .where(and(eq(jobSteps.jobId, jobId), eq(jobSteps.name, name)))
    .returning({ position: jobSteps.position });
  if (!row) {
    row = await s.db.transaction(async (tx) => {
      const rows = await tx.select({ position: jobSteps.position }).from(jobSteps).where(eq(jobSteps.jobId, jobId)).for("update");
      const [added] = await tx
        .insert(jobSteps)
        .values({ jobId, position: rows.length, name, ...values })
        .returning({ position: jobSteps.position });
      return added;
    });
  }
  await s.events.publish({ type: "job.step", jobId, step: name, position: row?.position ?? 0, status });
}

/** Writes what the running step is about to change outside the database (null: nothing in flight). */
export async function setIntent(s: S, jobId: string, intent: Intent | null): Promise<void> {
  await s.db.update(jobs).set({ intent }).where(eq(jobs.id, jobId));
}

export async function finishJob(
  s: S,
  jobId: string,
  outcome: { status: "succeeded" | "failed" | "cancelled"; error: string | null; result: Record<string, unknown> | null },
  appName?: string | null,
): Promise<Job | null> {
  const [final] = await s.db.transaction(async (tx) => {
    // Steps never reached are marked so the progress bar tells the truth.
    await tx
      .update(jobSteps)
      .set({ status: outcome.status === "cancelled" ? "cancelled" : "skipped" })
      .where(and(eq(jobSteps.jobId, jobId), inArray(jobSteps.status, ["pending", "running"])));
    return tx
      .update(jobs)
      .set({ ...outcome, intent: null, finishedAt: new Date(), heartbeatAt: new Date() })
      .where(eq(jobs.id, jobId))
      .returning();
  });
  if (final) await s.events.publish(jobEvent(final, "job.updated", appName));
  return final ?? null;
}

/** Queued: cancelled at once (returned with `queued`). Running: flagged; its worker aborts it. */
export async function requestCancel(s: S, jobId: string): Promise<{ job: Job; queued: boolean } | null> {
  const [queued] = await s.db
    .update(jobs)
    .set({ status: "cancelled", finishedAt: new Date(), error: "Cancelled before it started." })
    .where(and(eq(jobs.id, jobId), eq(jobs.status, "queued")))
    .returning();
  if (queued) {
    await s.db.update(jobSteps).set({ status: "cancelled" }).where(eq(jobSteps.jobId, jobId));
    await s.events.publish(jobEvent(queued, "job.updated"));
    return { job: queued, queued: true };
  }
  const [running] = await s.db
    .update(jobs)
    .set({ cancelRequested: 1 })
    .where(and(eq(jobs.id, jobId), eq(jobs.status, "running")))
    .returning();
  return running ? { job: running, queued: false } : null;
}

export async function heartbeat(s: S, jobIds: string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await s.db
    .update(jobs)
    .set({ heartbeatAt: new Date() })
    .where(and(inArray(jobs.id, jobIds), eq(jobs.status, "running")));
}

/**
 * Running jobs whose panel died: those with no heartbeat since `cutoff`, and those whose worker
 * is known dead now (`deadWorkers`). They are failed with the reason; their intents are returned
 * with them for reconciliation.
 */
export async function failStaleJobs(s: S, cutoff: Date, deadWorkers: string[]): Promise<Job[]> {
  const stale = await s.db
    .update(jobs)
    .set({
      status: "failed",
      finishedAt: new Date(),
      error: "The panel stopped while this job was running; it was marked failed, and what it was changing was finished or undone.",
    })
    .where(
      and(
        eq(jobs.status, "running"),
        or(lt(jobs.heartbeatAt, cutoff), isNull(jobs.heartbeatAt), deadWorkers.length ? inArray(jobs.workerId, deadWorkers) : undefined),
      ),
    )
    .returning();
  for (const job of stale) {
    await s.db
      .update(jobSteps)
      .set({ status: "failed", message: "Interrupted: the panel stopped." })
      .where(and(eq(jobSteps.jobId, job.id), eq(jobSteps.status, "running")));
    await s.db
      .update(jobSteps)
      .set({ status: "skipped" })
      .where(and(eq(jobSteps.jobId, job.id), eq(jobSteps.status, "pending")));
    await s.events.publish(jobEvent(job, "job.updated"));
  }
  return stale;
}

/** Workers of running jobs (to tell which are dead). */
export async function runningWorkers(s: S): Promise<string[]> {
  const rows = await s.db.selectDistinct({ w: jobs.workerId }).from(jobs).where(eq(jobs.status, "running"));
  return rows.map((r) => r.w).filter((w): w is string => w !== null);
}
