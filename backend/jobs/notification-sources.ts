/**
 * The facts that become notifications, gathered where they happen (a job's end, the slot monitor,
 * a certificate's issue, a backup's failure). Each one is queued by the panel that saw the fact;
 * none throws: telling someone must never fail what it tells of.
 */
import { and, asc, desc, eq, gt, inArray, isNotNull, lt, sql } from "drizzle-orm";
import { isFullSha } from "../commands/git.ts";
import type { Db } from "../db/client.ts";
import {
  type App,
  auditLog,
  builds,
  type CertificateRow,
  certificates,
  type Job,
  jobLogs,
  jobSteps,
  notificationDeliveries,
  releases,
} from "../db/schema/index.ts";
import * as messages from "../domain/notification-messages.ts";
import type { Services } from "../services.ts";
import { notifySafely } from "./notify.ts";

type S = Pick<Services, "db" | "config" | "log" | "events">;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
type ReleaseRef = { id: string; number: number; commitSha: string | null };

async function releaseById(db: Db, id: string | null | undefined): Promise<ReleaseRef | null> {
  if (!id) return null;
  const [row] = await db
    .select({ id: releases.id, number: releases.number, commitSha: releases.commitSha })
    .from(releases)
    .where(eq(releases.id, id));
  return row ?? null;
}

/** A deploy that ended: succeeded, or failed with its failing step and that step's last log lines. */
export async function notifyDeployFinished(services: S, job: Job, app: Pick<App, "id" | "name">): Promise<void> {
  try {
    const result = job.result ?? {};
    if (job.status === "succeeded") {
      const release = await releaseById(services.db, typeof result.releaseId === "string" ? result.releaseId : null);
      if (!release) return;
      const built = messages.deploySucceeded({
        app: app.name,
        release,
        color: String(result.color ?? ""),
        switchMs: Number(result.switchMs ?? 0),
        jobId: job.id,
        trigger: job.trigger,
      });
      return await notifySafely(services, built, app.id);
    }
    // A cancel is someone's own doing; a rollback by the watch tells of itself (rollback.automatic).
    if (job.status !== "failed" || result.autoRolledBack === true) return;
    const { db } = services;
    const [failed] = await db
      .select({ name: jobSteps.name })
      .from(jobSteps)
      .where(and(eq(jobSteps.jobId, job.id), eq(jobSteps.status, "failed")))
      .orderBy(asc(jobSteps.position))
      .limit(1);
    const step = failed?.name ?? null;
    // The lines as the job log keeps them: already masked with the app's secrets.
    const lines = await db
      .select({ line: jobLogs.line })
      .from(jobLogs)
      .where(step ? and(eq(jobLogs.jobId, job.id), eq(jobLogs.step, step)) : eq(jobLogs.jobId, job.id))
      .orderBy(desc(jobLogs.seq))
      .limit(messages.LOG_LINES);
    const [made] = await db
      .select({ id: releases.id, number: releases.number, commitSha: releases.commitSha })
      .from(releases)
      .innerJoin(builds, eq(builds.id, releases.buildId))
      .where(eq(builds.jobId, job.id))
      .limit(1);
    const built = messages.deployFailed({
      app: app.name,
      step,
      error: job.error ?? "The deploy failed.",
      lines: lines.map((l) => l.line).reverse(),
      release: made ?? null,
      commitSha: typeof job.params.ref === "string" && isFullSha(job.params.ref) ? job.params.ref : null,
      jobId: job.id,
      trigger: job.trigger,
    });
    await notifySafely(services, built, app.id);
  } catch (error) {
    services.log.error("the deploy's notification could not be prepared", { jobId: job.id, error });
  }
}

function figures(value: unknown): messages.WatchFigures | null {
  if (!value || typeof value !== "object") return null;
  const v = value as Record<string, unknown>;
  if (typeof v.requests !== "number" || typeof v.errors !== "number") return null;
  return {
    requests: v.requests,
    errors: v.errors,
    ratio: typeof v.ratio === "number" ? v.ratio : v.requests === 0 ? 0 : v.errors / v.requests,
    p95: typeof v.p95 === "number" ? v.p95 : null,
  };
}

/** The watch put traffic back: with the figures that made it. */
export async function notifyAutomaticRollback(
  services: S,
  input: { app: Pick<App, "id" | "name">; releaseId: string; to: string; details: Record<string, unknown>; jobId: string },
): Promise<void> {
  try {
    const release = await releaseById(services.db, input.releaseId);
    if (!release) return;
    const built = messages.automaticRollback({
      app: input.app.name,
      release,
      to: input.to,
      reason: String(input.details.reason ?? "the new release doing worse than the old one"),
      before: figures(input.details.before),
      after: figures(input.details.after),
      jobId: input.jobId,
    });
    await notifySafely(services, built, input.app.id);
  } catch (error) {
    services.log.error("the rollback's notification could not be prepared", { app: input.app.name, error });
  }
}

/** The monitor found a live or standby slot's process gone. */
export async function notifySlotStopped(
  services: S,
  input: {
    app: Pick<App, "id" | "name">;
    color: string;
    wasLive: boolean;
    state: "crashed" | "stopped";
    exits: messages.Exit[];
    releaseId: string | null;
  },
): Promise<void> {
  try {
    const release = await releaseById(services.db, input.releaseId);
    const built = messages.slotStopped({ ...input, app: input.app.name, release });
    await notifySafely(services, built, input.app.id);
  } catch (error) {
    services.log.error("the slot's notification could not be prepared", { app: input.app.name, error });
  }
}

/**
 * Valid certificates with fewer than CERTIFICATE_EXPIRING_DAYS left (an upload, one not renewed
 * automatically, or one whose renewals keep failing): told weekly, daily in the last week. Whether
 * it was told lately is read from the outbox, so several panels and restarts do not repeat it.
 */
export async function notifyExpiringCertificates(services: S, now: Date, expiringDays: number): Promise<void> {
  try {
    const rows = await services.db
      .select()
      .from(certificates)
      .where(
        and(
          eq(certificates.state, "valid"),
          isNotNull(certificates.notAfter),
          lt(certificates.notAfter, new Date(now.getTime() + expiringDays * DAY_MS)),
        ),
      );
    for (const row of rows) await notifyExpiring(services, row, now);
  } catch (error) {
    services.log.error("expiring certificates could not be checked", { error });
  }
}

async function notifyExpiring(services: S, row: CertificateRow, now: Date): Promise<void> {
  const notAfter = row.notAfter as Date;
  const every = notAfter.getTime() - now.getTime() <= 7 * DAY_MS ? DAY_MS - HOUR_MS : 7 * DAY_MS - HOUR_MS;
  const [told] = await services.db
    .select({ id: notificationDeliveries.id })
    .from(notificationDeliveries)
    .where(
      and(
        eq(notificationDeliveries.event, "certificate.expiring"),
        gt(notificationDeliveries.createdAt, new Date(now.getTime() - every)),
        // Its first field names the certificate.
        sql`${notificationDeliveries.message} -> 'fields' -> 0 ->> 'value' = ${row.name}`,
      ),
    )
    .limit(1);
  if (told) return;
  const built = messages.certificateExpiring({
    name: row.name,
    notAfter,
    now,
    autoRenew: row.autoRenew,
    mode: row.mode,
    lastError: row.error,
  });
  await notifySafely(services, built, null);
}

/**
 * A successful sign-in from an address the account never signed in from, when it has signed in
 * before (an account's very first sign-in has no "usual" address to differ from).
 */
export async function notifySignIn(
  services: S,
  input: { user: { id: string; email: string }; ip: string; userAgent: string | null; knownAddress: boolean },
): Promise<void> {
  if (input.knownAddress) return;
  try {
    const [before] = await services.db
      .select({ id: auditLog.id })
      .from(auditLog)
      .where(and(eq(auditLog.target, `user:${input.user.id}`), inArray(auditLog.action, ["auth.login", "setup.owner_created"])))
      .limit(1);
    if (!before) return;
    await notifySafely(
      services,
      messages.signInFromNewAddress({ email: input.user.email, ip: input.ip, userAgent: input.userAgent }),
      null,
    );
  } catch (error) {
    services.log.error("the sign-in's notification could not be prepared", { error });
  }
}
