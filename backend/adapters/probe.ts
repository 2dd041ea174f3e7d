/**
 * HTTP probes the job steps make: a slot's health path on its own port, and the same path
 * through nginx, as a visitor reaches it.
 */

export type ProbeResult = { status: number } | { error: "timeout" | "refused"; message: string };

/** One GET, no redirects followed; `host` sets the Host header (nginx routes by it). */
export async function probeHttp(url: string, options: { timeoutMs?: number; host?: string } = {}): Promise<ProbeResult> {
  try {
    const res = await fetch(url, {
      redirect: "manual",
      headers: options.host ? { host: options.host } : {},
      signal: AbortSignal.timeout(options.timeoutMs ?? 2_000),
      // A fresh connection each time: an answer from a kept-alive one could be a former listener's.
      keepalive: false,
    });
    await res.body?.cancel();
    return { status: res.status };
  } catch (error) {
    const timeout = (error as Error).name === "TimeoutError";
    return { error: timeout ? "timeout" : "refused", message: (error as Error).message };
  }
}

export function isHealthyStatus(status: number): boolean {
  return status >= 200 && status < 400;
}
