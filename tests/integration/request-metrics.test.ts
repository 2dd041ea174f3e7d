import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { eq, sql } from "drizzle-orm";
import { createPrivateProxy, findNginx } from "../../backend/adapters/proxy/index.ts";
import { createProcessRuntime } from "../../backend/adapters/runtime/process.ts";
import { openDatabase } from "../../backend/db/client.ts";
import { apps, requestStats, requestTotals, trafficSwitches } from "../../backend/db/schema/index.ts";
import { Ingester } from "../../backend/jobs/ingest.ts";
import { createLogger } from "../../backend/log.ts";
import { freshDatabase, TEST_DB, type TestDatabase } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { startLoad } from "../helpers/load.ts";
import { createTestApi } from "../helpers/panel.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const nginx = findNginx();

/** The test app: `/fail` answers 500, `/` its version (after `DELAY_MS` when its build set one). */
function metricsApp(version: string, delayMs = 0): Record<string, string> {
  return bunApp(version, {
    "server.ts": `const version = await Bun.file("version.txt").text();
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/fail") return new Response("failed on purpose", { status: 500 });
    if (${delayMs} > 0 && url.pathname !== "/health") await Bun.sleep(${delayMs});
    return new Response(version);
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
  });
}

/** `count` requests through nginx, every `failEvery`-th to /fail; resolves with how many answered 500. */
async function drive(port: number, host: string, count: number, failEvery: number): Promise<number> {
  let fails = 0;
  for (let i = 1; i <= count; i++) {
    const fail = i % failEvery === 0;
    const res = await fetch(`http://127.0.0.1:${port}${fail ? "/fail" : `/page/${i}`}`, { headers: { host } });
    await res.arrayBuffer();
    expect(res.status).toBe(fail ? 500 : 200);
    if (fail) fails++;
  }
  return fails;
}

describe.skipIf(!nginx)(`request metrics from nginx (${TEST_DB})`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-metrics-"));
  const proxyPort = freePort();
  let external: TestDatabase | null = null;
  let panel: PanelProcess | null = null;
  let repo: TestRepo | null = null;
  afterAll(async () => {
    await panel?.stop();
    await createProcessRuntime({ dataDir })
      .remove("counted")
      .catch(() => {});
    await external?.drop();
    repo?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("N requests (some 500) count exactly once in the minute series, the 5xx count, the totals and /metrics, across a panel restart and two log rotations", async () => {
    if (TEST_DB === "postgres") {
      external = await freshDatabase();
      await external.close();
    }
    const env: Record<string, string> = {
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_PROXY_PORT: String(proxyPort),
      SWITCHYARD_INGEST_MS: "200",
      SWITCHYARD_METRICS: "on",
      DATABASE_URL: external?.url ?? "",
    };
    panel = await startPanelProcess(env);
    const call = async (method: string, path: string, body?: unknown, auth: Record<string, string> = {}) => {
      const res = await fetch(`${panel?.url}${path}`, {
        method,
        headers: { "content-type": "application/json", origin: panel?.url ?? "", ...auth },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let json: any = null;
      try {
        json = JSON.parse(text);
      } catch {}
      return { status: res.status, body: json, text, headers: res.headers };
    };
    const setup = await call("POST", "/api/v1/setup", {
      email: "o@example.com",
      password: "metrics-test-pass",
      name: "O",
      code: panel.setupCode,
    });
    expect(setup.status).toBe(201);
    const cookie = (setup.headers.getSetCookie()[0] ?? "").split(";")[0] as string;
    const token = (await call("POST", "/api/v1/tokens", { name: "metrics" }, { cookie })).body.token as string;
    const auth = { authorization: `Bearer ${token}` };

    repo = await createRepo(metricsApp("v1"));
    expect(
      (await call("POST", "/api/v1/apps", { name: "counted", repoUrl: repo.url, healthTimeoutSec: 20, watchSeconds: 0 }, auth)).status,
    ).toBe(201);
    const job = (await call("POST", "/api/v1/apps/counted/deploy", {}, auth)).body.job.id as string;
    const done = await waitFor(
      async () => {
        const j = await call("GET", `/api/v1/jobs/${job}`, undefined, auth);
        return ["queued", "running"].includes(j.body.job.status) ? null : j.body.job;
      },
      { what: "the deploy to finish", timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(done.status).toBe("succeeded");
    const started = Date.now();
    const host = "counted.localhost";
    const proxy = createPrivateProxy({
      dataDir,
      port: proxyPort,
      tlsPort: freePort(),
      log: createLogger("silent"),
      privilege: { root: false },
    });

    let total = 0;
    let fails = 0;
    const batch = async (n: number) => {
      fails += await drive(proxyPort, host, n, 7);
      total += n;
    };

    await batch(50);
    // The panel stops (nginx and the app keep serving); its log rotates while it is down.
    panel.proc.kill("SIGTERM");
    await panel.proc.exited;
    await batch(40);
    expect(await proxy.rotateLogs?.({ maxBytes: 0, keep: 3 })).toEqual([proxy.paths.accessLog("counted")]);
    await batch(40);
    panel = await startPanelProcess(env);
    await batch(40);
    // A rotation while it runs.
    expect(await proxy.rotateLogs?.({ maxBytes: 0, keep: 3 })).toEqual([proxy.paths.accessLog("counted")]);
    await batch(45);

    const range = `from=${started - 120_000}&to=${Date.now() + 120_000}&step=1m`;
    const metrics = await waitFor(
      async () => {
        const res = await call("GET", `/api/v1/apps/counted/metrics?${range}`, undefined, auth);
        const sum = (res.body.series as Array<{ requests: number }>).reduce((n, p) => n + p.requests, 0);
        return sum >= total ? res.body : null;
      },
      { what: `all ${total} requests to be ingested`, timeoutMs: 60_000, intervalMs: 200 },
    );
    const series = metrics.series as Array<{
      requests: number;
      status: { "2xx": number; "5xx": number };
      p95: number | null;
      bytesOut: number;
    }>;
    expect(series.reduce((n, p) => n + p.requests, 0)).toBe(total);
    expect(series.reduce((n, p) => n + p.status["5xx"], 0)).toBe(fails);
    expect(series.reduce((n, p) => n + p.status["2xx"], 0)).toBe(total - fails);
    expect(metrics.totals.requests).toBe(total);
    expect(metrics.totals.bytesOut).toBeGreaterThan(0);
    expect(series.some((p) => p.p95 !== null)).toBe(true);
    expect(metrics.markers.map((m: { kind: string }) => m.kind)).toEqual(["deploy"]);
    expect(metrics.releases).toEqual([{ id: expect.any(String), number: 1, from: expect.any(String), to: null }]);
    expect(metrics.perRelease[0]).toMatchObject({ number: 1, requests: total });

    const overview = (await call("GET", "/api/v1/metrics/apps", undefined, auth)).body;
    const card = overview.apps.find((a: { app: string }) => a.app === "counted");
    expect(card.requests.reduce((n: number, x: number) => n + x, 0)).toBe(total);
    expect(card.errorRate).toBeCloseTo(fails / total, 10);

    const prometheus = await fetch(`${panel.url}/metrics`, { headers: auth });
    expect(prometheus.status).toBe(200);
    const text = await prometheus.text();
    const counter = (cls: string) =>
      Number(new RegExp(`^switchyard_http_requests_total\\{app="counted",class="${cls}"\\} (\\d+)`, "m").exec(text)?.[1] ?? "NaN");
    expect(counter("5xx")).toBe(fails);
    expect(counter("2xx")).toBe(total - fails);
    expect(Number(/^switchyard_http_request_duration_seconds_count\{app="counted"\} (\d+)/m.exec(text)?.[1])).toBe(total);
  }, 300_000);
});

describe(`ingestion by two panels on one database (${TEST_DB})`, () => {
  test("two ingesters reading the same log at once count every line exactly once", async () => {
    const api = await createTestApi();
    const second = api.database.url ? await openDatabase({ url: api.database.url, pgliteDir: null, max: 2 }) : null;
    try {
      const db = api.services.db;
      const [app] = await db.insert(apps).values({ name: "twice", repoUrl: "https://example.com/t.git" }).returning();
      if (!app) throw new Error("no app");
      await db.insert(trafficSwitches).values({ appId: app.id, at: new Date(Date.now() - 3_600_000), color: "blue", kind: "deploy" });
      const log = api.services.proxy.paths.accessLog("twice");
      mkdirSync(dirname(log), { recursive: true });
      writeFileSync(log, "");
      const line = (i: number) =>
        `${JSON.stringify({
          msec: Date.now() / 1000,
          host: i % 10 === 0 ? "twice.confirm.switchyard.invalid" : "twice.localhost",
          status: i % 5 === 0 ? 503 : 200,
          request_time: 0.002,
          upstream: "unix:/x/twice.sock",
          upstream_time: "0.001",
          bytes_in: 100,
          bytes_out: 50,
        })}\n`;
      const quiet = createLogger("silent");
      const a = new Ingester({ db, proxy: api.services.proxy, log: quiet }, { intervalMs: 1_000, maxBytes: 4096 });
      const b = new Ingester({ db: second?.db ?? db, proxy: api.services.proxy, log: quiet }, { intervalMs: 1_000, maxBytes: 4096 });
      let written = 0;
      for (let round = 0; round < 10; round++) {
        let text = "";
        for (let i = 0; i < 100; i++) text += line(written + i);
        appendFileSync(log, text);
        written += 100;
        await Promise.all([a.ingestNow({ all: true }), b.ingestNow({ all: true }), a.ingestNow(), b.ingestNow({ all: true })]);
      }
      await a.ingestNow({ all: true });
      await b.ingestNow({ all: true });
      const counted = written - written / 10;
      const [stats] = await db
        .select({ requests: sql<string>`sum(${requestStats.requests})`, s5xx: sql<string>`sum(${requestStats.s5xx})` })
        .from(requestStats)
        .where(eq(requestStats.appId, app.id));
      expect(Number(stats?.requests)).toBe(counted);
      const fives = Array.from({ length: written }, (_, i) => i).filter((i) => i % 10 !== 0 && i % 5 === 0).length;
      expect(Number(stats?.s5xx)).toBe(fives);
      const [totals] = await db.select().from(requestTotals).where(eq(requestTotals.appId, app.id));
      expect(totals?.requests).toBe(counted);
      expect(totals?.s5xx).toBe(fives);
      expect(totals?.bytesIn).toBe(counted * 100);
      expect(totals?.latencyBuckets.at(-1)).toBe(counted);
    } finally {
      await second?.close();
      await api.close();
    }
  }, 120_000);
});

describe.skipIf(!nginx)(`the post-switch watch reads ingested figures (${TEST_DB})`, () => {
  test("a release whose p95 grows past the app's factor is rolled back automatically, and the chart marks it", async () => {
    const api = await createTestApi({ background: true, config: { SWITCHYARD_INGEST_MS: "200" } });
    const repo = await createRepo(metricsApp("fast"));
    try {
      const cookie = await api.setupOwner();
      const created = await api.request("POST", "/api/v1/apps", {
        cookie,
        body: { name: "slowed", repoUrl: repo.url, healthTimeoutSec: 20, watchSeconds: 8, drainSeconds: 1, watchLatencyFactor: 3 },
      });
      expect(created.status).toBe(201);
      const deploy = async () => {
        const res = await api.request("POST", "/api/v1/apps/slowed/deploy", { cookie, body: {} });
        expect(res.status).toBe(202);
        await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
        return (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
      };
      expect((await deploy()).status).toBe("succeeded");
      const load = startLoad({ url: `http://127.0.0.1:${api.config.proxyPort}/`, host: "slowed.localhost", concurrency: 6 });
      try {
        // The old slot's figures before the switch are the baseline: wait until some are in.
        await waitFor(
          async () => {
            const m = (await api.request("GET", "/api/v1/apps/slowed/metrics", { cookie })).body;
            return m.totals.requests >= 200;
          },
          { what: "baseline traffic to be ingested", timeoutMs: 60_000, intervalMs: 200 },
        );
        await repo.commit(metricsApp("slow", 300), "slow");
        const job = await deploy();
        expect(job.status).toBe("failed");
        expect(job.error).toContain("Rolled back automatically");
        expect(job.error).toContain("p95");
      } finally {
        await load.stop();
      }
      const metrics = (await api.request("GET", "/api/v1/apps/slowed/metrics", { cookie })).body;
      expect(metrics.markers.map((m: { kind: string }) => m.kind)).toEqual(["deploy", "deploy", "auto-rollback"]);
      const slow = metrics.perRelease.find((r: { number: number }) => r.number === 2);
      expect(slow.switches[0].after.p95).toBeGreaterThan(slow.switches[0].before.p95 ?? 0);
    } finally {
      await api.close();
      repo.cleanup();
    }
  }, 300_000);
});
