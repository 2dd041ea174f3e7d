/**
 * A week of realistic figures for one app (and a day for 49 more), written as the ingester and
 * sampler would write them; then the Analytics and dashboard requests timed against a real panel
 * process, and the bytes an app-day takes, on PGlite and on PostgreSQL.
 */
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import { type Database, openDatabase } from "../../backend/db/client.ts";
import { ingestBatch, type MinuteGroup, rowsOf, toBytea } from "../../backend/db/queries/request-stats.ts";
import { type ResourceRow as ResourceMinute, writeResourceMinute } from "../../backend/db/queries/resources.ts";
import { apps, environments, releases, requestStats, resourceStats, trafficSwitches } from "../../backend/db/schema/index.ts";
import {
  addAggregate,
  addHistograms,
  addRequest,
  addToHistogram,
  emptyAggregate,
  emptyHistogram,
  encodeSketch,
  type RequestAggregate,
} from "../../backend/domain/metrics.ts";
import { createRepo } from "../helpers/git-repo.ts";
import { startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { machineFacts, ownerApi, type PanelApi, panelDatabase, pct, tokenApi } from "./traffic.ts";

const DAYS = 7;
const APPS = 50;
const RUNS = 30;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** A deterministic generator, so both databases get the same figures. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A minute of an app's traffic: a daily curve between ≈ 100 and 700 requests per minute
 * (≈ 6 req/s on average), upstream times log-normal around 25 ms with 1 % slow requests of
 * 0.2–2 s, 95 % 2xx, 2 % 3xx, 2.5 % 4xx, 0.5 % 5xx, ≈ 600 B in and 6 KB out per request.
 */
function minuteOfTraffic(t: number, random: () => number): { agg: RequestAggregate; histogram: number[] } {
  const hour = (t % DAY) / HOUR;
  const n = Math.round(400 * (1 + 0.75 * Math.sin(((hour - 9) / 24) * 2 * Math.PI)) * (0.9 + 0.2 * random()));
  const agg = emptyAggregate();
  const histogram = emptyHistogram();
  for (let i = 0; i < n; i++) {
    const u = random();
    const status = u < 0.95 ? 200 : u < 0.97 ? 304 : u < 0.995 ? 404 : 502;
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const upstreamMs = random() < 0.01 ? 200 + random() * 1800 : 25 * Math.exp(0.6 * normal);
    const ms = Math.round(upstreamMs * 1000) / 1000;
    addRequest(agg, { status, bytesIn: 400 + Math.round(random() * 400), bytesOut: 2000 + Math.round(random() * 8000), upstreamMs: ms });
    addToHistogram(histogram, ms);
  }
  return { agg, histogram };
}

type RequestRow = typeof requestStats.$inferInsert;
type ResourceRow = typeof resourceStats.$inferInsert;

function requestRow(
  appId: string,
  resolution: "minute" | "hour" | "day",
  bucket: number,
  slot: string,
  releaseId: string | null,
  a: RequestAggregate,
): RequestRow {
  return {
    appId,
    resolution,
    bucket: new Date(bucket),
    slot,
    releaseId,
    requests: a.requests,
    s1xx: a.s1xx,
    s2xx: a.s2xx,
    s3xx: a.s3xx,
    s4xx: a.s4xx,
    s5xx: a.s5xx,
    bytesIn: a.bytesIn,
    bytesOut: a.bytesOut,
    timed: a.timed,
    latencySumMs: a.latencySumMs,
    sketch: toBytea(encodeSketch(a.sketch)),
  };
}

async function insertAll<T extends RequestRow | ResourceRow>(
  db: Database["db"],
  table: typeof requestStats | typeof resourceStats,
  rows: T[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) await db.insert(table).values(rows.slice(i, i + 1000) as never);
}

interface Sizes {
  requests: number;
  resources: number;
  total: number;
}

async function tableBytes(db: Database["db"]): Promise<Sizes> {
  const [row] = rowsOf<{ requests: string | number; resources: string | number }>(
    await db.execute(
      sql`select pg_total_relation_size('request_stats') as requests, pg_total_relation_size('resource_stats') as resources`,
    ),
  );
  const requests = Number(row?.requests ?? 0);
  const resources = Number(row?.resources ?? 0);
  return { requests, resources, total: requests + resources };
}

const perDay = (a: Sizes, b: Sizes): Sizes => ({
  requests: (b.requests - a.requests) / DAYS,
  resources: (b.resources - a.resources) / DAYS,
  total: (b.total - a.total) / DAYS,
});

interface Seeded {
  /** Bytes per app-day: minute rows (requests + both slots' resources + the app's disk use), rollups, the server's own rows. */
  minute: Sizes;
  rollups: Sizes;
  system: Sizes;
  requestRows: number;
  resourceRows: number;
  seedMs: number;
}

/**
 * Writes the week for app `shop` (releases, switches, request and resource rows per minute, and
 * their hour and day rollups), the server's rows, and the last 25 h of requests (with the week's
 * hours) for every other app, measuring the tables' size between steps.
 */
export async function seed(database: Database, names: string[]): Promise<Seeded> {
  const started = performance.now();
  const { db } = database;
  const random = rng(13);
  const now = Date.now();
  const end = Math.floor(now / MINUTE) * MINUTE;
  const start = end - DAYS * DAY;
  const idOf = new Map((await db.select({ id: apps.id, name: apps.name }).from(apps)).map((a) => [a.name, a.id]));
  const shop = idOf.get(names[0] as string) as string;
  const [env] = await db.select({ id: environments.id }).from(environments).where(eq(environments.appId, shop));

  // Two deploys a day, one of them rolled back: 14 releases, alternating slots.
  const switches: Array<{ at: number; color: "blue" | "green"; releaseId: string }> = [];
  for (let i = 0; i < DAYS * 2; i++) {
    const at = start + i * 12 * HOUR + 3 * HOUR;
    const [rel] = await db
      .insert(releases)
      .values({
        appId: shop,
        environmentId: env?.id as string,
        number: i + 1,
        commitSha: (i + 1).toString(16).padStart(40, "0"),
        commitMessage: `release ${i + 1}`,
        runtime: "bun",
        startCommand: ["bun", "server.ts"],
        dir: `/tmp/bench-release-${i + 1}`,
        envFile: `/tmp/bench-release-${i + 1}.env`,
        status: i === DAYS * 2 - 1 ? "live" : i === DAYS * 2 - 2 ? "standby" : "retired",
        healthy: true,
        createdAt: new Date(at - 2 * MINUTE),
        liveAt: new Date(at),
      })
      .returning({ id: releases.id });
    switches.push({ at, color: i % 2 === 0 ? "blue" : "green", releaseId: rel?.id as string });
  }
  const kinds = switches.map((_, i) => (i === 7 ? "rollback" : "deploy") as "deploy" | "rollback");
  await db
    .insert(trafficSwitches)
    .values(
      switches.map((s, i) => ({ appId: shop, at: new Date(s.at), color: s.color, releaseId: s.releaseId, kind: kinds[i] as "deploy" })),
    );

  const before = await tableBytes(db);
  // Minute rows through the write paths: the ingester's batch (an hour of minutes per
  // transaction, with its checkpoint and totals) and the sampler's minute writer.
  const hours = new Map<number, { slot: string; releaseId: string | null; agg: RequestAggregate }>();
  let live = switches[0] as (typeof switches)[number];
  let offset = 0;
  for (let hourStart = start; hourStart < end; hourStart += HOUR) {
    const groups: MinuteGroup[] = [];
    const slotRows: ResourceMinute[] = [];
    const totals = { ...emptyAggregate(), histogram: emptyHistogram() };
    for (let t = hourStart; t < Math.min(end, hourStart + HOUR); t += MINUTE) {
      for (const s of switches) if (s.at <= t) live = s;
      const { agg, histogram } = minuteOfTraffic(t, random);
      groups.push({ bucket: new Date(t), slot: live.color, releaseId: live.releaseId, agg });
      const hour = Math.floor(t / HOUR) * HOUR;
      const h = hours.get(hour) ?? { slot: live.color, releaseId: live.releaseId, agg: emptyAggregate() };
      addAggregate(h.agg, agg);
      hours.set(hour, h);
      addAggregate(totals, agg);
      totals.histogram = addHistograms(totals.histogram, histogram);
      for (const color of ["blue", "green"] as const) {
        const isLive = color === live.color;
        slotRows.push({
          bucket: new Date(t),
          subject: "slot",
          appId: shop,
          slot: color,
          samples: 6,
          values: {
            cpu: isLive ? 0.05 + random() * 0.1 : 0.002 + random() * 0.002,
            memory: Math.round((isLive ? 90 : 70) * 1024 * 1024 + random() * 8 * 1024 * 1024),
            ioRead: Math.round(random() * 4096),
            ioWrite: Math.round(random() * 65536),
            restarts: 0,
            up: 1,
            live: isLive ? 1 : 0,
          },
        });
      }
      slotRows.push({
        bucket: new Date(t),
        subject: "app",
        appId: shop,
        slot: null,
        samples: 6,
        values: { releases: 5 * 48 * 1024 * 1024, logs: 12 * 1024 * 1024 + Math.round(random() * 1e6), buildCache: 210 * 1024 * 1024 },
      });
    }
    const readFrom = offset === 0 ? null : { ino: 1, offset };
    offset += groups.length;
    const outcome = await ingestBatch(db, { appId: shop, source: "bench:shop", readFrom, next: { ino: 1, offset }, groups, totals });
    if (outcome !== "written") throw new Error(`the ingest batch was not written: ${outcome}`);
    if (!(await writeResourceMinute(db, slotRows))) throw new Error("the resource rows were not written");
  }
  const afterMinutes = await tableBytes(db);

  // Rollups of whole hours and days, as the rollup job leaves them.
  const currentHour = Math.floor(now / HOUR) * HOUR;
  const hourRows: RequestRow[] = [];
  const days = new Map<number, RequestAggregate>();
  for (const [hour, h] of hours) {
    if (hour >= currentHour) continue;
    hourRows.push(requestRow(shop, "hour", hour, h.slot, h.releaseId, h.agg));
    const day = Math.floor(hour / DAY) * DAY;
    if (day + DAY > currentHour) continue;
    const d = days.get(day) ?? emptyAggregate();
    addAggregate(d, h.agg);
    days.set(day, d);
  }
  const live0 = switches.at(-1) as (typeof switches)[number];
  const dayRows = [...days].map(([day, agg]) => requestRow(shop, "day", day, live0.color, live0.releaseId, agg));
  const resourceRollups: ResourceRow[] = [];
  for (const [resolution, size, samples] of [
    ["hour", HOUR, 360],
    ["day", DAY, 8640],
  ] as const) {
    for (
      let b = Math.ceil(start / size) * size;
      b + size <= (resolution === "hour" ? currentHour : Math.floor(now / DAY) * DAY);
      b += size
    ) {
      for (const color of ["blue", "green"] as const)
        resourceRollups.push({
          resolution,
          bucket: new Date(b),
          subject: "slot",
          appId: shop,
          slot: color,
          samples,
          values: { cpu: 0.05, memory: 80 * 1024 * 1024, ioRead: 2048, ioWrite: 32768, restarts: 0, up: 1, live: 0.5 },
        });
      resourceRollups.push({
        resolution,
        bucket: new Date(b),
        subject: "app",
        appId: shop,
        slot: null,
        samples,
        values: { releases: 5 * 48 * 1024 * 1024, logs: 12 * 1024 * 1024, buildCache: 210 * 1024 * 1024 },
      });
    }
  }
  await insertAll(db, requestStats, [...hourRows, ...dayRows]);
  await insertAll(db, resourceStats, resourceRollups);
  const afterRollups = await tableBytes(db);

  // The server's own rows (one per minute, not per app), an hour per transaction as well.
  for (let hourStart = start; hourStart < end; hourStart += HOUR) {
    const rows: ResourceMinute[] = [];
    for (let t = hourStart; t < Math.min(end, hourStart + HOUR); t += MINUTE) {
      rows.push({
        bucket: new Date(t),
        subject: "system",
        appId: null,
        slot: null,
        samples: 6,
        values: {
          cpu: 0.1 + random() * 0.2,
          load1: 0.3 + random(),
          memoryUsed: Math.round(3.1e9 + random() * 2e8),
          memoryTotal: 8e9,
          swapUsed: 0,
          swapTotal: 0,
          netRx: Math.round(2e5 + random() * 1e5),
          netTx: Math.round(1e6 + random() * 5e5),
          psiCpu: Math.round(random() * 200) / 100,
          psiMemory: 0,
          psiIo: Math.round(random() * 100) / 100,
          disks: [
            { mount: "/", used: 21e9, size: 80e9 },
            { mount: "/var", used: 9e9, size: 40e9 },
          ],
          dbBytes: 310e6,
        },
      });
    }
    await writeResourceMinute(db, rows);
  }
  const afterSystem = await tableBytes(db);

  // Every other app: the same requests over the last 25 h (minutes) and the week (hours and days).
  const since = new Date(end - 25 * HOUR);
  for (const name of names.slice(1)) {
    const id = idOf.get(name) as string;
    await db.execute(sql`insert into request_stats
      (app_id, resolution, bucket, slot, release_id, requests, s1xx, s2xx, s3xx, s4xx, s5xx, bytes_in, bytes_out, timed, latency_sum_ms, sketch)
      select ${id}, resolution, bucket, slot, null, requests, s1xx, s2xx, s3xx, s4xx, s5xx, bytes_in, bytes_out, timed, latency_sum_ms, sketch
      from request_stats where app_id = ${shop} and (resolution <> 'minute' or bucket >= ${since.toISOString()}::timestamptz)`);
  }
  await db.execute(sql`analyze request_stats`);
  await db.execute(sql`analyze resource_stats`);
  const [counts] = await db.select({ requests: sql<number>`count(*)::int` }).from(requestStats);
  const [resources] = await db.select({ n: sql<number>`count(*)::int` }).from(resourceStats);
  return {
    minute: perDay(before, afterMinutes),
    rollups: perDay(afterMinutes, afterRollups),
    system: perDay(afterRollups, afterSystem),
    requestRows: counts?.requests ?? 0,
    resourceRows: resources?.n ?? 0,
    seedMs: performance.now() - started,
  };
}

interface Timed {
  what: string;
  status: number;
  p50: number;
  p95: number;
  max: number;
  bytes: number;
  note: string;
}

async function time(p: PanelApi, what: string, path: string, note: (body: any) => string): Promise<Timed> {
  const ms: number[] = [];
  let status = 0;
  let bytes = 0;
  let last: unknown = null;
  for (let i = 0; i < RUNS + 3; i++) {
    const t0 = performance.now();
    const res = await p.get(path);
    const text = await res.text();
    const elapsed = performance.now() - t0;
    status = res.status;
    bytes = text.length;
    if (i === 0) last = text ? JSON.parse(text) : null;
    if (i >= 3) ms.push(elapsed);
  }
  return {
    what,
    status,
    p50: pct(ms, 0.5),
    p95: pct(ms, 0.95),
    max: Math.max(...ms),
    bytes,
    note:
      status === 200
        ? note(last)
        : `refused (${status}): ${(last as { error?: { message?: string } })?.error?.message ?? JSON.stringify(last)}`,
  };
}

interface DbResult {
  kind: "pglite" | "postgres";
  seeded: Seeded;
  timed: Timed[];
}

async function onDatabase(kind: "pglite" | "postgres"): Promise<DbResult> {
  const store = await panelDatabase(kind, freePort());
  const names = Array.from({ length: APPS }, (_, i) => (i === 0 ? "shop" : `app-${String(i).padStart(2, "0")}`));
  // Creating an app asks its repository for the branch: a real one, shared by all.
  const repo = await createRepo({ "index.html": "<h1>bench</h1>" });
  try {
    let panel = await startPanelProcess(store.env);
    let p: PanelApi;
    try {
      p = await ownerApi(panel);
      for (const name of names) await p.api("POST", "/apps", { name, repoUrl: repo.url });
    } finally {
      await panel.stop();
    }
    const database = await openDatabase({ url: store.url, pgliteDir: store.url ? null : join(store.dataDir, "pg"), max: 2 });
    let seeded: Seeded;
    try {
      seeded = await seed(database, names);
    } finally {
      await database.close();
    }
    panel = await startPanelProcess(store.env);
    try {
      p = tokenApi(panel.url, p.token);
      const from = new Date(Date.now() - DAYS * DAY).toISOString();
      const points = (b: any) =>
        `${b.series?.length ?? "?"} points of ${b.step}, ${b.releases?.length ?? 0} releases, ${b.markers?.length ?? 0} markers`;
      const timed = [
        await time(p, "Analytics, 7 days of one app, default step", `/apps/shop/metrics?from=${encodeURIComponent(from)}`, points),
      ];
      for (const step of ["1m", "5m", "15m"]) {
        const t = await time(
          p,
          `Analytics, 7 days of one app, step=${step}`,
          `/apps/shop/metrics?from=${encodeURIComponent(from)}&step=${step}`,
          points,
        );
        timed.push(t);
        if (t.status === 200) break;
      }
      timed.push(
        await time(
          p,
          `Dashboard, ${APPS} apps`,
          "/metrics/apps",
          (b) => `${b.apps?.length ?? "?"} apps × ${b.apps?.[0]?.requests?.length ?? "?"} hourly points`,
        ),
      );
      return { kind, seeded, timed };
    } finally {
      await panel.stop();
    }
  } finally {
    await store.drop();
    repo.cleanup();
  }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

export async function queryBench(kinds: Array<"pglite" | "postgres">): Promise<string> {
  const facts = await machineFacts();
  const results: DbResult[] = [];
  for (const kind of kinds) results.push(await onDatabase(kind));
  const name = (k: string) => (k === "pglite" ? "PGlite" : "PostgreSQL");
  const queryRows = results.flatMap((r) =>
    r.timed.map(
      (t) =>
        `| ${name(r.kind)} | ${t.what} | ${t.status === 200 ? `${t.p50.toFixed(1)} ms` : "—"} | ${t.status === 200 ? `${t.p95.toFixed(1)} ms` : "—"} | ${t.status === 200 ? `${t.max.toFixed(1)} ms` : "—"} | ${kb(t.bytes)}; ${t.note} |`,
    ),
  );
  const storageRows = results.map(
    (r) =>
      `| ${name(r.kind)} | **${mb(r.seeded.minute.total)}** (requests ${mb(r.seeded.minute.requests)}, resources ${mb(r.seeded.minute.resources)}) | ${kb(r.seeded.rollups.total)} | ${kb(r.seeded.system.total)} | ${r.seeded.requestRows.toLocaleString("en")} request, ${r.seeded.resourceRows.toLocaleString("en")} resource rows (written in ${(r.seeded.seedMs / 1000).toFixed(1)} s) |`,
  );
  return `## Analytics and dashboard queries

A real panel process (local mode) with ${APPS} apps. App \`shop\` has ${DAYS} days of figures per minute, written
as the ingester writes them (the aggregates and DDSketch encoding of \`backend/domain/metrics.ts\`, one
request row per minute of a daily curve averaging ≈ 6 req/s with log-normal upstream times, 14
releases and their switches, a resource row per minute for each of its two slots and one for its
disk use) plus whole-hour and whole-day rollups; the other ${APPS - 1} apps have the same requests over the
last 25 h and the week's hours; the server has a row per minute. Each request is sent ${RUNS} times
(after 3 warm-ups) over HTTP with a bearer token, one at a time; the time is to the last byte of
the body. Target: under 100 ms each. Machine: ${facts}.

| database | request | p50 | p95 | max | answer |
| --- | --- | --- | --- | --- | --- |
${queryRows.join("\n")}

## Metrics storage per app-day

\`pg_total_relation_size\` of request_stats + resource_stats (tables, indexes, TOAST) measured
before and after writing the rows above, divided by ${DAYS} days. Minute rows of one app-day: 1,440
request rows (one slot and release per minute) and 4,320 resource rows (two slots and the app's
disk use). Target: at most 2 MB per app-day at minute granularity.

| database | minute rows per app-day | hour + day rollups per app-day | the server's rows per day | totals in the database |
| --- | --- | --- | --- | --- |
${storageRows.join("\n")}`;
}
