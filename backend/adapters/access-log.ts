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
  /** The whole request as received (line, headers, body) and the whole answer as sent. */
  bytesIn: number;
  bytesOut: number;
}

export interface AccessLogReader {
  /** The complete lines written since the last read, parsed (lines that are not entries are skipped). */
  read(): Promise<AccessEntry[]>;
  /** Where in the current file the next unread line starts. */
  offset(): number;
  /** What to pass as `from` to carry on later, in another reader (a checkpoint). */
  checkpoint(): { ino: number; offset: number };
  /** True when the last read stopped at its byte limit with more left to read. */
  more(): boolean;
  close(): void;
}

const CHUNK = 64 * 1024;
/** A log file's identity and size ("inode:size"), "none" when it does not exist: it changes when the file grows or is replaced. */
export function accessLogState(path: string): string {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.size}`;
  } catch {
    return "none";
  }
}

/** How many rotated generations (<path>.1, .2, …) a checkpoint is looked for in. */
const GENERATIONS = 5;

function inodeOf(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}

function openFile(path: string): { fd: number; ino: number } | null {
  try {
    const fd = openSync(path, "r");
    return { fd, ino: fstatSync(fd).ino };
  } catch {
    return null;
  }
}

/**
 * Follows an nginx access log from a byte offset, reading only what was added. A rotated file
 * (a new inode at the path) is read to its end, then the new one from its start; a truncated
 * one is read again from its start. A last line without its newline waits for the next read.
 * `from` a checkpoint carries on where it was taken: in the file at the path when it is still
 * the same one, else in the rotated file that has its inode (`<path>.1`, `.2`, …, uncompressed),
 * then in every newer one and the file at the path, each from its start. When no file has that
 * inode any more, the path is read from its start. `maxBytes` bounds what one read takes in.
 */
export function createAccessLogReader(
  path: string,
  options: { from?: "start" | "end" | { ino: number; offset: number }; maxBytes?: number } = {},
): AccessLogReader {
  /** Files still to be read after the current one (rotated generations, newest last), then the path. */
  const pending: Array<{ fd: number; ino: number }> = [];
  let fd: number | null = null;
  let ino = -1;
  let position = 0;
  let rest: Buffer = Buffer.alloc(0);
  let stopped = false;
  const limit = options.maxBytes ?? Number.POSITIVE_INFINITY;

  const use = (file: { fd: number; ino: number } | null) => {
    fd = file?.fd ?? null;
    ino = file?.ino ?? -1;
    position = 0;
    rest = Buffer.alloc(0);
  };
  const open = (): boolean => {
    use(openFile(path));
    return fd !== null;
  };

  const from = options.from;
  if (typeof from === "object" && inodeOf(path) !== from.ino) {
    // Rotated since the checkpoint: its file is one of the generations, read on from the offset.
    let generation = 0;
    for (let n = 1; n <= GENERATIONS; n++) {
      if (inodeOf(`${path}.${n}`) === from.ino) {
        generation = n;
        break;
      }
    }
    if (generation > 0) {
      for (let n = generation; n >= 1; n--) {
        const file = openFile(`${path}.${n}`);
        if (file) pending.push(file);
      }
      const first = pending.shift() ?? null;
      use(first);
      if (first && first.ino === from.ino && from.offset <= fstatSync(first.fd).size) position = from.offset;
      const current = openFile(path);
      if (current) pending.push(current);
    } else {
      open();
    }
  } else if (open() && fd !== null) {
    if (from === "end") position = fstatSync(fd).size;
    else if (typeof from === "object" && from.ino === ino && from.offset <= fstatSync(fd).size) position = from.offset;
  }

  let taken = 0;
  /** Whatever the open file has past `position`, as complete lines (up to the byte limit). */
  const drain = (out: string[]) => {
    if (fd === null) return;
    if (fstatSync(fd).size < position) {
      position = 0;
      rest = Buffer.alloc(0);
    }
    const buffer = Buffer.alloc(CHUNK);
    for (;;) {
      if (taken >= limit) {
        stopped = fstatSync(fd).size > position;
        return;
      }
      const n = readSync(fd, buffer, 0, Math.min(CHUNK, limit - taken), position);
      if (n <= 0) break;
      position += n;
      taken += n;
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

  /** The next file in line, once the current one is read to its end. */
  const advance = (): boolean => {
    const next = pending.shift();
    if (!next) return false;
    if (fd !== null && fd !== next.fd) closeSync(fd);
    use(next);
    return true;
  };

  return {
    async read() {
      const lines: string[] = [];
      taken = 0;
      stopped = false;
      drain(lines);
      while (!stopped && pending.length > 0 && advance()) drain(lines);
      if (!stopped) {
        const now = inodeOf(path);
        if (now !== null && now !== ino) {
          // Rotated: the old file was read to its end above; an unfinished line there stays unfinished.
          if (fd !== null) closeSync(fd);
          if (open()) drain(lines);
        }
      }
      return lines.map(parseAccessLine).filter((e): e is AccessEntry => e !== null);
    },
    offset: () => position - rest.length,
    checkpoint: () => ({ ino, offset: position - rest.length }),
    more: () => stopped,
    close() {
      if (fd !== null) closeSync(fd);
      fd = null;
      for (const file of pending.splice(0)) closeSync(file.fd);
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
    bytesIn: typeof raw.bytes_in === "number" ? raw.bytes_in : 0,
    bytesOut: typeof raw.bytes_out === "number" ? raw.bytes_out : typeof raw.bytes === "number" ? raw.bytes : 0,
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
