import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";

/** One request from an app's JSON access log (see ACCESS_LOG_FORMAT in commands/nginx.ts). */
export interface AccessEntry {
  /** When nginx finished the request, ms since the epoch. */
  at: number;
  status: number;
  host: string;
  method: string;
  uri: string;
  /** The whole request, as nginx measured it. */
  requestMs: number | null;
  /** Time spent in the app (summed over nginx's tries); null when no upstream answered. */
  upstreamMs: number | null;
  /** The upstream address, e.g. unix:/…/sock/shop.sock. */
  upstream: string;
  /** The slot, when the request went to one directly (a preview host). */
  slot?: "blue" | "green";
}

export interface AccessLogReader {
  /** The complete lines written since the last read, parsed (lines that are not entries are skipped). */
  read(): Promise<AccessEntry[]>;
  /** Where in the current file the next unread line starts. */
  offset(): number;
  /** What to pass as `from` to carry on later, in another reader (a checkpoint). */
  checkpoint(): { ino: number; offset: number };
  close(): void;
}

const CHUNK = 64 * 1024;

/**
 * Follows an nginx access log from a byte offset, reading only what was added. A rotated file
 * (a new inode at the path) is read to its end, then the new one from its start; a truncated
 * one is read again from its start. A last line without its newline waits for the next read.
 * `from` a checkpoint carries on where it was taken when the file is still the same one, and
 * reads the file from its start when it is not (it was rotated since).
 */
export function createAccessLogReader(
  path: string,
  options: { from?: "start" | "end" | { ino: number; offset: number } } = {},
): AccessLogReader {
  let fd: number | null = null;
  let ino = -1;
  let position = 0;
  let rest: Buffer = Buffer.alloc(0);

  const open = (): boolean => {
    try {
      fd = openSync(path, "r");
    } catch {
      fd = null;
      return false;
    }
    ino = fstatSync(fd).ino;
    position = 0;
    rest = Buffer.alloc(0);
    return true;
  };
  if (open() && fd !== null) {
    const from = options.from;
    if (from === "end") position = fstatSync(fd).size;
    else if (typeof from === "object" && from.ino === ino && from.offset <= fstatSync(fd).size) position = from.offset;
  }

  /** Whatever the open file has past `position`, as complete lines. */
  const drain = (out: string[]) => {
    if (fd === null) return;
    if (fstatSync(fd).size < position) {
      position = 0;
      rest = Buffer.alloc(0);
    }
    const buffer = Buffer.alloc(CHUNK);
    for (;;) {
      const n = readSync(fd, buffer, 0, CHUNK, position);
      if (n <= 0) break;
      position += n;
      let data = Buffer.concat([rest, buffer.subarray(0, n)]);
      let end = data.indexOf(10);
      while (end >= 0) {
        out.push(data.subarray(0, end).toString("utf8"));
        data = data.subarray(end + 1);
        end = data.indexOf(10);
      }
      rest = Buffer.from(data);
    }
  };

  const currentIno = (): number | null => {
    try {
      return statSync(path).ino;
    } catch {
      return null;
    }
  };

  return {
    async read() {
      const lines: string[] = [];
      drain(lines);
      const now = currentIno();
      if (now !== null && now !== ino) {
        // Rotated: the old file was read to its end above; an unfinished line there stays unfinished.
        if (fd !== null) closeSync(fd);
        if (open()) drain(lines);
      }
      return lines.map(parseAccessLine).filter((e): e is AccessEntry => e !== null);
    },
    offset: () => position - rest.length,
    checkpoint: () => ({ ino, offset: position - rest.length }),
    close() {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}

/** One JSON line of the switchyard_json format, or null. */
export function parseAccessLine(line: string): AccessEntry | null {
  if (!line.startsWith("{")) return null;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw.status !== "number") return null;
  const at = typeof raw.msec === "number" ? Math.round(raw.msec * 1000) : Date.parse(String(raw.time ?? ""));
  if (!Number.isFinite(at)) return null;
  const upstream = typeof raw.upstream === "string" ? raw.upstream : "";
  const slot = /-(blue|green)\.sock(?:,|$)/.exec(upstream.split(", ").at(-1) ?? "")?.[1] as "blue" | "green" | undefined;
  const entry: AccessEntry = {
    at,
    status: raw.status,
    host: typeof raw.host === "string" ? raw.host : "",
    method: typeof raw.method === "string" ? raw.method : "",
    uri: typeof raw.uri === "string" ? raw.uri : "",
    requestMs: typeof raw.request_time === "number" ? Math.round(raw.request_time * 1000) : null,
    upstreamMs: seconds(raw.upstream_time),
    upstream,
  };
  if (slot) entry.slot = slot;
  return entry;
}

/** "0.004" or "0.001, 0.003" (one per try) or "-": the total in ms. */
function seconds(value: unknown): number | null {
  if (typeof value === "number") return Math.round(value * 1000);
  if (typeof value !== "string") return null;
  const parts = value
    .split(/[,:]\s*/)
    .map((p) => Number.parseFloat(p))
    .filter((n) => Number.isFinite(n));
  return parts.length ? Math.round(parts.reduce((a, b) => a + b, 0) * 1000) : null;
}
