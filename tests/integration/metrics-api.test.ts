import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { productionEnvironment } from "../../backend/db/queries/apps.ts";
import { apps, releases, requestStats, resourceStats, trafficSwitches } from "../../backend/db/schema/index.ts";
import { encodeSketch, newSketch } from "../../backend/domain/metrics.ts";
import { rollUpAndPrune } from "../../backend/jobs/metrics-retention.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

function sketchOf(values: number[]): Uint8Array {
  const s = newSketch();
  for (const v of values) s.accept(v);
  return Buffer.from(encodeSketch(s));
}

describe(`metrics API, rollups and retention (${TEST_DB})`, () => {
  let api: TestApi;
  let owner: string;
  let appId: string;
  let repo: TestRepo;
  let r1: string;
  let r2: string;
  // A fixed hour two days ago, so rollups of it are complete.
  const base = Math.floor((Date.now() - 2 * DAY) / HOUR) * HOUR;

  beforeAll(async () => {
    api = await createTestApi();
    owner = await api.setupOwner();
    repo = await createRepo({ "index.html": "<h1>test</h1>" });
    const db = api.services.db;
    const created = await api.request("POST", "/api/v1/apps", {
      cookie: owner,
      body: { name: "charted", repoUrl: repo.url },
    });
    expect(created.status).toBe(201);
    const [app] = await db.select().from(apps).where(eq(apps.name, "charted"));
    if (!app) throw new Error("no app");
    appId = app.id;
    const environment = await productionEnvironment(db, appId);
    const release = (number: number) => ({
      appId,
      environmentId: environment.id,
      number,
      commitSha: "a".repeat(40),
      runtime: "bun",
      dir: `/tmp/r${number}`,
      envFile: `/tmp/r${number}.env`,
      startCommand: ["bun", "server.ts"],
    });
    const made = await db
      .insert(releases)
      .values([release(1), release(2)])
      .returning();
    r1 = (made[0] as { id: string }).id;
    r2 = (made[1] as { id: string }).id;
    await db.insert(trafficSwitches).values([
      { appId, at: new Date(base - HOUR), color: "blue", releaseId: r1, kind: "deploy" },
      { appId, at: new Date(base + 30 * MIN), color: "green", releaseId: r2, kind: "deploy" },
    ]);
    // One row per minute of the hour: blue/r1 before the switch, green/r2 from it; every minute 10 requests, 1 a 5xx.
    const rows = Array.from({ length: 60 }, (_, m) => ({
      appId,
      resolution: "minute" as const,
      bucket: new Date(base + m * MIN),
      slot: m < 30 ? "blue" : "green",
      releaseId: m < 30 ? r1 : r2,
      requests: 10,
      s2xx: 9,
      s5xx: 1,
      bytesIn: 1000,
      bytesOut: 5000,
      timed: 10,
      latencySumMs: m < 30 ? 100 : 1000,
      sketch: sketchOf(Array.from({ length: 10 }, () => (m < 30 ? 10 : 100))),
    }));
    await db.insert(requestStats).values(rows);
    await db.insert(resourceStats).values(
      Array.from({ length: 60 }, (_, m) => ({
        resolution: "minute" as const,
        bucket: new Date(base + m * MIN),
        subject: "slot" as const,
        appId,
        slot: "blue",
        samples: 6,
        values: { cpu: m < 30 ? 0.5 : 0.1, memory: 100 * (m + 1), restarts: m >= 45 ? 1 : 0, up: 1, live: m < 30 ? 1 : 0 },
      })),
    );
  });
  afterAll(async () => {
    await api.close();
    repo?.cleanup();
  });

  const get = (path: string) => api.request("GET", path, { cookie: owner });

  test("the minute series sums, splits by status, and marks the switch; before/after figures around it", async () => {
    const res = await get(`/api/v1/apps/charted/metrics?from=${base}&to=${new Date(base + HOUR).toISOString()}&step=15m`);
    expect(res.status).toBe(200);
    const m = res.body;
    expect(m.step).toBe("15m");
    expect(m.series).toHaveLength(4);
    expect(m.series.map((p: { requests: number }) => p.requests)).toEqual([150, 150, 150, 150]);
    expect(m.series[0].status).toEqual({ "2xx": 135, "3xx": 0, "4xx": 0, "5xx": 15 });
    expect(m.series[0].p95).toBeCloseTo(10, 0);
    expect(m.series[3].p95).toBeCloseTo(100, -1);
    expect(m.series[0].slots.blue.cpu).toBeCloseTo(0.5, 5);
    expect(m.series[0].cpu).toBeCloseTo(0.5, 5);
    expect(m.series[3].slots.blue.restarts).toBe(1);
    expect(m.totals).toMatchObject({ requests: 600, errorRate: 0.1, bytesOut: 300_000 });
    expect(m.markers).toEqual([
      { at: new Date(base + 30 * MIN).toISOString(), kind: "deploy", color: "green", releaseId: r2, releaseNumber: 2, jobId: null },
    ]);
    expect(m.releases).toEqual([
      { id: r1, number: 1, from: new Date(base - HOUR).toISOString(), to: new Date(base + 30 * MIN).toISOString() },
      { id: r2, number: 2, from: new Date(base + 30 * MIN).toISOString(), to: null },
    ]);
    const two = m.perRelease.find((r: { number: number }) => r.number === 2);
    expect(two.requests).toBe(300);
    expect(two.switches).toHaveLength(1);
    expect(two.switches[0].windowSeconds).toBe(900);
    expect(two.switches[0].before).toMatchObject({ requests: 150, errorRate: 0.1 });
    expect(two.switches[0].after).toMatchObject({ requests: 150, errorRate: 0.1 });
    expect(two.switches[0].after.p95).toBeGreaterThan(two.switches[0].before.p95);
  });

  test("rollups: hours from minutes and days from hours, the same figures, idempotent; then minutes past retention go", async () => {
    const now = base + 3 * DAY;
    const first = await rollUpAndPrune(api.services, undefined, now);
    expect(first.skipped).toBe(false);
    const db = api.services.db;
    const hourRows = () =>
      db
        .select()
        .from(requestStats)
        .where(and(eq(requestStats.appId, appId), eq(requestStats.resolution, "hour")));
    const once = await hourRows();
    expect(once.map((r) => [r.slot, r.requests, r.s5xx, r.bytesOut]).sort()).toEqual([
      ["blue", 300, 30, 150_000],
      ["green", 300, 30, 150_000],
    ]);
    await rollUpAndPrune(api.services, undefined, now);
    expect((await hourRows()).map((r) => r.requests).sort()).toEqual([300, 300]);

    const hourly = await get(`/api/v1/apps/charted/metrics?from=${base}&to=${base + HOUR}&step=1h`);
    expect(hourly.body.series).toHaveLength(1);
    expect(hourly.body.series[0].requests).toBe(600);
    expect(hourly.body.series[0].p99).toBeCloseTo(100, -1);
    const daily = await get(`/api/v1/apps/charted/metrics?from=${base - DAY}&to=${base + DAY}&step=1d`);
    expect(daily.body.series.reduce((n: number, p: { requests: number }) => n + p.requests, 0)).toBe(600);

    const [resourceHour] = await db
      .select()
      .from(resourceStats)
      .where(and(eq(resourceStats.appId, appId), eq(resourceStats.resolution, "hour")));
    expect(resourceHour?.samples).toBe(360);
    expect(resourceHour?.values.cpu).toBeCloseTo(0.3, 5);
    expect(resourceHour?.values.restarts).toBe(1);

    const summary = await get(`/api/v1/apps/charted/metrics/daily?from=${base}&to=${base + 1}`);
    expect(summary.status).toBe(200);
    expect(summary.body.days).toEqual([
      {
        day: new Date(base).toISOString().slice(0, 10),
        requests: 600,
        errorRate: 0.1,
        p95: expect.any(Number),
        uptime: 1,
        deploys: 1,
        rollbacks: 0,
      },
    ]);

    // Past minuteDays (7) the minutes go; hours and days stay.
    const later = await rollUpAndPrune(api.services, undefined, base + 8 * DAY);
    expect(later.pruned.requests).toBe(60);
    expect(later.pruned.resources).toBe(60);
    expect(await hourRows()).toHaveLength(2);
  });

  test("the dashboard: 24 hourly counts per app and the system row (none yet)", async () => {
    const res = await get("/api/v1/metrics/apps");
    expect(res.status).toBe(200);
    const card = res.body.apps.find((a: { app: string }) => a.app === "charted");
    expect(card.requests).toHaveLength(24);
    expect(card.errorRate).toBe(0);
    expect(card.p95).toBeNull();
    expect(res.body.cores).toBeGreaterThan(0);
  });

  test("bad ranges and steps are 400 naming the problem; an unknown app is 404; no session is 401", async () => {
    for (const [query, path] of [
      ["from=yesterday", "from"],
      ["to=2026-13-45T00:00:00Z", "to"],
      ["step=2m", "step"],
      [`from=${base + HOUR}&to=${base}`, "from"],
      [`from=${base - 30 * DAY}&to=${base}&step=1m`, "step"],
    ] as const) {
      const res = await get(`/api/v1/apps/charted/metrics?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toStartWith(path);
    }
    expect((await get("/api/v1/apps/charted/metrics/daily?from=nope")).status).toBe(400);
    expect((await get(`/api/v1/apps/charted/metrics/daily?from=${base}&to=${base - DAY}`)).status).toBe(400);
    expect((await get("/api/v1/apps/nothing-here/metrics")).status).toBe(404);
    expect((await get("/api/v1/apps/nothing-here/metrics/daily")).status).toBe(404);
    expect((await api.request("GET", "/api/v1/apps/charted/metrics")).status).toBe(401);
    expect((await api.request("GET", "/api/v1/metrics/apps")).status).toBe(401);
    // Defaults: the last 6 h at 1 m.
    const defaults = await get("/api/v1/apps/charted/metrics");
    expect(defaults.status).toBe(200);
    expect(defaults.body.step).toBe("1m");
    expect(Date.parse(defaults.body.to) - Date.parse(defaults.body.from)).toBe(6 * HOUR);
  });
});
