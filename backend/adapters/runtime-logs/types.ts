import type { RuntimeLogLine, RuntimeLogPage, RuntimeLogStream, SlotColor } from "../../contract/api.ts";

/** Which lines a read returns; every field narrows, null does not. */
export interface LogFilter {
  from: Date | null;
  to: Date | null;
  slot: SlotColor | null;
  releaseId: string | null;
  stream: RuntimeLogStream | null;
  /** A process type (`worker`: each of its instances) or one instance (`worker.2`); absent: all. */
  process?: string | null;
  /** Tests a line's text (already masked: a search cannot find a secret). */
  match: ((text: string) => boolean) | null;
}

export const NO_FILTER: LogFilter = { from: null, to: null, slot: null, releaseId: null, stream: null, match: null };

/** Where a forward read starts: after a cursor, at a time (null: the oldest line kept), or at the end. */
export type LogStart = { after: string } | { at: Date | null } | "end";

/** Reads forward from a start, in the cursor order; what the live tail and the download use. */
export interface LogFollower {
  /** The lines written since the last call (at most `limit`); `more` when the limit cut them. */
  poll(limit?: number): Promise<{ lines: RuntimeLogLine[]; more: boolean }>;
}

/**
 * An app's runtime log lines, both slots, secrets masked: rotated files in local mode, journald in
 * server mode. Cursors are opaque strings of one reader; `isCursor` tells a valid one.
 */
export interface RuntimeLogReader {
  readonly kind: "files" | "journal";
  isCursor(text: string): boolean;
  /** The newest `limit` lines before `before` (or the newest of all), oldest first. */
  page(app: string, filter: LogFilter, options: { before: string | null; limit: number }): Promise<RuntimeLogPage>;
  follow(app: string, filter: LogFilter, start: LogStart): Promise<LogFollower>;
  /**
   * Applies retention (each app's lines older than `maxAgeMs` and beyond `maxBytes` go); absent
   * where the store keeps its own (journald's limits in server mode).
   */
  prune?(limits: { maxBytes: number; maxAgeMs: number }): Promise<{ files: number; bytes: number }>;
}

/** Whether a parsed line passes the filter's fields other than time. */
export function passes(
  filter: LogFilter,
  line: { slot: SlotColor; releaseId: string | null; stream: RuntimeLogStream; process?: string; text: string },
): boolean {
  if (filter.slot && line.slot !== filter.slot) return false;
  if (filter.releaseId && line.releaseId !== filter.releaseId) return false;
  if (filter.stream && line.stream !== filter.stream) return false;
  if (filter.process && !sameProcess(filter.process, line.process ?? "web")) return false;
  return !filter.match || filter.match(line.text);
}

/** Whether a line's process (`web`, `web.2`, `worker.1`) is the wanted type or instance. */
export function sameProcess(wanted: string, process: string): boolean {
  if (wanted.includes(".")) return process === wanted || (wanted === "web.1" && process === "web");
  const dot = process.indexOf(".");
  return (dot < 0 ? process : process.slice(0, dot)) === wanted;
}
