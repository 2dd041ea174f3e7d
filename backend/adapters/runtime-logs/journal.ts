import { isJournalCursor, type JournalQuery, parseInstanceUnit, slotExtraUnitsPattern, unitName } from "../../commands/systemd.ts";
import type { RuntimeLogLine, RuntimeLogPage, RuntimeLogStream, SlotColor } from "../../contract/api.ts";
import { createMasker } from "../../domain/masking.ts";
import type { RunResult } from "../exec.ts";
import { type LogFilter, type LogFollower, type LogStart, passes, type RuntimeLogReader } from "./types.ts";

/** One journal entry as `journalctl --output json` prints it (the fields read here). */
export interface JournalEntry {
  __CURSOR: string;
  __REALTIME_TIMESTAMP: string;
  MESSAGE?: string | number[] | null;
  PRIORITY?: string;
  _TRANSPORT?: string;
  _SYSTEMD_UNIT?: string;
  UNIT?: string;
  SWITCHYARD_RELEASE?: string;
}

/**
 * The API's cursor for a journal line: `<realtime µs>~<journald cursor>`. The time pages back
 * (`--until`), the journald cursor resumes exactly (`--after-cursor`).
 */
export function encodeJournalCursor(us: number, cursor: string): string {
  return `${us}~${cursor}`;
}

export function parseJournalCursor(text: string): { us: number; cursor: string } | null {
  const tilde = text.indexOf("~");
  if (tilde < 1 || tilde > 17) return null;
  const us = Number(text.slice(0, tilde));
  const cursor = text.slice(tilde + 1);
  return Number.isSafeInteger(us) && /^\d+$/.test(text.slice(0, tilde)) && isJournalCursor(cursor) ? { us, cursor } : null;
}

/**
 * journald keeps no field saying which pipe a line came from: a slot's stdout and stderr both
 * arrive with `_TRANSPORT=stdout` at the unit's SyslogLevel (info). A line the app begins with a
 * `<0>`–`<3>` level prefix (sd-daemon(3)) is stored as an error and read as `stderr`; systemd's own
 * messages about the unit (started, exited, restarting) are `system`.
 */
export function entryStream(entry: JournalEntry): RuntimeLogStream {
  if (entry._TRANSPORT !== "stdout") return "system";
  const priority = Number(entry.PRIORITY ?? 6);
  return priority <= 3 ? "stderr" : "stdout";
}

function messageText(message: JournalEntry["MESSAGE"]): string {
  if (typeof message === "string") return message;
  if (Array.isArray(message)) return Buffer.from(message).toString("utf8");
  return "";
}

/** The entry as an API line (slot from its unit), or null for an entry of no slot of the app. */
export function entryLine(app: string, entry: JournalEntry, mask: (text: string) => string): RuntimeLogLine | null {
  const unit = entry._SYSTEMD_UNIT?.startsWith("sy-") ? entry._SYSTEMD_UNIT : entry.UNIT;
  // The unit says the slot and the process: the web's first instance is the slot's own unit.
  const of = unit ? parseInstanceUnit(unit) : null;
  const slot: SlotColor | null = of && of.app === app ? of.color : null;
  const us = Number(entry.__REALTIME_TIMESTAMP);
  if (!of || !slot || !Number.isSafeInteger(us) || !entry.__CURSOR) return null;
  const line: RuntimeLogLine = {
    id: encodeJournalCursor(us, entry.__CURSOR),
    at: new Date(Math.floor(us / 1000)).toISOString(),
    slot,
    releaseId: entry.SWITCHYARD_RELEASE ?? null,
    stream: entryStream(entry),
    process: of.type === "web" && of.index === 1 ? "web" : `${of.type}.${of.index}`,
    text: mask(messageText(entry.MESSAGE)),
  };
  return line;
}

export function parseJournalOutput(stdout: string): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as JournalEntry);
    } catch {}
  }
  return out;
}

export interface JournalReaderOptions {
  /** Runs one query (through the root helper, or journalctl itself as root). */
  read(query: JournalQuery): Promise<RunResult>;
  /** Every value to mask in the app's lines. */
  secrets(app: string): string[];
}

const CHUNK = 2000;
const MAX_CHUNKS = 25;

/**
 * Server mode: the slots' journal, read through the root helper (the panel's user has no journal
 * access of its own), masked on read with the app's secrets, old and current.
 */
export function createJournalLogReader(o: JournalReaderOptions): RuntimeLogReader {
  const query = async (q: JournalQuery): Promise<JournalEntry[]> => {
    const result = await o.read(q);
    if (result.code !== 0 && !(result.stdout.trim() === "" && /no entries/i.test(result.stderr))) {
      throw new Error(`the journal could not be read: ${result.stderr.trim() || `exit ${result.code}`}`);
    }
    return parseJournalOutput(result.stdout);
  };
  const units = (app: string, filter: LogFilter) =>
    (filter.slot ? [filter.slot] : (["blue", "green"] as const)).flatMap((color) => [
      unitName(app, color),
      slotExtraUnitsPattern(app, color),
    ]);
  const usOf = (date: Date | null) => (date ? date.getTime() * 1000 : null);
  const inRange = (filter: LogFilter, line: RuntimeLogLine) => {
    const t = Date.parse(line.at);
    return (!filter.from || t >= filter.from.getTime()) && (!filter.to || t <= filter.to.getTime());
  };

  return {
    kind: "journal",
    isCursor: (text) => parseJournalCursor(text) !== null,

    async page(app, filter, { before, limit }): Promise<RuntimeLogPage> {
      const mask = createMasker(o.secrets(app));
      const start = before ? parseJournalCursor(before) : null;
      const toUs = usOf(filter.to);
      let until = start ? (toUs === null ? start.us : Math.min(start.us, toUs)) : toUs;
      const seen = new Set<string>(start ? [start.cursor] : []);
      const found: RuntimeLogLine[] = [];
      let more = false;
      for (let i = 0; i < MAX_CHUNKS && !more; i++) {
        const entries = await query({ units: units(app, filter), since: usOf(filter.from), until, lines: CHUNK, reverse: true });
        let oldest: number | null = null;
        for (const entry of entries) {
          const us = Number(entry.__REALTIME_TIMESTAMP);
          oldest = us;
          if (seen.has(entry.__CURSOR)) continue;
          seen.add(entry.__CURSOR);
          const line = entryLine(app, entry, mask);
          if (!line || !inRange(filter, line) || !passes(filter, line)) continue;
          found.push(line);
          if (found.length > limit) {
            more = true;
            break;
          }
        }
        if (entries.length < CHUNK || oldest === null) break;
        // --until is inclusive: the oldest time is read again, its entries skipped as seen.
        until = oldest === until ? oldest - 1 : oldest;
        if (i === MAX_CHUNKS - 1) more = true;
      }
      if (found.length > limit) found.length = limit;
      const lines = found.reverse();
      return { lines, before: more ? (lines[0]?.id ?? null) : null, more };
    },

    async follow(app, filter, start: LogStart): Promise<LogFollower> {
      const mask = createMasker(o.secrets(app));
      const list = units(app, filter);
      let cursor: string | null = null;
      let since: number | null = null;
      if (start === "end") {
        const [newest] = await query({ units: list, lines: 1, reverse: true });
        if (newest) cursor = newest.__CURSOR;
        else since = Date.now() * 1000;
      } else if ("after" in start) {
        cursor = parseJournalCursor(start.after)?.cursor ?? null;
      } else {
        since = usOf(start.at);
      }
      return {
        async poll(limit = 5000) {
          const lines = Math.min(limit, CHUNK);
          const entries = await query({ units: list, afterCursor: cursor, since: cursor ? null : since, lines });
          const out: RuntimeLogLine[] = [];
          for (const entry of entries) {
            cursor = entry.__CURSOR;
            const line = entryLine(app, entry, mask);
            if (line && inRange(filter, line) && passes(filter, line)) out.push(line);
          }
          return { lines: out, more: entries.length >= lines };
        },
      };
    },
  };
}
