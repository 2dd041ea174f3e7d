import { buildSlotHolders, getBuildSettings, releaseBuildSlot, renewBuildSlot, takeBuildSlot } from "../db/queries/build-settings.ts";
import { waitingMessage } from "../domain/build-limits.ts";
import type { JobContext } from "./orchestrator.ts";

/** Panels say here that a build slot came free, so a waiting deploy need not wait for its next look. */
const FREED_CHANNEL = "switchyard_build_slots";
/** A waiting deploy looks again at least this often (a lease that ran out frees a slot without a word). */
const LOOK_MS = 2_000;
const RENEW_MS = 15_000;

export interface BuildSlot {
  readonly slot: number;
  /** Gives the slot back (once; later calls do nothing). */
  release(): Promise<void>;
}

/**
 * Waits until fewer builds run than the build concurrency allows, then holds a slot for this job
 * (renewed while it builds). Says once, and again whenever it changes, what it waits for.
 * Cancelling the job ends the wait.
 */
export async function holdBuildSlot(ctx: JobContext): Promise<BuildSlot> {
  const { db, database } = ctx.services;
  const jobId = ctx.job.id;
  let wake: (() => void) | null = null;
  const unlisten = await database.listen(FREED_CHANNEL, () => wake?.()).catch(() => null);
  let said = "";
  try {
    for (;;) {
      ctx.throwIfCancelled();
      const { concurrency } = await getBuildSettings(db);
      const holders = (await buildSlotHolders(db)).filter((h) => h.jobId !== jobId);
      if (holders.length < concurrency) {
        const busy = new Set(holders.map((h) => h.slot));
        for (let n = 1; n <= concurrency; n++) {
          if (busy.has(n)) continue;
          if (await takeBuildSlot(db, n, jobId, ctx.app?.name ?? null)) {
            if (said) ctx.log("build slot free: going on");
            return lease(ctx, n);
          }
        }
      }
      const line = waitingMessage(holders);
      if (line !== said) ctx.log(line);
      said = line;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          ctx.signal.removeEventListener("abort", done);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, LOOK_MS);
        ctx.signal.addEventListener("abort", done, { once: true });
        wake = done;
      });
    }
  } finally {
    await unlisten?.().catch(() => {});
  }
}

function lease(ctx: JobContext, slot: number): BuildSlot {
  const { db, database } = ctx.services;
  const jobId = ctx.job.id;
  const renew = setInterval(() => {
    void renewBuildSlot(db, slot, jobId).catch((error: Error) =>
      ctx.services.log.warn("build slot renewal failed", { error: error.message }),
    );
  }, RENEW_MS);
  let released = false;
  return {
    slot,
    async release() {
      if (released) return;
      released = true;
      clearInterval(renew);
      await releaseBuildSlot(db, slot, jobId);
      await database.notify(FREED_CHANNEL, jobId).catch(() => {});
    },
  };
}
