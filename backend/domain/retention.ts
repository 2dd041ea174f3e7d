import type { Release } from "../db/schema/releases.ts";

export const RETAINED_RELEASES = 5;

/** Passed its health check and was not taken back by the post-switch watch. */
export function isGood(r: Release): boolean {
  return r.healthy && r.status !== "rolled_back";
}

/**
 * The releases a rollback may target, and so the ones whose files are kept: the newest five good
 * ones that still have their files, plus any pinned one and the warm standby. `releases` is newest first.
 */
export function rollbackEligible(releases: Release[]): Release[] {
  const good = releases.filter((r) => isGood(r) && !r.pruned);
  const newest = good.slice(0, RETAINED_RELEASES);
  // The warm standby is always a target, however many deploys happened since it was built.
  return good.filter((r) => newest.includes(r) || r.pinned || r.status === "standby");
}
