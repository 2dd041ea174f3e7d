import type { Color } from "../../adapters/runtime/types.ts";
import type { Intent } from "../../domain/deploy-state.ts";
import type { JobContext } from "../orchestrator.ts";

/** One health probe: healthy, or why not; `dead` when the slot's process is gone (and why). */
export type Probe = { ok: true; detail: string } | { ok: false; problem: string; dead?: string };

/** One look during the post-switch watch. */
export interface WatchLook {
  /** Take the traffic back, for this reason (with the figures behind it). */
  revert: { reason: string; details: Record<string, unknown> } | null;
  /** End the watch now (another job is waiting), with what to log. */
  stop?: string;
  /** How things stand, for the final log line. */
  summary: string;
}

/**
 * What the go-live steps (start, health, switch, drain, watch, retain) act on: an app's blue and
 * green slots behind nginx, or the panel's own. The steps are the same; the target knows how.
 */
export interface SlotTarget {
  /** How the log names the release: "v12", "Switchyard 1a2b3c4d5e6f". */
  readonly label: string;
  readonly health: { timeoutMs: number; intervalMs: number; successes: number };
  /** 0: no watch. */
  readonly watchMs: number;
  readonly watchTickMs: number;
  /** What a step writes before it changes the outside world (null: the target needs no intent). */
  intent(step: Intent["step"], g: GoLive): Intent | null;
  start(ctx: JobContext, g: GoLive): Promise<void>;
  /** Takes back a start: the slot is stopped and recorded as failed. */
  unstart(ctx: JobContext, g: GoLive): Promise<void>;
  probe(ctx: JobContext, g: GoLive): Promise<Probe>;
  /** Moves traffic to `color` (no reload: one symlink). */
  route(ctx: JobContext, color: Color): Promise<void>;
  /** Through the proxy, on a fresh upstream connection: null when the new slot answered, else the problem. */
  confirm(ctx: JobContext, g: GoLive): Promise<string | null>;
  recordSwitch(ctx: JobContext, g: GoLive): Promise<void>;
  /**
   * When a later step fails or the job is cancelled after the switch: take the traffic back.
   * Absent: the switch stands (an app's new release stays live; the job says what failed after).
   */
  takeBack?(ctx: JobContext, g: GoLive): Promise<void>;
  /**
   * After the switch: the new slot's workers start (the release's Procfile types, as the
   * formation says), then the old slot's stop gracefully. Absent: the target runs no workers.
   */
  startWorkers?(ctx: JobContext, g: GoLive): Promise<void>;
  /** Why startWorkers has nothing to do this time (no workers to start or stop), or null. */
  workersIdle?(ctx: JobContext, g: GoLive): Promise<string | null>;
  /** Traffic went back to g.from after startWorkers: g.from's workers run again, g.to's stop. */
  restoreWorkers?(ctx: JobContext, g: GoLive): Promise<void>;
  drain(ctx: JobContext, g: GoLive): Promise<void>;
  look(ctx: JobContext, g: GoLive): Promise<WatchLook>;
  /** Traffic is already back on g.from: stop g.to and record why. */
  recordRevert(ctx: JobContext, g: GoLive, revert: NonNullable<WatchLook["revert"]>): Promise<void>;
  retain(ctx: JobContext, g: GoLive): Promise<void>;
}

/** What the go-live steps hand each other. */
export interface GoLive {
  target: SlotTarget;
  /** The slot the release goes live in. */
  to: Color;
  /** The slot that served before (null: nothing did). */
  from: Color | null;
  /** The release already runs warm in `to` (the standby): start and health are skipped. */
  warm: boolean;
  /** Set by start; undone on failure. */
  started?: boolean;
  switchMs?: number;
  switchedAt?: number;
  /** Set by the workers step once g.from's workers were asked to stop; undone when traffic goes back. */
  workersMoved?: boolean;
}
