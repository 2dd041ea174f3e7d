import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import postgres from "postgres";
import { DIAGNOSTIC_CHECKS } from "../../backend/contract/api.ts";
import type { PanelEvent } from "../../backend/contract/events.ts";
import { RESOURCE_LOCK } from "../../backend/db/queries/resources.ts";
import { apps, resourceStats } from "../../backend/db/schema/index.ts";
import { Sampler } from "../../backend/jobs/sampler.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";
import { parseExposition } from "../helpers/prometheus.ts";
import { readSse } from "../helpers/sse.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Resource sampling end to end: a real app deployed behind the panel's nginx, sampled every
 * 500 ms; its process killed in its slot; the restart seen in the stored series, the events and
 * /metrics; the system series, disk use and diagnostics through the API.
 */
describe(`resource sampling (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let token: string;
  let viewerToken: string;
  let repo: TestRepo;
  const events: PanelEvent[] = [];
  let stopEvents: (() => void) | null = null;
  const APP = "sampled";

  beforeAll(async () => {
    api = await createTestApi({ background: true, config: { SWITCHYARD_SAMPLE_MS: "500" } });
    cookie = await api.setupOwner();
    token = (await api.request("POST", "/api/v1/tokens", { cookie, body: { name: "scraper" } })).body.token;
    const viewer = await api.request("POST", "/api/v1/users", {
      token,
      body: { email: "viewer@example.com", name: "Viewer", password: "correct-horse-battery", role: "viewer" },
    });
    expect(viewer.status).toBe(201);
    const login = await api.request("POST", "/api/v1/auth/login", {
      body: { email: "viewer@example.com", password: "correct-horse-battery" },
    });
    viewerToken = (await api.request("POST", "/api/v1/tokens", { cookie: cookieFrom(login.headers), body: { name: "viewer" } })).body.token;

    // Every event from here on, as the GUI's event stream gets them.
    const res = await api.app.fetch(
      new Request("http://localhost:3000/api/v1/events", { headers: { accept: "text/event-stream", cookie } }),
    );
    let ready = false;
    let stop = false;
    stopEvents = () => {
      stop = true;
    };
    void readSse(res.body as ReadableStream<Uint8Array>, (e) => {
      if (e.event === "ready") ready = true;
      else events.push(JSON.parse(e.data) as PanelEvent);
      return stop;
    });
    await waitFor(() => ready, { timeoutMs: 10_000, what: "the event stream to be ready" });

    repo = await createRepo(bunApp("v1"));
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: APP, repoUrl: repo.url, healthTimeoutSec: 20, watchSeconds: 1, drainSeconds: 1 },
    });
    expect(created.status).toBe(201);
    const deploy = await api.request("POST", `/api/v1/apps/${APP}/deploy`, { cookie, body: {} });
    expect(deploy.status).toBe(202);
    await api.services.orchestrator.waitFor(deploy.body.job.id, 120_000);
    expect((await api.request("GET", `/api/v1/jobs/${deploy.body.job.id}`, { cookie })).body.job.status).toBe("succeeded");
  }, 180_000);

  afterAll(async () => {
    stopEvents?.();
    await api?.close();
    repo?.cleanup();
  });

  async function liveColor(): Promise<"blue" | "green"> {
    return (await api.request("GET", `/api/v1/apps/${APP}`, { cookie })).body.app.liveColor;
  }

  const metricEvents = () => events.filter((e): e is Extract<PanelEvent, { type: "metric" }> => e.type === "metric");

  test("a killed app process restarts, and the restart shows in the series, the events and /metrics", async () => {
    const color = await liveColor();
    const before = await api.services.runtime.status(APP, color);
    expect(before.state).toBe("running");
    expect(before.pid).not.toBeNull();

    // The sampler has seen the slot running, with its memory, before the kill.
    const seen = await waitFor(
      () => api.services.sampler.latest()?.slots.find((s) => s.app === APP && s.color === color && s.pid === before.pid && s.cpu !== null),
      { timeoutMs: 30_000, what: "a sample of the live slot with its CPU" },
    );
    expect(seen.up).toBe(true);
    expect(seen.live).toBe(true);
    expect(seen.memory).toBeGreaterThan(1024 * 1024);
    expect(seen.restarts).toBe(before.restarts);
    const metric = await waitFor(() => metricEvents().find((e) => e.apps.some((a) => a.app === APP && a.memory !== null)), {
      timeoutMs: 30_000,
      what: "a metric event naming the app",
    });
    expect(metric.system?.memoryTotal).toBeGreaterThan(0);
    const eventsBefore = events.length;

    process.kill(before.pid as number, "SIGKILL");

    // The runtime starts it again; the sampler notices the counter grew.
    const after = await waitFor(
      async () => {
        const s = await api.services.runtime.status(APP, color);
        return s.restarts > before.restarts && s.pid !== null && s.pid !== before.pid ? s : null;
      },
      { timeoutMs: 30_000, what: "the runtime to restart the killed process" },
    );
    const sample = await waitFor(
      () =>
        api.services.sampler
          .latest()
          ?.slots.find((s) => s.app === APP && s.color === color && s.restarts === after.restarts && s.pid === after.pid),
      { timeoutMs: 30_000, what: "a sample of the restarted process carrying the new restart count" },
    );
    expect(sample.up).toBe(true);

    // Events: the metric event carries the count, and slot.updated announces the restart.
    await waitFor(() => metricEvents().some((e) => e.apps.some((a) => a.app === APP && a.restarts >= after.restarts)), {
      timeoutMs: 30_000,
      what: "a metric event with the restart",
    });
    await waitFor(() => events.slice(eventsBefore).some((e) => e.type === "slot.updated" && e.app === APP && e.color === color), {
      timeoutMs: 30_000,
      what: "a slot.updated event after the restart",
    });
    // …recorded once in the audit log, with the signal that ended it.
    const audit = await api.request("GET", "/api/v1/audit", { token });
    const restarts = audit.body.entries.filter((e: { action: string }) => e.action === "slot.restarted");
    expect(restarts).toHaveLength(1);
    expect(restarts[0].target).toBe(`app:${APP}`);
    expect(restarts[0].details).toMatchObject({ color, restarts: after.restarts, exit: { signal: "SIGKILL" } });

    // The series: the minute so far written now, then read through the app's metrics.
    expect(await api.services.sampler.flush()).toBe(true);
    const from = Date.now() - 10 * 60_000;
    const series = await api.request("GET", `/api/v1/apps/${APP}/metrics?from=${from}&to=${Date.now() + 60_000}&step=1m`, { token });
    expect(series.status).toBe(200);
    const points = (series.body.series as Array<{ slots: Record<string, { restarts: number; memory: number | null }> }>).filter(
      (p) => p.slots[color],
    );
    expect(points.length).toBeGreaterThan(0);
    expect(Math.max(...points.map((p) => p.slots[color]?.restarts ?? 0))).toBe(after.restarts);
    expect(points.some((p) => (p.slots[color]?.memory ?? 0) > 0)).toBe(true);

    // Prometheus sees the same count.
    const text = await (
      await api.app.fetch(new Request("http://localhost:3000/metrics", { headers: { authorization: `Bearer ${token}` } }))
    ).text();
    expect(text).toContain(`switchyard_slot_restarts_total{app="${APP}",slot="${color}"} ${after.restarts}\n`);
    expect(text).toContain(`switchyard_slot_up{app="${APP}",slot="${color}"} 1\n`);
    expect(text).toContain(`switchyard_slot_live{app="${APP}",slot="${color}"} 1\n`);
  }, 120_000);

  test("the system series, the newest sample, disk use per app and the database's size", async () => {
    await waitFor(() => api.services.sampler.latest()?.system.cpu !== null, { what: "a CPU figure" });
    expect(await api.services.sampler.flush()).toBe(true);
    const to = new Date(Date.now() + 60_000);
    const from = Date.now() - 5 * 60_000;
    const res = await api.request("GET", `/api/v1/system/metrics?from=${from}&to=${encodeURIComponent(to.toISOString())}&step=1m`, {
      token: viewerToken,
    });
    expect(res.status).toBe(200);
    const body = res.body;
    expect(body.step).toBe("1m");
    expect(body.series.length).toBeGreaterThanOrEqual(6);
    const filled = body.series.filter((p: { memoryTotal: number | null }) => p.memoryTotal !== null);
    expect(filled.length).toBeGreaterThan(0);
    for (const p of filled) {
      expect(p.memoryUsed).toBeLessThanOrEqual(p.memoryTotal);
      expect(p.disks.length).toBeGreaterThan(0);
      expect(Object.keys(p.pressure)).toEqual(["cpu", "memory", "io"]);
    }
    expect(filled.some((p: { cpu: number | null }) => p.cpu !== null && p.cpu >= 0 && p.cpu <= 1)).toBe(true);
    expect(body.now.memoryTotal).toBeGreaterThan(0);
    expect(body.cores).toBeGreaterThanOrEqual(1);
    expect(body.disk.databaseKind).toBe(TEST_DB);
    expect(body.disk.database).toBeGreaterThan(0);
    const use = body.disk.apps.find((a: { app: string }) => a.app === APP);
    expect(use.releases).toBeGreaterThan(0);
    expect(use.total).toBe(use.releases + use.logs + use.buildCache);
    // Each app's disk use is stored with the minute too.
    const [app] = await api.services.db.select().from(apps).where(eq(apps.name, APP));
    await waitFor(
      async () => {
        await api.services.sampler.flush();
        const rows = await api.services.db
          .select()
          .from(resourceStats)
          .where(and(eq(resourceStats.subject, "app"), eq(resourceStats.appId, app?.id as string)));
        return rows.some((r) => Number(r.values.releases) > 0 && r.values.releases === use.releases);
      },
      { timeoutMs: 30_000, what: "a stored row of the app's disk use" },
    );
  });

  test("two panels sampling: one row per subject and minute, and the one without the lock writes nothing", async () => {
    const second = new Sampler(api.services, { sampleMs: 500 });
    await second.tick();
    await second.tick();
    expect(await second.flush()).toBe(true);
    expect(await api.services.sampler.flush()).toBe(true);
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const system = await api.services.db
      .select()
      .from(resourceStats)
      .where(and(eq(resourceStats.subject, "system"), eq(resourceStats.resolution, "minute"), eq(resourceStats.bucket, minute)));
    // The minute may have turned between the flush and the query; then its row is still to come.
    expect(system.length).toBeLessThanOrEqual(1);
    if (!api.database.url) return; // PGlite has one connection: no other session can hold the lock meanwhile.
    const other = postgres(api.database.url, { max: 1, onnotice: () => {} });
    try {
      await other.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${RESOURCE_LOCK})`;
        expect(await second.flush()).toBe(false);
      });
      expect(await second.flush()).toBe(true);
    } finally {
      await other.end();
    }
  });

  test("bad ranges are 400s that say what is wrong", async () => {
    for (const query of [
      "from=yesterday",
      "to=2026-13-45T99:00:00Z",
      "step=2m",
      `from=${Date.now()}&to=${Date.now() - 1000}`,
      "from=0&step=1m",
    ]) {
      const res = await api.request("GET", `/api/v1/system/metrics?${query}`, { token });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("validation_failed");
      expect(res.body.error.message.length).toBeGreaterThan(0);
    }
  });

  test("diagnostics: every check, for admins only, each problem with its fix", async () => {
    expect((await api.request("GET", "/api/v1/system/diagnostics", { token: viewerToken })).status).toBe(403);
    const res = await api.request("GET", "/api/v1/system/diagnostics", { token });
    expect(res.status).toBe(200);
    const checks = res.body.checks as Array<{ check: string; status: string; summary: string; fix: string | null }>;
    expect(checks.map((c) => c.check)).toEqual([...DIAGNOSTIC_CHECKS]);
    const by = Object.fromEntries(checks.map((c) => [c.check, c]));
    expect(by.nginx?.status).toBe("ok");
    expect(by.nginx?.summary).toContain("configuration valid");
    expect(by.database?.status).toBe("ok");
    expect(by.certbot?.status).toBe("skipped");
    expect(by.helper?.status).toBe("skipped");
    expect(["ok", "warning"]).toContain(by.memory?.status as string);
    expect(["ok", "warning", "error"]).toContain(by.disk?.status as string);
    expect(by.ingestion?.status).not.toBe("error");
    for (const c of checks) {
      expect(c.summary.length).toBeGreaterThan(0);
      if (c.status === "warning" || c.status === "error") expect(c.fix?.length).toBeGreaterThan(0);
    }
  });

  test("/metrics answers an API token only", async () => {
    const get = (headers: Record<string, string>) => api.app.fetch(new Request("http://localhost:3000/metrics", { headers }));
    const none = await get({});
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("unauthenticated");
    expect((await get({ cookie })).status).toBe(401);
    expect((await get({ authorization: "Bearer not-a-token" })).status).toBe(401);
    const ok = await get({ authorization: `Bearer ${viewerToken}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toContain("text/plain");
    expect(ok.headers.get("content-type")).toContain("version=0.0.4");
    const text = await ok.text();
    // The whole answer passes the strict reader of the format, histograms checked.
    const families = parseExposition(text);
    expect(families.get("switchyard_slot_up")?.samples.some((s) => s.labels.app === APP)).toBe(true);
    expect(text).toContain(`switchyard_deploys_total{app="${APP}",status="succeeded"} 1\n`);
    expect(text).toContain('switchyard_job_duration_seconds_count{kind="deploy",status="succeeded"} 1\n');
    expect(text).toMatch(/^switchyard_system_memory_total_bytes \d+$/m);
    expect(text).toMatch(/^switchyard_database_bytes \d+$/m);
    expect(
      (await api.app.fetch(new Request("http://localhost:3000/metrics", { method: "POST", headers: { authorization: `Bearer ${token}` } })))
        .status,
    ).toBe(405);
  });
});

describe(`resource sampling turned off (${TEST_DB})`, () => {
  test("SWITCHYARD_METRICS=off: nothing is sampled or stored, the API still answers", async () => {
    const api = await createTestApi({ background: true, config: { SWITCHYARD_METRICS: "off", SWITCHYARD_SAMPLE_MS: "500" } });
    try {
      const cookie = await api.setupOwner();
      expect(api.services.sampler.started).toBe(false);
      const res = await api.request("GET", "/api/v1/system/metrics?step=1h", { cookie });
      expect(res.status).toBe(200);
      expect(res.body.now).toBeNull();
      expect(
        res.body.series.every((p: { cpu: number | null; memoryTotal: number | null }) => p.cpu === null && p.memoryTotal === null),
      ).toBe(true);
      const diagnostics = await api.request("GET", "/api/v1/system/diagnostics", { cookie });
      expect(diagnostics.body.checks.find((c: { check: string }) => c.check === "ingestion").status).toBe("skipped");
      expect(await api.services.db.select().from(resourceStats)).toEqual([]);
    } finally {
      await api.close();
    }
  });
});
