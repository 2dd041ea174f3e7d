import { createAccessLogReader } from "../../adapters/access-log.ts";

export interface AccessLogFollower {
  /** Every entry since the follower was opened (kept in memory for the watch window only). */
  read(): Promise<Array<{ at: number; status: number }>>;
}

/**
 * Follows an app's access log from now on; the watch judges what it reads. Between reads only a
 * checkpoint is kept (no open file), so a follower that is never read costs nothing.
 */
export function openAccessLog(path: string): AccessLogFollower {
  const first = createAccessLogReader(path, { from: "end" });
  let checkpoint = first.checkpoint();
  first.close();
  const seen: Array<{ at: number; status: number }> = [];
  return {
    async read() {
      const reader = createAccessLogReader(path, { from: checkpoint });
      try {
        for (const e of await reader.read()) seen.push({ at: e.at, status: e.status });
        checkpoint = reader.checkpoint();
      } finally {
        reader.close();
      }
      return seen;
    },
  };
}
