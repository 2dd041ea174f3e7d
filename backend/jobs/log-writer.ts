import type { Db } from "../db/client.ts";
import { jobLogs } from "../db/schema/index.ts";
import type { EventBus } from "./events.ts";

type LogStream = "stdout" | "stderr" | "system";

/**
 * Buffers a job's log lines and writes them in batches (every 100 ms or 500 lines), numbering
 * them 1, 2, 3 … so readers can resume after any line. One writer per running job.
 */
export class JobLogWriter {
  private seq = 0;
  private pending: Array<typeof jobLogs.$inferInsert> = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private mask: (text: string) => string = (t) => t;

  constructor(
    private readonly db: Db,
    private readonly events: EventBus,
    private readonly jobId: string,
    startAfter = 0,
  ) {
    this.seq = startAfter;
  }

  setMask(mask: (text: string) => string): void {
    this.mask = mask;
  }

  write(line: string, stream: LogStream = "system", step: string | null = null): void {
    // Postgres text cannot hold NUL; a build printing binary junk must not lose its log.
    const text = this.mask(line.includes("\0") ? line.replaceAll("\0", "\u2400") : line);
    this.pending.push({ jobId: this.jobId, seq: ++this.seq, step, stream, line: text, at: new Date() });
    if (this.pending.length >= 500) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), 100);
  }

  /** Resolves once every line written so far is stored (and announced). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    const done = this.flushing.then(async () => {
      if (batch.length === 0) return;
      for (let i = 0; i < batch.length; i += 1000) await this.db.insert(jobLogs).values(batch.slice(i, i + 1000));
      await this.events.publish({ type: "job.log", jobId: this.jobId, seq: batch[batch.length - 1]?.seq ?? 0 });
    });
    // A failed batch must not wedge the lines after it.
    this.flushing = done.catch(() => {});
    return done;
  }
}
