import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
import { ensureDefaultRules } from "../../backend/db/queries/alerts.ts";
import { alertSends, apps, auditLog, requestStats } from "../../backend/db/schema/index.ts";
import { evaluateAlerts } from "../../backend/jobs/alerts.ts";
import { runDeliveryPass } from "../../backend/jobs/notification-worker.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

const nginx = findNginx();
const MINUTE = 60_000;

/** An app whose every page answers `status` (its health path answers 200, so it deploys). */
function answering(version: string, status: number): Record<string, string> {
  return bunApp(version, {
    "server.ts": `const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  fetch(req) {
    if (new URL(req.url).pathname === "/health") return new Response("ok");
    return new Response(${JSON.stringify(version)}, { status: ${status} });
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
  });
}

/** A local receiver standing in for a webhook channel: every POST it got, parsed. */
function receiver() {
  const received: Array<{ title: string; event: string; text: string }> = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const body = (await req.json()) as { event?: string; message?: { title: string; event: string; text: string }; title?: string };
      const message = body.message ?? (body as { title: string; event: string; text: string });
      received.push({ title: message.title, event: message.event ?? body.event ?? "", text: message.text });
      return new Response("ok");
    },
  });
  return { received, url: `http://127.0.0.1:${server.port}/hook`, stop: () => server.stop(true) };
}

describe.skipIf(!nginx)(`an alert from real 5xx traffic through nginx (${TEST_DB})`, () => {
  let api: TestApi;
  let repo: TestRepo;
  beforeAll(async () => {
    api = await createTestApi({ background: true, config: { SWITCHYARD_INGEST_MS: "200", SWITCHYARD_METRICS: "on" } });
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  test("an app that starts answering 500 fires its 5xx rule with the value that crossed; a fixed version resolves it", async () => {
    const cookie = await api.setupOwner();
    const call = (method: string, path: string, body?: unknown) =>
      api.request(method, path, { cookie, ...(body === undefined ? {} : { body }) });
    repo = await createRepo(answering("v1", 200));
    expect(
      (
        await call("POST", "/api/v1/apps", {
          name: "flaky",
          repoUrl: repo.url,
          healthPath: "/health",
          healthTimeoutSec: 30,
          watchSeconds: 0,
        })
      ).status,
    ).toBe(201);
    const deploy = async () => {
      const job = (await call("POST", "/api/v1/apps/flaky/deploy", {})).body.job.id as string;
      const done = await waitFor(
        async () => {
          const j = (await call("GET", `/api/v1/jobs/${job}`)).body.job;
          return ["queued", "running"].includes(j.status) ? null : j;
        },
        { what: "the deploy to finish", timeoutMs: 180_000, intervalMs: 200 },
      );
      expect(done.status).toBe("succeeded");
    };
    await deploy();
    // Written by the first start of the evaluator: the defaults of a new install.
    expect(((await call("GET", "/api/v1/alerts/rules")).body as Array<{ builtIn: boolean }>).filter((r) => r.builtIn)).toHaveLength(5);
    const created = await call("POST", "/api/v1/alerts/rules", {
      name: "flaky answers 5xx",
      metric: "http_5xx_rate",
      threshold: 5,
      windowSeconds: 60,
      app: "flaky",
      minIntervalSeconds: 0,
    });
    expect(created.status).toBe(201);
    const ruleId = created.body.id as string;
    expect(created.body).toMatchObject({ app: "flaky", operator: ">", enabled: true, builtIn: false });

    const port = api.config.proxyPort;
    const drive = async (count: number, expected: number) => {
      for (let i = 0; i < count; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/page/${i}`, { headers: { host: "flaky.localhost" } });
        await res.arrayBuffer();
        expect(res.status).toBe(expected);
      }
    };
    const ingested = async (what: string, check: (t: { requests: number; errors: number }) => boolean) =>
      waitFor(
        async () => {
          const now = Date.now();
          const m = (await call("GET", `/api/v1/apps/flaky/metrics?from=${now - 30 * MINUTE}&to=${now + MINUTE}&step=1m`)).body;
          const series = m.series as Array<{ requests: number; status: { "5xx": number } }>;
          const t = { requests: series.reduce((n, p) => n + p.requests, 0), errors: series.reduce((n, p) => n + p.status["5xx"], 0) };
          return check(t) ? t : null;
        },
        { what, timeoutMs: 60_000, intervalMs: 200 },
      );
    const firing = async () =>
      ((await call("GET", "/api/v1/alerts?state=firing&app=flaky")).body as Array<{ id: string; rule: { id: string } }>).find(
        (a) => a.rule.id === ruleId,
      );

    await drive(30, 200);
    const healthy = await ingested("the good requests to be counted", (t) => t.requests >= 30);
    expect(healthy.errors).toBe(0);
    await evaluateAlerts(api.services);
    expect(await firing()).toBeUndefined();

    await repo.commit(answering("v2", 500), "v2 answers 500");
    await deploy();
    await drive(40, 500);
    await ingested("the 500s to be counted", (t) => t.errors >= 40);
    const fired = await waitFor(
      async () => {
        await evaluateAlerts(api.services);
        return firing();
      },
      { what: "the 5xx rule to fire", timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(fired).toMatchObject({ state: "firing", app: "flaky", threshold: 5, resolvedAt: null, acked: null });
    const alert = fired as unknown as { id: string; value: number; lastValue: number; startedAt: string };
    expect(alert.value).toBeGreaterThan(5);
    expect(alert.value).toBeLessThanOrEqual(100);

    // The value is the window's 5xx share, as the stored minutes say.
    const now = Date.now();
    await evaluateAlerts(api.services, now);
    const from = Math.floor((now - MINUTE) / MINUTE) * MINUTE;
    const rows = await api.services.db
      .select()
      .from(requestStats)
      .where(and(eq(requestStats.resolution, "minute"), eq(requestStats.appId, (await appId(api, "flaky")) as string)));
    const inWindow = rows.filter((r) => r.bucket.getTime() >= from && r.bucket.getTime() <= now);
    const requests = inWindow.reduce((n, r) => n + r.requests, 0);
    const errors = inWindow.reduce((n, r) => n + r.s5xx, 0);
    const still = (await call("GET", "/api/v1/alerts?state=firing&app=flaky")).body.find((a: { id: string }) => a.id === alert.id);
    expect(still.lastValue).toBe(Math.round((errors / requests) * 100 * 100) / 100);

    // Fixed: a good version, and traffic again.
    await repo.commit(answering("v3", 200), "v3 fixed");
    await deploy();
    await drive(900, 200);
    await ingested("the good requests after the fix to be counted", (t) => t.requests >= 970);
    const resolved = await waitFor(
      async () => {
        await evaluateAlerts(api.services);
        const list = (await call("GET", "/api/v1/alerts?state=resolved&app=flaky")).body as Array<{ id: string }>;
        return list.find((a) => a.id === alert.id);
      },
      { what: "the alert to resolve", timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(resolved).toMatchObject({ state: "resolved", value: alert.value, startedAt: alert.startedAt });
    const done = resolved as unknown as { lastValue: number; resolvedAt: string };
    expect(done.lastValue).toBeLessThanOrEqual(5);
    expect(Date.parse(done.resolvedAt)).toBeGreaterThanOrEqual(Date.parse(alert.startedAt));
    expect(await firing()).toBeUndefined();
  }, 600_000);
});

async function appId(api: TestApi, name: string): Promise<string | undefined> {
  const [row] = await api.services.db.select({ id: apps.id }).from(apps).where(eq(apps.name, name));
  return row?.id;
}

describe(`alert messages: interval, acknowledgement, snooze (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let hook: ReturnType<typeof receiver>;
  const base = Math.floor(Date.now() / MINUTE) * MINUTE - 60 * MINUTE;
  const call = (method: string, path: string, body?: unknown) =>
    api.request(method, path, { cookie, ...(body === undefined ? {} : { body }) });

  beforeAll(async () => {
    api = await createTestApi();
    cookie = await api.setupOwner();
    hook = receiver();
    for (const name of ["flap", "acked", "snoozed", "told"]) {
      await api.services.db.insert(apps).values({ name, repoUrl: `https://example.com/${name}.git` });
    }
    const channel = await call("POST", "/api/v1/notifications/channels", {
      kind: "webhook",
      name: "alerts hook",
      config: { url: hook.url },
      events: ["alert.firing", "alert.resolved"],
    });
    expect(channel.status).toBe(201);
  });
  afterAll(async () => {
    hook?.stop();
    await api?.close();
  });

  /** A minute of traffic for an app: `bad` answers half of it with 500s. */
  async function minute(app: string, bucket: number, bad: boolean) {
    await api.services.db.insert(requestStats).values({
      appId: (await appId(api, app)) as string,
      resolution: "minute",
      bucket: new Date(bucket),
      slot: "blue",
      releaseId: null,
      requests: 100,
      s2xx: bad ? 50 : 100,
      s5xx: bad ? 50 : 0,
    });
  }
  const rule = async (app: string, minIntervalSeconds: number) => {
    const res = await call("POST", "/api/v1/alerts/rules", {
      name: `${app} 5xx`,
      metric: "http_5xx_rate",
      threshold: 5,
      windowSeconds: 60,
      app,
      minIntervalSeconds,
    });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const deliver = async () => {
    await runDeliveryPass(api.services);
  };
  const titles = () => hook.received.map((m) => m.title);

  test("a flapping rule sends at most one message per interval; what was held back is counted", async () => {
    const ruleId = await rule("flap", 3600);
    // Bad, good, bad, good, bad: minutes two apart, each pass reading one.
    for (let i = 0; i < 5; i++) {
      const bucket = base + i * 2 * MINUTE;
      await minute("flap", bucket, i % 2 === 0);
      const pass = await evaluateAlerts(api.services, bucket + 30_000);
      expect(pass.ran).toBe(true);
      expect(i % 2 === 0 ? pass.fired : pass.resolved).toHaveLength(1);
    }
    await deliver();
    const flap = hook.received.filter((m) => m.title.includes("flap 5xx"));
    expect(flap.map((m) => m.title)).toEqual(["Alert: flap 5xx on flap"]);
    expect(flap[0]?.text).toContain("50.0%");
    const [send] = await api.services.db.select().from(alertSends).where(eq(alertSends.ruleId, ruleId));
    expect(send?.suppressed).toBe(4);
    const history = (await call("GET", "/api/v1/alerts?app=flap")).body as Array<{ state: string; value: number }>;
    expect(history.map((a) => a.state)).toEqual(["firing", "resolved", "resolved"]);
    expect(history.every((a) => a.value === 50)).toBe(true);
  });

  test("acknowledged alerts send no reminders but still tell when they resolve; snoozed ones stay quiet, across a flap", async () => {
    await rule("acked", 0);
    await rule("snoozed", 0);
    await rule("told", 0);
    const start = base + 20 * MINUTE;
    for (const app of ["acked", "snoozed", "told"]) await minute(app, start, true);
    const pass = await evaluateAlerts(api.services, start + 30_000);
    expect(pass.fired).toHaveLength(3);
    await deliver();
    for (const app of ["acked", "snoozed", "told"]) expect(titles()).toContain(`Alert: ${app} 5xx on ${app}`);

    const firing = (await call("GET", "/api/v1/alerts?state=firing")).body as Array<{ id: string; app: string }>;
    const idOf = (app: string) => firing.find((a) => a.app === app)?.id as string;
    const ack = await call("POST", `/api/v1/alerts/${idOf("acked")}/ack`);
    expect(ack.status).toBe(200);
    expect(ack.body.acked).toEqual({ at: expect.any(String), by: "owner@example.com" });
    const snooze = await call("POST", `/api/v1/alerts/${idOf("snoozed")}/snooze`, { minutes: 600 });
    expect(snooze.status).toBe(200);
    expect(Date.parse(snooze.body.snoozedUntil)).toBeGreaterThan(Date.now() + 599 * MINUTE);
    const audited = await api.services.db.select().from(auditLog);
    expect(audited.find((e) => e.action === "alert.acked")).toMatchObject({ actor: "owner@example.com", target: "app:acked" });
    expect(audited.find((e) => e.action === "alert.snoozed")).toMatchObject({
      actor: "owner@example.com",
      target: "app:snoozed",
      details: expect.objectContaining({ minutes: 600 }),
    });
    expect((await call("POST", `/api/v1/alerts/${idOf("acked")}/ack`)).status).toBe(200);

    // Five hours on, still failing: only the alert nobody took gets a reminder.
    const later = Math.floor((Date.now() + 5 * 3_600_000) / MINUTE) * MINUTE;
    for (const app of ["acked", "snoozed", "told"]) await minute(app, later, true);
    const remind = await evaluateAlerts(api.services, later + 30_000);
    expect(remind.reminded).toEqual([idOf("told")]);
    await deliver();
    expect(titles().filter((t) => t.startsWith("Still firing"))).toEqual(["Still firing: told 5xx on told"]);

    // Fixed: the acknowledged one and the plain one say so; the snoozed one does not.
    for (const app of ["acked", "snoozed", "told"]) await minute(app, later + 2 * MINUTE, false);
    expect((await evaluateAlerts(api.services, later + 2 * MINUTE + 30_000)).resolved).toHaveLength(3);
    // A flap of the snoozed one while its snooze holds: a new alert, snoozed as well, and no message.
    await minute("snoozed", later + 4 * MINUTE, true);
    const again = await evaluateAlerts(api.services, later + 4 * MINUTE + 30_000);
    expect(again.fired).toHaveLength(1);
    await deliver();
    const resolvedTitles = titles().filter((t) => t.startsWith("Resolved"));
    expect(resolvedTitles.sort()).toEqual(["Resolved: acked 5xx on acked", "Resolved: told 5xx on told"]);
    expect(titles().filter((t) => t.includes("snoozed 5xx"))).toEqual(["Alert: snoozed 5xx on snoozed"]);
    const refired = (await call("GET", "/api/v1/alerts?state=firing&app=snoozed")).body[0];
    expect(Date.parse(refired.snoozedUntil)).toBe(Date.parse(snooze.body.snoozedUntil));
    expect((await call("POST", `/api/v1/alerts/${idOf("acked")}/ack`)).status).toBe(409);
  });

  test("bad rule input and bad queries are 400s naming the field", async () => {
    const good = { name: "r", metric: "http_5xx_rate", threshold: 5, windowSeconds: 60 };
    const cases: Array<[unknown, string]> = [
      [{ ...good, metric: "bogus" }, "metric"],
      [{ ...good, windowSeconds: 10 }, "windowSeconds"],
      [{ ...good, windowSeconds: 10 ** 6 }, "windowSeconds"],
      [{ ...good, threshold: "five" }, "threshold"],
      [{ ...good, threshold: 500 }, "threshold"],
      [{ ...good, app: "nope" }, "app"],
      [{ ...good, metric: "disk_percent", app: "flap" }, "app"],
      [{ ...good, operator: ">=" }, "operator"],
      [{ ...good, minIntervalSeconds: -1 }, "minIntervalSeconds"],
      [{ ...good, name: "" }, "name"],
    ];
    for (const [body, field] of cases) {
      const res = await call("POST", "/api/v1/alerts/rules", body);
      expect({ field, status: res.status }).toEqual({ field, status: 400 });
      expect(res.body.error.message.startsWith(`${field}`)).toBe(true);
      expect(res.body.error.details.issues[0].path).toBe(field);
    }
    const rules = (await call("GET", "/api/v1/alerts/rules")).body as Array<{ id: string; name: string }>;
    const flap = rules.find((r) => r.name === "flap 5xx") as { id: string };
    expect((await call("PATCH", `/api/v1/alerts/rules/${flap.id}`, { app: "nope" })).body.error.details.issues[0].path).toBe("app");
    expect((await call("PATCH", `/api/v1/alerts/rules/${flap.id}`, { metric: "psi_cpu_some" })).body.error.details.issues[0].path).toBe(
      "app",
    );
    const off = await call("PATCH", `/api/v1/alerts/rules/${flap.id}`, { enabled: false, threshold: 50 });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ enabled: false, threshold: 50, app: "flap" });
    expect((await call("GET", "/api/v1/alerts?state=open")).body.error.details.issues[0].path).toBe("state");
    expect((await call("GET", "/api/v1/alerts?app=nope")).body.error.details.issues[0].path).toBe("app");
    const alert = ((await call("GET", "/api/v1/alerts")).body as Array<{ id: string }>)[0] as { id: string };
    for (const minutes of [0, 10081, "ten"]) {
      const res = await call("POST", `/api/v1/alerts/${alert.id}/snooze`, { minutes });
      expect(res.status).toBe(400);
      expect(res.body.error.details.issues[0].path).toBe("minutes");
    }
    expect((await call("POST", `/api/v1/alerts/${crypto.randomUUID()}/ack`)).status).toBe(404);
    // A rule turned off: its firing alerts resolve quietly on the next pass.
    const before = hook.received.length;
    const pass = await evaluateAlerts(api.services);
    expect(pass.resolved.length).toBeGreaterThanOrEqual(1);
    expect((await call("GET", "/api/v1/alerts?state=firing&app=flap")).body).toEqual([]);
    await deliver();
    expect(hook.received.length).toBe(before);
  });

  test("the default rules are written once: a user's deletion sticks", async () => {
    expect(await ensureDefaultRules(api.services.db)).toBe(0); // rules exist already: none are added
    const fresh = await createTestApi();
    try {
      expect(await ensureDefaultRules(fresh.services.db)).toBe(5);
      const owner = await fresh.setupOwner();
      const list = (await fresh.request("GET", "/api/v1/alerts/rules", { cookie: owner })).body as Array<{ id: string; metric: string }>;
      expect(list.map((r) => r.metric).sort()).toEqual([
        "disk_percent",
        "http_5xx_rate",
        "http_p95_ms",
        "memory_percent",
        "psi_memory_some",
      ]);
      for (const r of list) expect((await fresh.request("DELETE", `/api/v1/alerts/rules/${r.id}`, { cookie: owner })).status).toBe(204);
      expect(await ensureDefaultRules(fresh.services.db)).toBe(0);
      expect((await fresh.request("GET", "/api/v1/alerts/rules", { cookie: owner })).body).toEqual([]);
      const audited = await fresh.services.db.select().from(auditLog).where(eq(auditLog.action, "alert-rule.deleted"));
      expect(audited).toHaveLength(5);
    } finally {
      await fresh.close();
    }
  });
});
