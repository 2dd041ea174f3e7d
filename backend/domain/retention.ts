import type { Release } from "../db/schema/releases.ts";

export const RETAINED_RELEASES = 5;

/**
 * The releases a rollback may target: the newest five that ever passed their health check and
 * still have their files, plus any pinned one. `releases` is newest first.
 */
export function rollbackEligible(releases: Release[]): Release[] {
  const good = releases.filter((r) => r.healthy && !r.pruned);
  const newest = good.slice(0, RETAINED_RELEASES);
  return good.filter((r) => newest.includes(r) || r.pinned);
}
