import { appendFileSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { SEGMENT_FILE, segmentName } from "./format.ts";

/** A new segment file is begun past this size; retention removes whole segments. */
export const SEGMENT_BYTES = 4 * 1024 * 1024;

/**
 * Appends one slot's log lines to its directory of segment files (`<first line's ms>.log`),
 * starting a new segment once the current one passes `segmentBytes`. The slot's supervisors (the
 * web's and each worker type's) write here side by side: lines are appended whole, and each
 * writer moves on to a segment another one began (looked for at most once a second).
 */
export class SegmentWriter {
  private file: string | null = null;
  private bytes = 0;
  private lookedAt = 0;

  constructor(
    readonly dir: string,
    private readonly segmentBytes = SEGMENT_BYTES,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.follow();
  }

  /** Goes on in the newest segment of the directory, when another writer began a newer one. */
  private follow(now = Date.now()): void {
    this.lookedAt = now;
    const newest = readdirSync(this.dir)
      .filter((name) => SEGMENT_FILE.test(name))
      .sort()
      .at(-1);
    if (newest && join(this.dir, newest) !== this.file && (!this.file || newest > this.file.slice(this.dir.length + 1))) {
      this.file = join(this.dir, newest);
      this.bytes = statSync(this.file).size;
    } else if (this.file) {
      // The others' lines count towards the segment's size too.
      this.resync();
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
    if (now - this.lookedAt >= 1000 || now < this.lookedAt) {
      try {
        this.follow(now);
      } catch {}
    }
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
