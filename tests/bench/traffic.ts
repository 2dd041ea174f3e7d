import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { stopPrivateNginx } from "../../backend/adapters/proxy/index.ts";
import { createProcessRuntime } from "../../backend/adapters/runtime/process.ts";
import { TEST_DATABASE_URL, withDatabase } from "../helpers/database.ts";
import type { PanelProcess } from "../helpers/panel-process.ts";
import { waitFor } from "../helpers/wait.ts";

const RATE_SCRIPT = join(import.meta.dir, "rate.lua");
const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface PacedResult {
  /** Answered requests, and the rate achieved over wrk's own duration. */
  requests: number;
  seconds: number;
  rate: number;
  /** Non-2xx/3xx answers, and requests with no answer (connect, read, write errors, timeouts). */
  non2xx: number;
  socketErrors: number;
  /** From the write of a request to its answer, in ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface PacedOptions {
  url: string;
  rate: number;
  seconds: number;
  connections: number;
  threads?: number;
  headers?: Record<string, string>;
}

/** wrk at a fixed request rate (tests/bench/rate.lua); resolves when it ends. */
export function paced(o: PacedOptions): { done: Promise<PacedResult>; pid: number } {
  const threads = o.threads ?? 1;
  const headers = Object.entries(o.headers ?? {}).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const proc = Bun.spawn(
    [
      "wrk",
      `-t${threads}`,
      `-c${o.connections}`,
      `-d${o.seconds}s`,
      "--timeout",
      "5s",
      ...headers,
      "-s",
      RATE_SCRIPT,
      o.url,
      "--",
      String(o.rate),
      String(threads),
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const done = (async () => {
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    const line = out.trim().split("\n").at(-1) ?? "";
    if (code !== 0 || !line.startsWith("{")) throw new Error(`wrk failed (${code}): ${err}${out}`);
    const r = JSON.parse(line) as Record<string, number>;
    const n = (k: string) => r[k] ?? 0;
    const seconds = n("durationUs") / 1e6;
    return {
      requests: n("requests"),
      seconds,
      rate: n("requests") / seconds,
      non2xx: n("status"),
      socketErrors: n("connect") + n("read") + n("write") + n("timeout"),
      p50: n("p50") / 1000,
      p90: n("p90") / 1000,
      p99: n("p99") / 1000,
      max: n("max") / 1000,
    };
  })();
  return { done, pid: proc.pid };
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Resident memory of a process, in MB. */
export async function rssMb(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * Follows a process while `work` runs: its share of one core (CPU seconds over wall seconds) and
 * its peak and final RSS, sampled every 500 ms.
 */
export async function observe<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; cpu: number; peakRss: number; endRss: number }> {
  const cpu0 = await cpuSeconds(pid);
  const t0 = performance.now();
  let peakRss = await rssMb(pid);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakRss = Math.max(peakRss, await rssMb(pid));
      await Bun.sleep(500);
    }
  })();
  const result = await work();
  const cpu1 = await cpuSeconds(pid);
  const wall = (performance.now() - t0) / 1000;
  sampling = false;
  await sampler;
  const endRss = await rssMb(pid);
  return { result, cpu: (cpu1 - cpu0) / wall, peakRss: Math.max(peakRss, endRss), endRss };
}

/** The machine as measured: cores, CPU model, and how busy it was when the section started. */
export async function machineFacts(): Promise<string> {
  const cpu = (await Bun.file("/proc/cpuinfo").text()).match(/model name\s*:\s*(.*)/)?.[1]?.trim() ?? "unknown CPU";
  const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  return `${navigator.hardwareConcurrency} cores (${cpu}), load average ${load} when it started`;
}

export interface PanelApi {
  token: string;
  api<T = any>(method: string, path: string, body?: unknown): Promise<T>;
  /** The same request, timed, with its status (for load figures, not assertions). */
  get(path: string): Promise<Response>;
}

/** Runs first-run setup on a panel process and makes an API token for the owner. */
export async function ownerApi(panel: PanelProcess): Promise<PanelApi> {
  const origin = panel.url;
  const setup = await fetch(`${panel.url}/api/v1/setup`, {
    method: "POST",
    headers: { origin, "content-type": "application/json" },
    body: JSON.stringify({ email: "grace@example.com", password: "a-long-enough-password", name: "Grace Hopper", code: panel.setupCode }),
  });
  if (setup.status !== 201) throw new Error(`setup failed: ${setup.status} ${await setup.text()}`);
  const cookie = (setup.headers.getSetCookie().find((c) => c.startsWith("sy_session=")) ?? "").split(";")[0] as string;
  const created = await fetch(`${panel.url}/api/v1/tokens`, {
    method: "POST",
    headers: { origin, cookie, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench" }),
  });
  const { token } = (await created.json()) as { token: string };
  return tokenApi(panel.url, token);
}

export function tokenApi(url: string, token: string): PanelApi {
  const authorization = `Bearer ${token}`;
  return {
    token,
    async api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: { authorization, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    get: (path) => fetch(`${url}/api/v1${path}`, { headers: { authorization } }),
  };
}

/** Creates an app from `repoUrl` and deploys it; resolves when the deploy succeeded. */
export async function deployApp(p: PanelApi, name: string, repoUrl: string): Promise<void> {
  const { job } = await p.api<{ job: { id: string } }>("POST", "/apps", { name, repoUrl, deploy: true, watchSeconds: 0, drainSeconds: 0 });
  const status = await waitFor(
    async () => {
      const { job: j } = await p.api<{ job: { status: string; error: string | null } }>("GET", `/jobs/${job.id}`);
      return ["succeeded", "failed", "cancelled"].includes(j.status) ? `${j.status}${j.error ? `: ${j.error}` : ""}` : null;
    },
    { timeoutMs: 180_000, intervalMs: 250, what: `the deploy of ${name}` },
  );
  if (status !== "succeeded") throw new Error(`the deploy of ${name} ${status}`);
}

/** Waits until nginx answers 200 for the app (after a panel restart brings its nginx back). */
export async function waitForApp(proxyUrl: string, host: string): Promise<void> {
  await waitFor(
    async () => {
      const res = await fetch(proxyUrl, { headers: { host } }).catch(() => null);
      return res?.status === 200 ? true : null;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `${host} to answer through nginx` },
  );
}

export function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
}

export interface PanelDatabase {
  kind: "pglite" | "postgres";
  /** The panel's environment: its own data dir, and DATABASE_URL on Postgres. */
  env: Record<string, string>;
  dataDir: string;
  url: string | null;
  /** Removes what the panel left: its apps, the data dir, the Postgres database. */
  drop(): Promise<void>;
}

/** A data dir (and on Postgres a fresh database) for a panel process that outlives restarts. */
export async function panelDatabase(kind: "pglite" | "postgres", proxyPort: number): Promise<PanelDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), `sy-bench-${kind}-`));
  let url: string | null = null;
  let name: string | null = null;
  if (kind === "postgres") {
    name = `sy_bench_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    url = withDatabase(TEST_DATABASE_URL, name);
  }
  return {
    kind,
    env: { SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_PROXY_PORT: String(proxyPort), DATABASE_URL: url ?? "" },
    dataDir,
    url,
    async drop() {
      await stopPrivateNginx(dataDir).catch(() => {});
      const runtime = createProcessRuntime({ dataDir });
      for (const slot of await runtime.list().catch(() => [])) await runtime.remove(slot.app).catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
      if (name) {
        const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
        await admin.unsafe(`drop database if exists ${name} with (force)`);
        await admin.end();
      }
    },
  };
}
