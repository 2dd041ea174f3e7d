import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { RuntimeLogPage, SlotColor } from "../../contract/api.ts";
import {
  compareFileCursors,
  type FileCursor,
  isAfter,
  type ParsedLine,
  parseFileCursor,
  parseLogLine,
  SEGMENT_FILE,
  toRuntimeLine,
} from "./format.ts";
import { type LogFilter, type LogFollower, passes, type RuntimeLogReader } from "./types.ts";

const SLOTS: readonly SlotColor[] = ["blue", "green"];

/** Where a slot's log segments are: `<dataDir>/apps/<app>/logs/<color>/`. */
export function slotLogDir(dataDir: string, app: string, color: SlotColor): string {
  return join(dataDir, "apps", app, "logs", color);
}

export interface Segment {
  slot: SlotColor;
  /** The first line's time (ms), from the file name; also the segment's id in cursors. */
  start: number;
  path: string;
  size: number;
  /** When the last line was written. */
  mtimeMs: number;
}

/** A slot's segments, oldest first. */
export function listSegments(dir: string, slot: SlotColor): Segment[] {
  if (!existsSync(dir)) return [];
  const out: Segment[] = [];
  for (const name of readdirSync(dir)) {
    const m = SEGMENT_FILE.exec(name);
    if (!m) continue;
    try {
      const st = statSync(join(dir, name));
      out.push({ slot, start: Number(m[1]), path: join(dir, name), size: st.size, mtimeMs: st.mtimeMs });
    } catch {}
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The bytes of a file from `offset` to its end, up to its complete last line (a line being written waits). */
function readFrom(path: string, offset: number, maxBytes = 64 * 1024 * 1024): Buffer {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.max(0, Math.min(size - offset, maxBytes));
    const buffer = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const n = readSync(fd, buffer, read, length - read, offset + read);
      if (n <= 0) break;
      read += n;
    }
    const end = buffer.lastIndexOf(10, read - 1) + 1;
    return buffer.subarray(0, end);
  } finally {
    closeSync(fd);
  }
}

interface Located {
  parsed: ParsedLine;
  cursor: FileCursor;
}

function locate(slot: SlotColor, segment: number, offset: number, text: string): Located | null {
  const parsed = parseLogLine(text);
  if (!parsed) return null;
  return { parsed, cursor: { atMs: Date.parse(parsed.at), slot, segment, offset } };
}

/** Each complete line of a buffer read at `base`, first to last. */
function* forwardLines(buffer: Buffer, base: number): Generator<{ offset: number; text: string; next: number }> {
  let start = 0;
  for (let nl = buffer.indexOf(10, start); nl >= 0; nl = buffer.indexOf(10, start)) {
    yield { offset: base + start, text: buffer.toString("utf8", start, nl), next: base + nl + 1 };
    start = nl + 1;
  }
}

/** Each complete line of a buffer read at offset 0, last to first. */
function* backwardLines(buffer: Buffer): Generator<{ offset: number; text: string }> {
  let end = buffer.length - 1; // the newline that ends the current line
  while (end >= 0) {
    const nl = end === 0 ? -1 : buffer.lastIndexOf(10, end - 1);
    yield { offset: nl + 1, text: buffer.toString("utf8", nl + 1, end) };
    end = nl;
  }
}

function inRange(at: string, range: { from: string | null; to: string | null }): boolean {
  return (range.from === null || at >= range.from) && (range.to === null || at <= range.to);
}

function rangeOf(filter: LogFilter) {
  return { from: filter.from?.toISOString() ?? null, to: filter.to?.toISOString() ?? null };
}

/** Whether a line of this slot comes before the cursor (the mirror of isAfter). */
function isBefore(line: FileCursor, cursor: FileCursor): boolean {
  if (line.slot === cursor.slot) return line.segment < cursor.segment || (line.segment === cursor.segment && line.offset < cursor.offset);
  return compareFileCursors(line, cursor) < 0;
}

function slotsOf(filter: LogFilter): readonly SlotColor[] {
  return filter.slot ? [filter.slot] : SLOTS;
}

/**
 * Local mode's store: what each slot's supervisor wrote (runtime-logs/writer.ts), read by time
 * range opening only the segments the range can touch, newest first for pages.
 */
export function createFileLogReader(dataDir: string): RuntimeLogReader {
  const dirOf = (app: string, slot: SlotColor) => slotLogDir(dataDir, app, slot);

  /** The newest `limit + 1` lines of one slot before the cursor that pass the filter, newest first. */
  const slotPage = (app: string, slot: SlotColor, filter: LogFilter, before: FileCursor | null, limit: number): Located[] => {
    const range = rangeOf(filter);
    const fromMs = filter.from?.getTime() ?? null;
    const toMs = filter.to?.getTime() ?? null;
    const out: Located[] = [];
    const segments = listSegments(dirOf(app, slot), slot);
    for (let i = segments.length - 1; i >= 0; i--) {
      const seg = segments[i] as Segment;
      if (toMs !== null && seg.start > toMs) continue;
      if (fromMs !== null && seg.mtimeMs < fromMs) break;
      if (before && (before.slot === slot ? seg.start > before.segment : seg.start > before.atMs)) continue;
      for (const { offset, text } of backwardLines(readFrom(seg.path, 0))) {
        const line = locate(slot, seg.start, offset, text);
        if (!line) continue;
        if (before && !isBefore(line.cursor, before)) continue;
        if (!inRange(line.parsed.at, range)) continue;
        if (!passes(filter, { ...line.parsed, slot })) continue;
        out.push(line);
        if (out.length > limit) return out;
      }
    }
    return out;
  };

  /** The position in a slot where the first line after a cursor, or at a time, is. */
  const seek = (segments: Segment[], test: (line: Located) => boolean, slot: SlotColor, fromSegment: number) => {
    for (const seg of segments) {
      if (seg.start < fromSegment) continue;
      for (const { offset, text } of forwardLines(readFrom(seg.path, 0), 0)) {
        const line = locate(slot, seg.start, offset, text);
        if (line && test(line)) return { segment: seg.start, offset };
      }
    }
    const last = segments.at(-1);
    return last ? { segment: last.start, offset: readFrom(last.path, 0).length } : { segment: 0, offset: 0 };
  };

  return {
    kind: "files",
    isCursor: (text) => parseFileCursor(text) !== null,
    prune: async (limits) => pruneLogFiles(dataDir, limits),

    async page(app, filter, { before, limit }): Promise<RuntimeLogPage> {
      const cursor = before ? parseFileCursor(before) : null;
      let more = false;
      const all: Located[] = [];
      for (const slot of slotsOf(filter)) {
        const lines = slotPage(app, slot, filter, cursor, limit);
        if (lines.length > limit) {
          more = true;
          lines.pop();
        }
        all.push(...lines);
      }
      all.sort((a, b) => compareFileCursors(a.cursor, b.cursor));
      if (all.length > limit) {
        more = true;
        all.splice(0, all.length - limit);
      }
      const lines = all.map((l) => toRuntimeLine(l.parsed, l.cursor));
      return { lines, before: more ? (lines[0]?.id ?? null) : null, more };
    },

    async follow(app, filter, start): Promise<LogFollower> {
      const after = typeof start === "object" && "after" in start ? parseFileCursor(start.after) : null;
      const at = typeof start === "object" && "at" in start ? start.at : null;
      const range = rangeOf(filter);
      const positions = new Map<SlotColor, { segment: number; offset: number }>();
      for (const slot of slotsOf(filter)) {
        const segments = listSegments(dirOf(app, slot), slot);
        if (start === "end") {
          const last = segments.at(-1);
          positions.set(slot, last ? { segment: last.start, offset: readFrom(last.path, 0).length } : { segment: 0, offset: 0 });
        } else if (after) {
          // The cursor's own slot goes on just past its line; the other from the first later line.
          const fromSegment = after.slot === slot ? after.segment : (segments.filter((s) => s.start <= after.atMs).at(-1)?.start ?? 0);
          positions.set(
            slot,
            seek(segments, (l) => isAfter(l.cursor, after), slot, fromSegment),
          );
        } else if (at) {
          const iso = at.toISOString();
          const fromSegment = segments.filter((s) => s.start <= at.getTime()).at(-1)?.start ?? 0;
          positions.set(
            slot,
            seek(segments, (l) => l.parsed.at >= iso, slot, fromSegment),
          );
        } else {
          positions.set(slot, { segment: segments[0]?.start ?? 0, offset: 0 });
        }
      }

      return {
        async poll(limit = 5000) {
          // Up to `limit` lines of each slot, merged in cursor order; a slot whose lines did not
          // all fit goes on after the last one sent.
          type Pending = Located & { after: { segment: number; offset: number } };
          const found: Pending[] = [];
          const scanned = new Map<SlotColor, { segment: number; offset: number }>();
          let more = false;
          for (const [slot, position] of positions) {
            const end = { ...position };
            let count = 0;
            scan: for (const seg of listSegments(dirOf(app, slot), slot)) {
              if (seg.start < end.segment) continue;
              if (seg.start > end.segment) {
                end.segment = seg.start;
                end.offset = 0;
              }
              if (seg.size <= end.offset) continue;
              for (const { offset, text, next } of forwardLines(readFrom(seg.path, end.offset), end.offset)) {
                if (count >= limit) {
                  more = true;
                  break scan;
                }
                end.offset = next;
                const line = locate(slot, seg.start, offset, text);
                if (!line || !inRange(line.parsed.at, range) || !passes(filter, { ...line.parsed, slot })) continue;
                found.push({ ...line, after: { ...end } });
                count++;
              }
            }
            scanned.set(slot, end);
          }
          found.sort((a, b) => compareFileCursors(a.cursor, b.cursor));
          const sent = found.length > limit ? found.slice(0, limit) : found;
          if (found.length > limit) more = true;
          for (const [slot, position] of positions) {
            const unsent = found.length > limit && found.slice(limit).some((l) => l.cursor.slot === slot);
            const last = sent.findLast((l) => l.cursor.slot === slot);
            if (!unsent) Object.assign(position, scanned.get(slot));
            else if (last) Object.assign(position, last.after);
          }
          return { lines: sent.map((l) => toRuntimeLine(l.parsed, l.cursor)), more };
        },
      };
    },
  };
}

/** What retention removed from the log files. */
export interface LogPruneTally {
  files: number;
  bytes: number;
}

/**
 * Removes whole segments: those whose last line is older than `maxAgeMs`, then the oldest of an
 * app (either slot) while its segments pass `maxBytes`; the newest segment of a slot (the one its
 * supervisor writes to) is not removed for size.
 */
export function pruneLogFiles(dataDir: string, limits: { maxBytes: number; maxAgeMs: number }, now = Date.now()): LogPruneTally {
  const tally: LogPruneTally = { files: 0, bytes: 0 };
  const appsDir = join(dataDir, "apps");
  if (!existsSync(appsDir)) return tally;
  const remove = (seg: Segment) => {
    try {
      rmSync(seg.path, { force: true });
      tally.files++;
      tally.bytes += seg.size;
    } catch {}
  };
  for (const app of readdirSync(appsDir)) {
    const kept: Segment[] = [];
    for (const slot of SLOTS) {
      const segments = listSegments(slotLogDir(dataDir, app, slot), slot);
      for (const seg of segments) {
        if (seg.mtimeMs < now - limits.maxAgeMs) remove(seg);
        else kept.push(seg);
      }
    }
    const newest = new Set(SLOTS.map((slot) => kept.filter((s) => s.slot === slot).at(-1)));
    let total = kept.reduce((sum, s) => sum + s.size, 0);
    for (const seg of kept.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
      if (total <= limits.maxBytes) break;
      if (newest.has(seg)) continue;
      remove(seg);
      total -= seg.size;
    }
  }
  return tally;
}
