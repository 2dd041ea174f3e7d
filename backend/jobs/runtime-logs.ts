import { getRetention } from "../db/queries/retention.ts";
import type { Services } from "../services.ts";

/** Runtime log retention, by age and by size per app (local mode's files; journald keeps its own). */
export async function pruneRuntimeLogs(services: Services): Promise<void> {
  const prune = services.runtime.logReader.prune;
  if (!prune) return;
  const retention = await getRetention(services.db);
  const tally = await prune({ maxBytes: retention.logMaxMb * 1024 * 1024, maxAgeMs: retention.logDays * 86_400_000 });
  if (tally.files > 0) services.log.info("runtime logs pruned", { ...tally, logDays: retention.logDays, logMaxMb: retention.logMaxMb });
}
