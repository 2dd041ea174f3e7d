/**
 * Delivers the outbox. Any panel may send a row: a pass claims due rows in one conditional UPDATE
 * (FOR UPDATE SKIP LOCKED, so two panels never claim the same row), sends each, and records the
 * attempt. A failure is retried with exponential backoff (10 s, 20 s, 40 s … up to an hour) until
 * the row is a day old, then it is failed with the reason. A claim left by a panel that stopped
 * mid-send is taken over once it is stale, so a restart loses nothing.
 */
import { and, eq, inArray, lt, lte, min, or } from "drizzle-orm";
import { sendMessage } from "../adapters/notify/index.ts";
import type { DeliveryAttempt } from "../contract/api.ts";
import { channelTarget, recordChannelResult } from "../db/queries/notification-channels.ts";
import { type NotificationDeliveryRow, notificationChannels, notificationDeliveries } from "../db/schema/index.ts";
import type { Services } from "../services.ts";

export const FIRST_RETRY_MS = 10_000;
export const MAX_RETRY_MS = 3_600_000;
/** A row this old that still fails is given up on. */
export const GIVE_UP_MS = 24 * 3_600_000;
/** A send times out well before its claim is stale, so a claim taken over is never still sending. */
export const SEND_TIMEOUT_MS = 15_000;
export const STALE_CLAIM_MS = 120_000;
/**
 * New rows wake the worker (their event), and a retry is woken at its time: the poll only picks up
 * what a panel that stopped left behind (a stale claim, a retry it had planned).
 */
export const POLL_MS = 60_000;
const BATCH = 20;

/** The wait before the next try after `attempts` failed ones: 10 s · 2^(attempts−1), at most an hour. */
export function retryDelayMs(attempts: number): number {
  if (attempts <= 0) return 0;
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempts - 1, 30));
}

/** What becomes of a row after a failed attempt made at `now`. */
export function afterFailure(
  row: Pick<NotificationDeliveryRow, "createdAt">,
  attempts: number,
  now: Date,
): { giveUp: true } | { giveUp: false; nextAttemptAt: Date } {
  const next = new Date(now.getTime() + retryDelayMs(attempts));
  if (next.getTime() - row.createdAt.getTime() > GIVE_UP_MS) return { giveUp: true };
  return { giveUp: false, nextAttemptAt: next };
}

function hours(ms: number): string {
  const h = ms / 3_600_000;
  return h >= 1 ? `${Math.round(h)} h` : `${Math.round(ms / 60_000)} min`;
}

export interface PassResult {
  sent: number;
  retrying: number;
  failed: number;
}

/** Due rows, and claims left stale by a stopped panel, become ours: `sending`, stamped `now`. */
async function claim(services: Services, now: Date, limit: number): Promise<NotificationDeliveryRow[]> {
  const staleBefore = new Date(now.getTime() - STALE_CLAIM_MS);
  const due = services.db
    .select({ id: notificationDeliveries.id })
    .from(notificationDeliveries)
    .where(
      or(
        and(eq(notificationDeliveries.status, "pending"), lte(notificationDeliveries.nextAttemptAt, now)),
        and(eq(notificationDeliveries.status, "sending"), lt(notificationDeliveries.claimedAt, staleBefore)),
      ),
    )
    .orderBy(notificationDeliveries.nextAttemptAt)
    .limit(limit)
    .for("update", { skipLocked: true });
  return services.db
    .update(notificationDeliveries)
    .set({ status: "sending", claimedAt: now })
    .where(inArray(notificationDeliveries.id, due))
    .returning();
}

/** When the earliest retry waiting in the outbox is due; null when none waits. */
async function nextRetryAt(services: Services): Promise<Date | null> {
  const [row] = await services.db
    .select({ at: min(notificationDeliveries.nextAttemptAt) })
    .from(notificationDeliveries)
    .where(eq(notificationDeliveries.status, "pending"));
  return row?.at ?? null;
}

/**
 * One pass now: claims what is due at `now` and sends it. Answers what became of the rows.
 * `now` is for tests, which move time forward instead of waiting for a backoff.
 */
export async function runDeliveryPass(services: Services, options: { now?: Date; limit?: number } = {}): Promise<PassResult> {
  const now = options.now ?? new Date();
  const result: PassResult = { sent: 0, retrying: 0, failed: 0 };
  for (;;) {
    const rows = await claim(services, now, options.limit ?? BATCH);
    if (rows.length === 0) return result;
    for (const row of rows) result[await deliver(services, row, now)]++;
    if (options.limit !== undefined) return result;
  }
}

async function deliver(services: Services, row: NotificationDeliveryRow, now: Date): Promise<keyof PassResult> {
  const { db, log, masterKey, events } = services;
  const [channel] = await db.select().from(notificationChannels).where(eq(notificationChannels.id, row.channelId));
  const started = performance.now();
  let attempt: DeliveryAttempt;
  if (!channel) return "failed"; // deleted with its rows (cascade) while this pass ran
  if (!channel.enabled) {
    attempt = { at: now.toISOString(), ms: 0, status: null, error: "The channel was turned off before this was sent." };
  } else {
    try {
      // sendMessage never throws and masks the channel's secrets in its errors; this catches a key that does not decrypt.
      const target = channelTarget(masterKey, channel);
      const sent = await sendMessage(target, row.message, { timeoutMs: SEND_TIMEOUT_MS });
      attempt = { at: now.toISOString(), ms: Math.round(sent.ms), status: sent.status, error: sent.ok ? null : (sent.error ?? "failed") };
    } catch (error) {
      attempt = {
        at: now.toISOString(),
        ms: Math.round(performance.now() - started),
        status: null,
        error: `The message could not be sent: ${(error as Error).message}`,
      };
    }
    if (attempt.error) attempt.error = attempt.error.slice(0, 1000);
  }
  const attempts = row.attempts + 1;
  const log_ = [...row.log, attempt];
  let status: "sent" | "pending" | "failed";
  let values: Partial<NotificationDeliveryRow>;
  if (!attempt.error) {
    status = "sent";
    values = { status, attempts, log: log_, sentAt: now, lastError: null, claimedAt: null };
  } else {
    const next = channel.enabled ? afterFailure(row, attempts, now) : ({ giveUp: true } as const);
    if (next.giveUp) {
      status = "failed";
      const why = channel.enabled
        ? `Gave up after ${attempts} attempt${attempts === 1 ? "" : "s"} over ${hours(now.getTime() - row.createdAt.getTime())}: ${attempt.error}`
        : attempt.error;
      values = { status, attempts, log: log_, lastError: why, claimedAt: null };
    } else {
      status = "pending";
      values = { status, attempts, log: log_, lastError: attempt.error, nextAttemptAt: next.nextAttemptAt, claimedAt: null };
    }
  }
  // Only while the claim is still ours: a panel that took over a stale claim owns the row now.
  const [saved] = await db
    .update(notificationDeliveries)
    .set(values)
    .where(
      and(
        eq(notificationDeliveries.id, row.id),
        eq(notificationDeliveries.status, "sending"),
        eq(notificationDeliveries.claimedAt, row.claimedAt ?? now),
      ),
    )
    .returning({ id: notificationDeliveries.id });
  if (!saved) return status === "sent" ? "sent" : "retrying";
  if (channel.enabled) await recordChannelResult(db, channel.id, { ok: !attempt.error, error: attempt.error }, now);
  if (attempt.error) {
    log.warn("a notification was not delivered", {
      deliveryId: row.id,
      channel: channel.name,
      kind: channel.kind,
      attempts,
      error: attempt.error,
      ...(status === "pending" ? { retryAt: values.nextAttemptAt } : { gaveUp: true }),
    });
  }
  await events.publish({ type: "notification.delivery", deliveryId: row.id, channelId: row.channelId, status });
  return status === "sent" ? "sent" : status === "failed" ? "failed" : "retrying";
}

interface Running {
  timer: ReturnType<typeof setInterval>;
  /** Wakes the worker when the earliest retry is due (when that is before the next poll). */
  retry: ReturnType<typeof setTimeout> | null;
  unsubscribe: () => void;
  pass: Promise<void> | null;
  again: boolean;
  stopped: boolean;
}

const workers = new WeakMap<Services, Running>();

/** Sends what is due every few seconds, and at once when a panel queues a delivery. */
export async function startNotificationWorker(services: Services, everyMs = POLL_MS): Promise<void> {
  await stopNotificationWorker(services);
  // The embedded database has one panel by construction: whatever it left `sending` died with it.
  if (services.database.kind === "pglite") {
    await services.db
      .update(notificationDeliveries)
      .set({ status: "pending", claimedAt: null })
      .where(eq(notificationDeliveries.status, "sending"))
      .catch((error: unknown) => services.log.warn("notification claims were not released", { error }));
  }
  const state: Running = {
    timer: setInterval(() => run(), everyMs),
    retry: null,
    unsubscribe: () => {},
    pass: null,
    again: false,
    stopped: false,
  };
  const run = (): void => {
    if (state.stopped) return;
    if (state.pass) {
      state.again = true;
      return;
    }
    state.pass = (async () => {
      do {
        state.again = false;
        await runDeliveryPass(services).catch((error: unknown) => services.log.error("notification delivery pass failed", { error }));
      } while (state.again && !state.stopped);
      await planRetry().catch((error: unknown) => services.log.warn("the next notification retry was not planned", { error }));
    })().finally(() => {
      state.pass = null;
    });
  };
  const planRetry = async (): Promise<void> => {
    if (state.retry) clearTimeout(state.retry);
    state.retry = null;
    const due = await nextRetryAt(services);
    if (!due || state.stopped) return;
    const inMs = Math.max(0, due.getTime() - Date.now());
    if (inMs < everyMs) state.retry = setTimeout(run, inMs + 50);
  };
  state.unsubscribe = services.events.subscribe((event) => {
    if (event.type === "notification.delivery" && event.status === "pending") run();
  });
  workers.set(services, state);
  run();
}

/** Stops sending; a send in flight finishes (it times out on its own). */
export async function stopNotificationWorker(services: Services): Promise<void> {
  const state = workers.get(services);
  if (!state) return;
  workers.delete(services);
  state.stopped = true;
  clearInterval(state.timer);
  if (state.retry) clearTimeout(state.retry);
  state.unsubscribe();
  await state.pass;
}
