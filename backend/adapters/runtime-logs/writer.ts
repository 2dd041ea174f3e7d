import { appendFileSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { SEGMENT_FILE, segmentName } from "./format.ts";

/** A new segment file is begun past this size; retention removes whole segments. */
export const SEGMENT_BYTES = 4 * 1024 * 1024;

/**
 * Appends one slot's log lines to its directory of segment files (`<first line's ms>.log`),
 * starting a new segment once the current one passes `segmentBytes`. Only the slot's supervisor
 * writes here; a later supervisor of the slot goes on in the newest segment.
 */
export class SegmentWriter {
  private file: string | null = null;
  private bytes = 0;

  constructor(
    readonly dir: string,
    private readonly segmentBytes = SEGMENT_BYTES,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const newest = readdirSync(dir)
      .filter((name) => SEGMENT_FILE.test(name))
      .sort()
      .at(-1);
    if (newest) {
      this.file = join(dir, newest);
      this.bytes = statSync(this.file).size;
    }
  }

  /** The file lines go to now (null before the first line). */
  get current(): string | null {
    return this.file;
  }

  /** The size the file has on disk, after a write that may have been cut short. */
  resync(): number {
    if (!this.file) return 0;
    try {
      this.bytes = statSync(this.file).size;
    } catch {
      this.bytes = 0;
    }
    return this.bytes;
  }

  get size(): number {
    return this.bytes;
  }

  /** Throws when the write fails (a full disk); the caller decides what a lost line means. */
  append(text: string, now = Date.now()): void {
    const length = Buffer.byteLength(text);
    if (!this.file || (this.bytes > 0 && this.bytes + length > this.segmentBytes)) {
      // Never an older name than the newest segment: a clock set back must not reorder files.
      let ms = now;
      const newest = this.file ? Number(SEGMENT_FILE.exec(this.file.slice(this.dir.length + 1))?.[1] ?? 0) : 0;
      if (ms <= newest) ms = newest + 1;
      this.file = join(this.dir, segmentName(ms));
      this.bytes = 0;
    }
    appendFileSync(this.file, text, { mode: 0o600 });
    this.bytes += length;
  }
}
