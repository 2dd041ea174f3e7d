import type { RuntimeLogLine, RuntimeLogStream, SlotColor } from "../../contract/api.ts";

/**
 * One line of a slot's log file: `<ISO time> <stream> <release id or -> <text>`. The supervisor
 * writes `stdout`, `stderr` or `supervisor` (its own notes, the API's `system` stream), followed
 * by `:<process>` for every process other than the web's only instance (`stdout:worker.1`).
 */
export function formatLogLine(at: string, stream: string, releaseId: string | null, text: string): string {
  return `${at} ${stream} ${releaseId || "-"} ${text}\n`;
}

export interface ParsedLine {
  at: string;
  stream: RuntimeLogStream;
  releaseId: string | null;
  /** `web` for untagged lines, else the tag: `web.2`, `worker.1`, `worker` (its supervisor's notes). */
  process: string;
  text: string;
}

const ISO_LENGTH = 24; // 2026-01-02T03:04:05.678Z

/** A line of a log file, or null for what is not one (a line cut short by a full disk). */
export function parseLogLine(line: string): ParsedLine | null {
  if (line.length < ISO_LENGTH + 4 || line[ISO_LENGTH] !== " " || line[ISO_LENGTH - 1] !== "Z" || line[10] !== "T") return null;
  const s = line.indexOf(" ", ISO_LENGTH + 1);
  if (s < 0) return null;
  const r = line.indexOf(" ", s + 1);
  const tagged = line.slice(ISO_LENGTH + 1, s);
  const colon = tagged.indexOf(":");
  const word = colon < 0 ? tagged : tagged.slice(0, colon);
  const process = colon < 0 ? "web" : tagged.slice(colon + 1);
  if (!/^[a-z][a-z0-9_-]{0,29}(\.\d{1,2})?$/.test(process)) return null;
  const stream: RuntimeLogStream | null = word === "stdout" || word === "stderr" ? word : word === "supervisor" ? "system" : null;
  if (!stream) return null;
  const release = r < 0 ? line.slice(s + 1) : line.slice(s + 1, r);
  return {
    at: line.slice(0, ISO_LENGTH),
    stream,
    releaseId: release === "-" || release === "" ? null : release,
    process,
    text: r < 0 ? "" : line.slice(r + 1),
  };
}

/**
 * Where a line is, as the API's cursor: `<epoch ms>.<slot>.<segment>.<byte offset>`. Ordered by
 * time, then slot, then place in the file: the one order pages and the live tail share.
 */
export interface FileCursor {
  atMs: number;
  slot: SlotColor;
  segment: number;
  offset: number;
}

const CURSOR = /^(\d{1,15})\.(blue|green)\.(\d{1,15})\.(\d{1,15})$/;

export function encodeFileCursor(c: FileCursor): string {
  return `${c.atMs}.${c.slot}.${c.segment}.${c.offset}`;
}

export function parseFileCursor(text: string): FileCursor | null {
  const m = CURSOR.exec(text);
  if (!m) return null;
  return { atMs: Number(m[1]), slot: m[2] as SlotColor, segment: Number(m[3]), offset: Number(m[4]) };
}

/** Negative when a comes first, in the order of FileCursor. */
export function compareFileCursors(a: FileCursor, b: FileCursor): number {
  return a.atMs - b.atMs || (a.slot === b.slot ? 0 : a.slot === "blue" ? -1 : 1) || a.segment - b.segment || a.offset - b.offset;
}

/**
 * Whether a line comes after the cursor. Within the cursor's own slot the file order decides (a
 * clock set back does not reorder one slot's lines); across slots the time does.
 */
export function isAfter(line: FileCursor, cursor: FileCursor): boolean {
  if (line.slot === cursor.slot) return line.segment > cursor.segment || (line.segment === cursor.segment && line.offset > cursor.offset);
  return compareFileCursors(line, cursor) > 0;
}

export function toRuntimeLine(p: ParsedLine, cursor: FileCursor): RuntimeLogLine {
  return {
    id: encodeFileCursor(cursor),
    at: p.at,
    slot: cursor.slot,
    releaseId: p.releaseId,
    stream: p.stream,
    process: p.process,
    text: p.text,
  };
}

/** The segment file of a slot that starts at `ms`: zero-padded, so names sort as times do. */
export function segmentName(ms: number): string {
  return `${String(ms).padStart(13, "0")}.log`;
}

export const SEGMENT_FILE = /^(\d{13})\.log$/;
