/**
 * Shapes of the Switchyard REST API (`/api/v1`) and its events: the contract the server is typed
 * against, re-exported, plus the few types only the GUI uses.
 */
export type * from "$contract/api.ts";
export type * from "$contract/events.ts";
export { EVENT_TYPES, READY_EVENT } from "$contract/events.ts";

import type { Job, SelfUpdateResult } from "$contract/api.ts";

/** A self-update job, with the params and result that kind of job carries. */
export type SelfUpdateJob = Omit<Job, "params" | "result"> & {
  params: { revision?: string; rollback?: boolean };
  result: SelfUpdateResult | null;
};
