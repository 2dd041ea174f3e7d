/**
 * The legal moves of a slot and of a release, as data. The deploy-state store (jobs/store.ts)
 * checks every write against these tables, so an illegal move is a named error, not a row that
 * disagrees with what runs.
 */
import type { ReleaseStatus } from "../db/schema/releases.ts";
import type { SlotState } from "../db/schema/slots.ts";

export type SlotEvent =
  /** A release is being started in the slot (the idle one, or the live one after a stop). */
  | "start"
  /** It did not become healthy, or its job was undone. */
  | "fail"
  /** Traffic moved to it. */
  | "promote"
  /** Traffic moved away from it; it stays warm for an instant rollback. */
  | "demote"
  /** Its process is stopped (by a job, the idle timeout, or reconciliation). */
  | "stop"
  /** Its process kept crashing and its supervisor gave up. */
  | "crash";

const SLOT_MOVES: Record<SlotEvent, { from: readonly SlotState[]; to: SlotState }> = {
  start: { from: ["empty", "stopped", "failed", "crashed", "standby", "starting", "live", "draining"], to: "starting" },
  fail: { from: ["starting"], to: "failed" },
  promote: { from: ["starting", "standby", "live"], to: "live" },
  demote: { from: ["live", "draining"], to: "standby" },
  stop: { from: ["starting", "live", "standby", "draining", "stopped", "failed", "crashed"], to: "stopped" },
  crash: { from: ["starting", "live", "standby", "draining"], to: "crashed" },
};

export type ReleaseEvent =
  /** It took the traffic (first time, or back from standby / retired). */
  | "promote"
  /** A newer release took the traffic; this one is the warm standby. */
  | "demote"
  /** Neither live nor standby any more. */
  | "retire"
  /** It never became healthy. */
  | "fail"
  /** The post-switch watch took the traffic back from it. */
  | "revert";

const RELEASE_MOVES: Record<ReleaseEvent, { from: readonly ReleaseStatus[]; to: ReleaseStatus }> = {
  promote: { from: ["ready", "live", "standby", "retired"], to: "live" },
  demote: { from: ["live", "standby"], to: "standby" },
  retire: { from: ["live", "standby", "retired", "ready"], to: "retired" },
  fail: { from: ["ready", "failed"], to: "failed" },
  revert: { from: ["live", "ready"], to: "rolled_back" },
};

export class IllegalTransition extends Error {
  override name = "IllegalTransition";
  constructor(
    readonly subject: "slot" | "release",
    readonly event: string,
    readonly from: string,
  ) {
    super(`A ${subject} that is ${from} cannot ${event}.`);
  }
}

/** The state a slot moves to on `event`, or IllegalTransition. */
export function slotTransition(from: SlotState, event: SlotEvent): SlotState {
  const move = SLOT_MOVES[event];
  if (!move.from.includes(from)) throw new IllegalTransition("slot", event, from);
  return move.to;
}

/** The status a release moves to on `event`, or IllegalTransition. */
export function releaseTransition(from: ReleaseStatus, event: ReleaseEvent): ReleaseStatus {
  const move = RELEASE_MOVES[event];
  if (!move.from.includes(from)) throw new IllegalTransition("release", event, from);
  return move.to;
}

export function canSlot(from: SlotState, event: SlotEvent): boolean {
  return SLOT_MOVES[event].from.includes(from);
}

/** Every legal slot move, for documentation and tests. */
export const SLOT_TRANSITIONS = SLOT_MOVES;

/**
 * What a step about to change the outside world writes first (jobs.intent). After a crash at
 * any instant, reconciliation reads it to finish or undo exactly that change.
 */
export type Intent =
  | { step: "start"; appId: string; color: "blue" | "green"; releaseId: string }
  | { step: "switch"; appId: string; to: "blue" | "green"; from: "blue" | "green" | null; releaseId: string }
  | { step: "revert"; appId: string; to: "blue" | "green"; from: "blue" | "green"; releaseId: string }
  | { step: "retain"; appId: string; releaseIds: string[] };

/**
 * What reconciliation does with an app after a crash, decided from what really runs.
 * `routed` is the slot nginx's live link points at; `running` says which slots' processes are up.
 */
export type Repair = { action: "keep"; live: "blue" | "green" } | { action: "route"; live: "blue" | "green" } | { action: "down" };

export function decideRepair(input: {
  routed: "blue" | "green" | null;
  running: Record<"blue" | "green", boolean>;
  /** The slot the database last recorded as live, if any. */
  recordedLive: "blue" | "green" | null;
  /** An interrupted switch: where it was going, where it came from. */
  switching: { to: "blue" | "green"; from: "blue" | "green" | null } | null;
}): Repair {
  const { routed, running, recordedLive, switching } = input;
  // Traffic already goes to a running slot: that slot is live, whatever the rows said.
  if (routed && running[routed]) return { action: "keep", live: routed };
  // Traffic goes nowhere useful: point it at the best running slot.
  const candidates = [recordedLive, switching?.from ?? null, switching?.to ?? null, "blue" as const, "green" as const];
  for (const color of candidates) if (color && running[color]) return { action: "route", live: color };
  return { action: "down" };
}
