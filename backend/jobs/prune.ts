import { pruneCronRuns } from "../db/queries/cron.ts";
import { getRetention, type PruneTally, pruneExpired } from "../db/queries/retention.ts";
import type { Services } from "../services.ts";
import { metricsHousekeeping } from "./metrics-retention.ts";
import { pruneRuntimeLogs } from "./runtime-logs.ts";

/** Access logs of the private nginx past this size are rotated, keeping this many old ones. */
export const ACCESS_LOG_ROTATION = { maxBytes: 50 * 1024 * 1024, keep: 3 };
export const HOUSEKEEPING_MS = 3_600_000;
const PRUNE_EVERY_MS = 86_400_000;

/** Rows past their retention. Returns null when another panel holds the prune. */
export async function pruneOnce(services: Services, now = new Date()): Promise<PruneTally | null> {
  const retention = await getRetention(services.db);
  const tally = await pruneExpired(services.db, retention, now);
  if (tally === null) services.log.debug("prune skipped: another panel is pruning");
  else services.log.info("pruned expired rows", { ...tally, retention });
  return tally;
}

const lastPrune = new WeakMap<Services, number>();

/**
 * The hourly housekeeping: access logs rotated by size and metrics rolled up (and pruned) every
 * hour, other expired rows pruned once a day.
 */
export async function housekeeping(services: Services, now = new Date()): Promise<void> {
  try {
    const rotated = (await services.proxy.rotateLogs?.(ACCESS_LOG_ROTATION)) ?? [];
    if (rotated.length > 0) services.log.info("access logs rotated", { logs: rotated });
  } catch (error) {
    services.log.warn("access log rotation failed", { error });
  }
  await metricsHousekeeping(services);
  await pruneRuntimeLogs(services).catch((error: unknown) => services.log.warn("runtime log pruning failed", { error }));
  // Each cron job keeps its newest 100 runs, none older than 30 days: a job every few seconds stays small.
  await pruneCronRuns(services.db).catch((error: unknown) => services.log.warn("cron run pruning failed", { error }));
  if (now.getTime() - (lastPrune.get(services) ?? 0) < PRUNE_EVERY_MS) return;
  lastPrune.set(services, now.getTime());
  await pruneOnce(services, now);
}
