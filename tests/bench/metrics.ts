/**
 * Request metrics and resources: what ingestion costs the panel under real traffic, how fast the
 * Analytics and dashboard queries answer over a week of data, and what a day of an app takes in
 * the database.
 */

import { join } from "node:path";
import { sql } from "drizzle-orm";
import { loadConfig } from "../../backend/config.ts";
import { openDatabase } from "../../backend/db/client.ts";
import { rowsOf } from "../../backend/db/queries/request-stats.ts";
import { postgresReachable } from "../helpers/database.ts";
import { bunApp, createRepo } from "../helpers/git-repo.ts";
import { startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";
import { queryBench } from "./metrics-queries.ts";
import {
  deployApp,
  machineFacts,
  observe,
  ownerApi,
  type PacedResult,
  type PanelApi,
  type PanelDatabase,
  paced,
  panelDatabase,
  tokenApi,
  waitForApp,
} from "./traffic.ts";

/** Seconds of load per rate and mode (SY_BENCH_SECONDS shortens it while developing). */
const SECONDS = Number(process.env.SY_BENCH_SECONDS ?? 20);
const RATES = [1000, 5000] as const;
const IDLE_SECONDS = 10;
const WARM_UP_SECONDS = 3;

interface CostRun {
  rate: number;
  wrk: PacedResult;
  cpu: number;
  peakRss: number;
  endRss: number;
  ingested: number | null;
}

/** Requests the panel has counted for the app since `from` (null when the API does not answer). */
async function ingestedSince(p: PanelApi, app: string, from: string): Promise<number | null> {
  const res = await p.get(`/apps/${app}/metrics?from=${encodeURIComponent(from)}&step=1m`);
  if (!res.ok) return null;
  const body = (await res.json()) as { totals?: { requests: number }; series: Array<{ requests: number }> };
  return body.totals?.requests ?? body.series.reduce((n, s) => n + s.requests, 0);
}

/** Waits until the panel has counted `expected` requests (or its count stops moving for 5 s). */
async function settle(p: PanelApi, app: string, from: string, expected: number): Promise<number | null> {
  let last: number | null = null;
  let lastChange = Date.now();
  return waitFor(
    async () => {
      const n = await ingestedSince(p, app, from);
      if (n === null) return { n: null };
      if (n !== last) {
        last = n;
        lastChange = Date.now();
      }
      return n >= expected || Date.now() - lastChange > 5_000 ? { n } : null;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: "the panel to ingest the run" },
  ).then((r) => r.n);
}

async function loadRuns(
  pid: number,
  p: PanelApi,
  url: string,
  host: string,
  from: string,
  counting: boolean,
): Promise<{ runs: CostRun[]; idle: { cpu: number; rss: number }; total: number }> {
  const quiet = await observe(pid, () => Bun.sleep(IDLE_SECONDS * 1000));
  const idle = { cpu: quiet.cpu, rss: quiet.endRss };
  let total = 0;
  const warm = await paced({ url, headers: { Host: host }, rate: 1000, seconds: WARM_UP_SECONDS, connections: 20 }).done;
  total += warm.requests;
  if (counting) await settle(p, "load", from, total);
  const runs: CostRun[] = [];
  for (const rate of RATES) {
    const m = await observe(
      pid,
      () => paced({ url, headers: { Host: host }, rate, seconds: SECONDS, connections: rate >= 5000 ? 50 : 20 }).done,
    );
    total += m.result.requests;
    let ingested: number | null = null;
    if (counting) {
      const before = total - m.result.requests;
      const after = await settle(p, "load", from, total);
      ingested = after === null ? null : after - before;
    }
    runs.push({ rate, wrk: m.result, cpu: m.cpu, peakRss: m.peakRss, endRss: m.endRss, ingested });
  }
  // Without the metrics API to wait on, give the last pass (every second) time to run.
  if (counting && runs.every((r) => r.ingested === null)) await Bun.sleep(5_000);
  return { runs, idle, total };
}

/** What the database holds for the app, summed over its minute rows (read with the panel stopped). */
async function storedRequests(store: PanelDatabase, app: string): Promise<number> {
  const database = await openDatabase({ url: store.url, pgliteDir: store.url ? null : join(store.dataDir, "pg"), max: 1 });
  try {
    const [row] = rowsOf<{ n: string | number | null }>(
      await database.db.execute(
        sql`select sum(r.requests) as n from request_stats r join apps a on a.id = r.app_id where a.name = ${app} and r.resolution = 'minute'`,
      ),
    );
    return Number(row?.n ?? 0);
  } finally {
    await database.close();
  }
}

/**
 * One app deployed behind the panel's nginx; wrk at fixed rates through nginx; the panel's CPU
 * and memory with ingestion on, then the same panel (same data dir, app, nginx) restarted with
 * SWITCHYARD_METRICS=off and the same load again.
 */
export async function ingestionBench(): Promise<string> {
  const facts = await machineFacts();
  const { ingestMs, sampleMs } = loadConfig({ ...process.env, SWITCHYARD_DATA_DIR: "/tmp/unused" }).metrics;
  const proxyPort = freePort();
  const store = await panelDatabase("pglite", proxyPort);
  const repo = await createRepo(bunApp("v1"));
  const url = `http://127.0.0.1:${proxyPort}/`;
  const host = "load.localhost";
  let on: CostRun[] = [];
  let off: CostRun[] = [];
  let sent = 0;
  let stored = 0;
  let idleOn = { cpu: 0, rss: 0 };
  let idleOff = { cpu: 0, rss: 0 };
  try {
    let panel = await startPanelProcess({ ...store.env, SWITCHYARD_METRICS: "on" });
    const owner = await ownerApi(panel);
    await deployApp(owner, "load", repo.url);
    const from = new Date(Date.now() - 60_000).toISOString();
    await waitForApp(url, host);
    try {
      const result = await loadRuns(panel.proc.pid as number, owner, url, host, from, true);
      on = result.runs;
      idleOn = result.idle;
      sent = result.total;
    } finally {
      await panel.stop();
    }
    stored = await storedRequests(store, "load");
    panel = await startPanelProcess({ ...store.env, SWITCHYARD_METRICS: "off" });
    try {
      await waitForApp(url, host);
      const result = await loadRuns(panel.proc.pid as number, tokenApi(panel.url, owner.token), url, host, from, false);
      off = result.runs;
      idleOff = result.idle;
    } finally {
      await panel.stop();
    }
  } finally {
    await store.drop();
    repo.cleanup();
  }

  const pctOf = (share: number) => `${(share * 100).toFixed(1)} %`;
  const idleRow = `| no traffic (${IDLE_SECONDS} s, after the deploy) | ${pctOf(idleOn.cpu)} | ${pctOf(idleOff.cpu)} | ${pctOf(idleOn.cpu - idleOff.cpu)} | ${idleOn.rss.toFixed(0)} MB | ${idleOff.rss.toFixed(0)} MB |`;
  const rows = RATES.map((rate, i) => {
    const a = on[i] as CostRun;
    const b = off[i] as CostRun;
    return `| ${rate.toLocaleString("en")} req/s (achieved ${Math.round(a.wrk.rate).toLocaleString("en")} on, ${Math.round(b.wrk.rate).toLocaleString("en")} off) | ${pctOf(a.cpu)} | ${pctOf(b.cpu)} | **${pctOf(a.cpu - b.cpu)}** | ${a.peakRss.toFixed(0)} / ${a.endRss.toFixed(0)} MB | ${b.peakRss.toFixed(0)} / ${b.endRss.toFixed(0)} MB |`;
  });
  const sanity = on.map(
    (r) =>
      `| ${r.rate.toLocaleString("en")} req/s | ${r.wrk.requests.toLocaleString("en")} (${r.wrk.non2xx} non-2xx, ${r.wrk.socketErrors} socket errors; p50 ${r.wrk.p50.toFixed(2)} ms, p99 ${r.wrk.p99.toFixed(2)} ms) | ${r.ingested === null ? "not readable (the metrics API did not answer)" : r.ingested.toLocaleString("en")} | ${r.ingested === r.wrk.requests ? "equal" : r.ingested === null ? "—" : `differ by ${r.ingested - r.wrk.requests}`} |`,
  );
  return `## Request ingestion: the panel's cost

One Bun app deployed by a real panel (\`bun backend/cli.ts start\`, PGlite, local mode) behind its
nginx; \`wrk\` paced at a fixed rate (tests/bench/rate.lua: each request has its time slot) sends
\`GET /\` through nginx for ${SECONDS} s per rate, after a ${WARM_UP_SECONDS} s warm-up. The panel's CPU is the
utime + stime delta of its process in /proc/<pid>/stat over the run, as a share of one core; RSS
is sampled every 500 ms (peak / at the end). "on" is the default (access-log ingestion every
${ingestMs / 1000} s and resource sampling every ${sampleMs / 1000} s); "off" is the same panel, data dir, app and nginx
restarted with \`SWITCHYARD_METRICS=off\`; the difference is what request metrics and resource
sampling cost together. PGlite runs inside the panel's process, so its work is counted. Target: ingestion costs at most 3 % of one core at 1,000 req/s. Machine: ${facts}.

| load | panel CPU, on | panel CPU, off | ingestion's cost | RSS on (peak / end) | RSS off (peak / end) |
| --- | --- | --- | --- | --- | --- |
${idleRow}
${rows.join("\n")}

Sanity check: the requests the panel counted (\`GET /api/v1/apps/load/metrics\`, totals) against
what wrk reports as answered. nginx also logs the few requests still in flight when wrk stops (at
most one per connection), which wrk does not count, so the panel may count a handful more.

| run | wrk | ingested | |
| --- | --- | --- | --- |
${sanity.join("\n")}
| all of it, with the ${WARM_UP_SECONDS} s warm-up (request_stats read after the panel stopped) | ${sent.toLocaleString("en")} | ${stored.toLocaleString("en")} | ${stored === sent ? "equal" : `differ by ${stored - sent}`} |`;
}

export async function metricsBench(): Promise<string> {
  const parts = [await ingestionBench()];
  parts.push(await queryBench((await postgresReachable()) ? ["pglite", "postgres"] : ["pglite"]));
  return parts.join("\n\n");
}
