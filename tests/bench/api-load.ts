/**
 * API reads under load while request metrics are ingested: `GET /api/v1/apps` (20 apps) at a
 * fixed 200 requests/s with a bearer token, while wrk sends 1,000 requests/s through nginx to one
 * of the apps, on PGlite and on PostgreSQL in the same run.
 */

import { loadConfig } from "../../backend/config.ts";
import { postgresReachable } from "../helpers/database.ts";
import { bunApp, createRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import {
  deployApp,
  machineFacts,
  observe,
  ownerApi,
  type PacedResult,
  type PanelApi,
  paced,
  panelDatabase,
  tokenApi,
  waitForApp,
} from "./traffic.ts";

const SECONDS = Number(process.env.SY_BENCH_SECONDS ?? 15);
const API_RATE = 200;
const TRAFFIC_RATE = 1000;
const APPS = 20;

interface Run {
  kind: "pglite" | "postgres";
  metrics: "on" | "off";
  api: PacedResult;
  traffic: PacedResult;
  /** Requests sent to the app (warm-up included) and what the panel counted of them (metrics on). */
  sent: number;
  ingested: number | null;
  cpu: number;
  peakRss: number;
}

/** Both loads on a running panel: a 3 s warm-up, then the API load inside the app traffic. */
async function measure(
  panel: PanelProcess,
  p: PanelApi,
  kind: Run["kind"],
  metrics: Run["metrics"],
  url: string,
  host: string,
): Promise<Run> {
  const apiUrl = `${panel.url}/api/v1/apps`;
  const authorization = `Bearer ${p.token}`;
  const warmTraffic = paced({ url, headers: { Host: host }, rate: TRAFFIC_RATE, seconds: 3, connections: 20 });
  await paced({ url: apiUrl, headers: { Authorization: authorization }, rate: API_RATE, seconds: 3, connections: 20 }).done;
  const warm = await warmTraffic.done;
  const from = new Date(Date.now() - 60_000).toISOString();
  const m = await observe(panel.proc.pid as number, async () => {
    const traffic = paced({ url, headers: { Host: host }, rate: TRAFFIC_RATE, seconds: SECONDS + 2, connections: 20 });
    await Bun.sleep(1000); // the API load starts once the traffic runs, and ends before it
    const api = await paced({ url: apiUrl, headers: { Authorization: authorization }, rate: API_RATE, seconds: SECONDS, connections: 20 })
      .done;
    return { api, traffic: await traffic.done };
  });
  // Whether ingestion kept up: the panel's count of the traffic once it stops moving.
  let ingested: number | null = null;
  if (metrics === "on") {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const res = await p.get(`/apps/load/metrics?from=${encodeURIComponent(from)}&step=1m`);
      if (!res.ok) break;
      const body = (await res.json()) as { totals: { requests: number } };
      if (ingested !== null && body.totals.requests === ingested) break;
      ingested = body.totals.requests;
      await Bun.sleep(1500);
    }
  }
  const sent = warm.requests + m.result.traffic.requests;
  return { kind, metrics, api: m.result.api, traffic: m.result.traffic, sent, ingested, cpu: m.cpu, peakRss: m.peakRss };
}

/**
 * One panel with its apps; measured with metrics on, then restarted on the same data dir (same
 * apps, app process and nginx) with SWITCHYARD_METRICS=off and measured again.
 */
async function onDatabase(kind: Run["kind"]): Promise<Run[]> {
  const proxyPort = freePort();
  const store = await panelDatabase(kind, proxyPort);
  const repo = await createRepo(bunApp("v1"));
  const url = `http://127.0.0.1:${proxyPort}/`;
  const host = "load.localhost";
  const runs: Run[] = [];
  try {
    let panel = await startPanelProcess({ ...store.env, SWITCHYARD_METRICS: "on" });
    let owner: PanelApi;
    try {
      owner = await ownerApi(panel);
      await deployApp(owner, "load", repo.url);
      for (let i = 1; i < APPS; i++) {
        await owner.api("POST", "/apps", { name: `app-${String(i).padStart(2, "0")}`, repoUrl: repo.url });
      }
      await waitForApp(url, host);
      runs.push(await measure(panel, owner, kind, "on", url, host));
    } finally {
      await panel.stop();
    }
    panel = await startPanelProcess({ ...store.env, SWITCHYARD_METRICS: "off" });
    try {
      await waitForApp(url, host);
      runs.push(await measure(panel, tokenApi(panel.url, owner.token), kind, "off", url, host));
    } finally {
      await panel.stop();
    }
  } finally {
    await store.drop();
    repo.cleanup();
  }
  return runs;
}

export async function apiLoadBench(): Promise<string> {
  const facts = await machineFacts();
  const { ingestMs } = loadConfig({ ...process.env, SWITCHYARD_DATA_DIR: "/tmp/unused" }).metrics;
  const runs: Run[] = [];
  for (const kind of ["pglite", "postgres"] as const) {
    if (kind === "postgres" && !(await postgresReachable())) continue;
    runs.push(...(await onDatabase(kind)));
  }
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const rows = runs.map(
    (r) =>
      `| ${r.kind === "pglite" ? "PGlite" : "PostgreSQL"} | ${r.metrics === "on" ? "on (ingesting)" : "off"} | ${Math.round(r.api.rate)} req/s | ${ms(r.api.p50)} | ${ms(r.api.p90)} | **${ms(r.api.p99)}** | ${ms(r.api.max)} | ${r.api.non2xx} non-2xx, ${r.api.socketErrors} socket errors | ${Math.round(r.traffic.rate).toLocaleString("en")} req/s; ${r.metrics === "off" ? "not counted" : `${r.ingested === null ? "not readable" : r.ingested.toLocaleString("en")} counted of ${r.sent.toLocaleString("en")} sent (warm-up included)`} | ${(r.cpu * 100).toFixed(0)} %, ${r.peakRss.toFixed(0)} MB |`,
  );
  return `## API reads while ingesting

A real panel process (local mode) with ${APPS} apps, one of them deployed: \`wrk\` paced at
${API_RATE} requests/s (tests/bench/rate.lua, 20 connections) sends \`GET /api/v1/apps\` with a bearer API
token for ${SECONDS} s, while another \`wrk\` sends ${TRAFFIC_RATE.toLocaleString("en")} requests/s through nginx to the deployed app
(ingested every ${ingestMs / 1000} s). Latency is wrk's, from the write of a request to its answer; an achieved
rate below ${API_RATE} would mean the panel could not keep up. Each database in the same run, one after
the other; each first with metrics on, then the same panel (data dir, apps, nginx) restarted with
\`SWITCHYARD_METRICS=off\` under the same two loads, for comparison. The panel's count of the app
traffic may exceed what wrk sent by a few: the readiness probe and requests in flight when wrk
stops. Target: p99 at most 20 ms. Machine: ${facts}.

| database | metrics | API rate achieved | p50 | p90 | p99 | max | API errors | app traffic | panel CPU (of one core), peak RSS |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}`;
}
