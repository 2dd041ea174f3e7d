/**
 * A bounded HTTP load generator: `concurrency` loops send requests until stopped (or until
 * `maxMs`), counting answers by status and failed requests (no answer at all).
 */
export interface LoadResult {
  requests: number;
  ok: number;
  non2xx: number;
  failed: number;
  byStatus: Record<number, number>;
  errors: string[];
  bodies: Record<string, number>;
}

export interface LoadOptions {
  url: string;
  host: string;
  concurrency: number;
  /** Send `Connection: close` on every request instead of keeping connections alive. */
  close?: boolean;
  method?: string;
  maxMs?: number;
  /** Counted separately, not as non-2xx: statuses this client expects (an error probe). */
  expectErrors?: boolean;
}

export function startLoad(o: LoadOptions): { stop(): Promise<LoadResult> } {
  const result: LoadResult = { requests: 0, ok: 0, non2xx: 0, failed: 0, byStatus: {}, errors: [], bodies: {} };
  let running = true;
  const deadline = Date.now() + (o.maxMs ?? 15 * 60_000);
  const loop = async () => {
    while (running && Date.now() < deadline) {
      result.requests++;
      try {
        const res = await fetch(o.url, {
          method: o.method ?? "GET",
          headers: { host: o.host, ...(o.close ? { connection: "close" } : {}) },
          ...(o.method === "POST" ? { body: "payload" } : {}),
          signal: AbortSignal.timeout(10_000),
          ...(o.close ? { keepalive: false } : {}),
        });
        const body = await res.text();
        result.byStatus[res.status] = (result.byStatus[res.status] ?? 0) + 1;
        if (res.status >= 200 && res.status < 300) {
          result.ok++;
          const key = body.slice(0, 20);
          result.bodies[key] = (result.bodies[key] ?? 0) + 1;
        } else {
          result.non2xx++;
          if (!o.expectErrors && result.errors.length < 20) result.errors.push(`${res.status}: ${body.slice(0, 200)}`);
        }
      } catch (error) {
        result.failed++;
        if (result.errors.length < 20) result.errors.push(String((error as Error).message));
      }
    }
  };
  const loops = Array.from({ length: o.concurrency }, loop);
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

export interface WrkResult {
  requests: number;
  /** wrk's "Non-2xx or 3xx responses" (answers of 400 and above). */
  non2xx: number;
  /** connect + read + write + timeout errors. */
  socketErrors: number;
  text: string;
}

/** The counts in wrk's report. */
export function parseWrk(text: string): WrkResult {
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const sockets = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = sockets ? sockets.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return { requests, non2xx, socketErrors, text };
}

/**
 * wrk with keep-alive connections until stopped: it is sent SIGINT, on which it stops and prints
 * its report as at the end of a timed run.
 */
export function startWrk(o: { url: string; host: string; connections: number }): { stop(): Promise<WrkResult> } {
  const proc = Bun.spawn(["wrk", "-t1", `-c${o.connections}`, "-d3600s", "--timeout", "10s", "-H", `Host: ${o.host}`, o.url], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = new Response(proc.stdout).text();
  return {
    async stop() {
      proc.kill("SIGINT");
      await proc.exited;
      const text = await output;
      if (!/requests in/.test(text)) throw new Error(`wrk printed no report (exit ${proc.exitCode}): ${text}`);
      return parseWrk(text);
    },
  };
}
