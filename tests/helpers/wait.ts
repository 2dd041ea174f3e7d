export interface WaitOptions {
  /** Give up after this long; the error names `what`. */
  timeoutMs?: number;
  /** Pause between checks. */
  intervalMs?: number;
  /** What is awaited, for the error message: "the job to finish". */
  what: string;
}

/**
 * Polls `check` until it returns something other than undefined, null or false, and returns
 * that; throws once the deadline passes. Tests wait on a condition this way, never on a sleep.
 */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions): Promise<Exclude<T, false | null | undefined>> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, false | null | undefined>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : "";
      throw new Error(`timed out after ${options.timeoutMs ?? 30_000} ms waiting for ${options.what}${detail}`);
    }
    await Bun.sleep(options.intervalMs ?? 50);
  }
}
