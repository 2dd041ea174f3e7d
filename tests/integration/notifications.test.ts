import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { eq } from "drizzle-orm";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { alertRules, alertSends, notificationChannels, notificationDeliveries } from "../../backend/db/schema/index.ts";
import { panelUpdated } from "../../backend/domain/notification-messages.ts";
import { retryDelayMs, runDeliveryPass } from "../../backend/jobs/notification-worker.ts";
import { notify } from "../../backend/jobs/notify.ts";
import { createServices, startBackground, stopBackground } from "../../backend/main.ts";
import type { Services } from "../../backend/services.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, ORIGIN, type TestApi } from "../helpers/panel.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const SECRET = "hunter2-build-secret";

interface Received {
  headers: Headers;
  body: string;
  status: number;
}

/** A local receiver of the signed webhook: answers 503 while `down`, 204 otherwise, and keeps every request. */
function webhookReceiver() {
  const received: Received[] = [];
  let down = false;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const status = down ? 503 : 204;
      received.push({ headers: req.headers, body: await req.text(), status });
      return new Response(down ? "maintenance" : null, { status });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hooks/switchyard`,
    received,
    setDown: (on: boolean) => {
      down = on;
    },
    stop: () => server.stop(true),
  };
}

function verifySignature(r: Received, secret: string): { ok: boolean; timestamp: number } {
  const timestamp = Number(r.headers.get("x-switchyard-timestamp"));
  const given = r.headers.get("x-switchyard-signature") ?? "";
  const expected = `sha256=${createHmac("sha256", secret).update(`${timestamp}.${r.body}`).digest("hex")}`;
  const ok = given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
  return { ok, timestamp };
}

describe(`notifications (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let services: Services;
  const repos: TestRepo[] = [];
  const mails: ParsedMail[] = [];
  let smtp: SMTPServer;
  let smtpPort: number;
  const hook = webhookReceiver();
  const flaky = webhookReceiver();
  let restarted: Services | null = null;

  beforeAll(async () => {
    smtpPort = freePort();
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onData(stream, _session, callback) {
        simpleParser(stream)
          .then((mail) => {
            mails.push(mail);
            callback();
          })
          .catch(callback);
      },
    });
    await new Promise<void>((resolve) => smtp.listen(smtpPort, "127.0.0.1", resolve));
    api = await createTestApi({ background: true, config: { SWITCHYARD_PUBLIC_URL: ORIGIN } });
    services = api.services;
    cookie = await api.setupOwner();
  });

  afterAll(async () => {
    if (restarted) await stopBackground(restarted);
    await api.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    hook.stop();
    flaky.stop();
    for (const r of repos) r.cleanup();
  });

  async function channel(body: Record<string, unknown>) {
    const res = await api.request("POST", "/api/v1/notifications/channels", { cookie, body });
    expect(res.status).toBe(201);
    return res.body as { channel: { id: string }; signingSecret?: string };
  }

  async function deliveriesOf(channelId: string) {
    return services.db.select().from(notificationDeliveries).where(eq(notificationDeliveries.channelId, channelId));
  }

  test("a failed deploy → an email and a signed webhook naming the app, the failing step and its last log lines", async () => {
    await channel({
      kind: "email",
      name: "ops mail",
      config: { host: "127.0.0.1", port: smtpPort, security: "none", from: "switchyard@example.com", to: ["ops@example.com"] },
      events: ["deploy.failed", "deploy.succeeded"],
    });
    const webhook = await channel({
      kind: "webhook",
      name: "ops hook",
      config: { url: hook.url },
      events: ["deploy.failed"],
    });
    const signingSecret = webhook.signingSecret as string;
    expect(signingSecret.length).toBeGreaterThan(16);

    const repo = await createRepo(
      bunApp("v1", {
        "build.ts": `console.log("building with API_KEY=" + process.env.API_KEY);
console.log("compiling widgets");
console.error("error: the widget factory exploded");
process.exit(3);
`,
      }),
    );
    repos.push(repo);
    expect((await api.request("POST", "/api/v1/apps", { cookie, body: { name: "widgets", repoUrl: repo.url } })).status).toBe(201);
    const env = await api.request("PUT", "/api/v1/apps/widgets/env", {
      cookie,
      body: { vars: [{ key: "API_KEY", value: SECRET, secret: true }] },
    });
    expect(env.status).toBe(200);
    const started = await api.request("POST", "/api/v1/apps/widgets/deploy", { cookie, body: {} });
    expect(started.status).toBe(202);
    const job = await services.orchestrator.waitFor(started.body.job.id, 180_000);
    expect(job.status).toBe("failed");

    const mail = await waitFor(() => mails.find((m) => m.subject?.includes("widgets")), { what: "the email", timeoutMs: 60_000 });
    expect(mail.subject).toContain("Deploy of widgets failed at build");
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.text : "").toContain("ops@example.com");
    const text = mail.text ?? "";
    expect(text).toContain("widgets");
    expect(text).toContain("build");
    expect(text).toContain("compiling widgets");
    expect(text).toContain("error: the widget factory exploded");
    expect(text).toContain(`${ORIGIN}/apps/widgets?job=${job.id}`);
    // The log lines come masked, as the job log shows them.
    expect(text).toContain("API_KEY=••••");
    expect(`${text}${mail.html || ""}${mail.subject}`).not.toContain(SECRET);
    expect(mail.html || "").toContain("the widget factory exploded");

    const request = await waitFor(() => hook.received.find((r) => r.status === 204), { what: "the webhook", timeoutMs: 60_000 });
    const { ok, timestamp } = verifySignature(request, signingSecret);
    expect(ok).toBe(true);
    expect(Math.abs(Date.now() / 1000 - timestamp)).toBeLessThan(600);
    // A signature made with another secret, or over another timestamp, does not verify.
    expect(verifySignature(request, "not-the-secret").ok).toBe(false);
    expect(
      verifySignature(
        { ...request, headers: new Headers({ ...Object.fromEntries(request.headers), "x-switchyard-timestamp": String(timestamp - 1) }) },
        signingSecret,
      ).ok,
    ).toBe(false);
    expect(request.headers.get("content-type")).toContain("application/json");
    const payload = JSON.parse(request.body);
    expect(payload.event).toBe("deploy.failed");
    expect(payload.app).toBe("widgets");
    expect(payload.title).toBe("Deploy of widgets failed at build");
    expect(payload.fields).toContainEqual({ label: "Step", value: "build" });
    expect(payload.lines).toContain("error: the widget factory exploded");
    expect(payload.lines).toContain("building with API_KEY=••••");
    expect(request.body).not.toContain(SECRET);
    expect(payload.url).toBe(`${ORIGIN}/apps/widgets?job=${job.id}`);
    expect(hook.received.filter((r) => JSON.parse(r.body).event !== "deploy.failed")).toEqual([]);
  }, 300_000);

  test("a receiver down for a while: retried with backoff, kept across a panel restart, then delivered once; every attempt logged", async () => {
    flaky.setDown(true);
    const created = await channel({ kind: "webhook", name: "flaky hook", config: { url: flaky.url }, events: ["panel.updated"] });
    const id = created.channel.id;
    const built = panelUpdated({ from: "aaaaaaaaaaaa", to: "bbbbbbbbbbbb" });
    expect(await notify(services, { event: built.event, appId: null, message: built.message })).toBe(1);

    // The worker is woken at once and fails against the 503.
    let [row] = await waitFor(
      async () => {
        const rows = await deliveriesOf(id);
        return rows[0] && rows[0].attempts >= 1 && rows[0].status === "pending" ? rows : null;
      },
      { what: "the first attempt" },
    );
    expect(row?.log[0]?.status).toBe(503);
    expect(row?.lastError).toContain("503");

    // Time moves to each next try instead of being waited for: each failure waits twice as long.
    for (let i = 0; i < 2; i++) {
      const due = (row as NonNullable<typeof row>).nextAttemptAt;
      expect(await runDeliveryPass(services, { now: due })).toMatchObject({ sent: 0, retrying: 1 });
      [row] = await deliveriesOf(id);
      const r = row as NonNullable<typeof row>;
      expect(r.status).toBe("pending");
      const last = r.log.at(-1) as NonNullable<(typeof r.log)[number]>;
      expect(last.status).toBe(503);
      expect(r.nextAttemptAt.getTime() - new Date(last.at).getTime()).toBe(retryDelayMs(r.attempts));
    }
    const health = (await services.db.select().from(notificationChannels).where(eq(notificationChannels.id, id)))[0];
    expect(health?.consecutiveFailures).toBeGreaterThanOrEqual(3);
    expect(health?.lastError).toContain("503");
    const listed = await api.request("GET", "/api/v1/notifications/channels", { cookie });
    expect(listed.body.channels.find((c: { id: string }) => c.id === id).health.state).toBe("failing");

    // The panel stops and another opens on the same database: the row is still there, still due later.
    await stopBackground(services);
    restarted = createServices(
      api.config,
      api.database,
      {
        log: services.log,
        guiDir: null,
        masterKey: services.masterKey,
        proxy: services.proxy,
        runtime: services.runtime,
        limits: services.limits,
      },
      { heartbeatMs: 500, pollMs: 250 },
    );
    await startBackground(restarted);
    const before = (await deliveriesOf(id))[0] as NonNullable<typeof row>;
    expect(before.status).toBe("pending");

    flaky.setDown(false);
    expect(await runDeliveryPass(restarted, { now: before.nextAttemptAt })).toMatchObject({ sent: 1 });
    const [done] = await deliveriesOf(id);
    expect(done?.status).toBe("sent");
    expect(done?.sentAt).not.toBeNull();
    expect(done?.log.map((a) => a.status)).toEqual([...Array((done?.attempts ?? 1) - 1).fill(503), 204]);
    // Delivered exactly once; nothing was lost or repeated.
    const ok = flaky.received.filter((r) => r.status === 204);
    expect(ok.length).toBe(1);
    expect(JSON.parse(ok[0]?.body ?? "{}").title).toBe("Switchyard updated to bbbbbbbbbbbb");
    // A pass later sends nothing more.
    expect(await runDeliveryPass(restarted, { now: new Date(Date.now() + 3_600_000) })).toEqual({ sent: 0, retrying: 0, failed: 0 });
    const healthy = (await api.database.db.select().from(notificationChannels).where(eq(notificationChannels.id, id)))[0];
    expect(healthy?.consecutiveFailures).toBe(0);
    expect(healthy?.lastSuccessAt).not.toBeNull();

    // The attempt log, as the API shows it.
    const deliveries = await api.request("GET", `/api/v1/notifications/deliveries?channel=${id}`, { cookie });
    expect(deliveries.status).toBe(200);
    const shown = deliveries.body.deliveries.find((d: { id: number }) => d.id === done?.id);
    expect(shown.status).toBe("sent");
    expect(shown.attempts).toBe(done?.attempts);
    expect(shown.log.map((a: { status: number }) => a.status)).toEqual(done?.log.map((a) => a.status));
  }, 120_000);

  test("a delivery that keeps failing for a day is given up with the reason", async () => {
    const s = restarted as Services;
    flaky.setDown(true);
    const [ch] = await s.db.select().from(notificationChannels).where(eq(notificationChannels.name, "flaky hook"));
    const built = panelUpdated({ from: "cccccccccccc", to: "dddddddddddd" });
    expect(await notify(s, { event: built.event, appId: null, message: built.message })).toBe(1);
    const pending = await waitFor(
      async () => {
        const rows = (await deliveriesOf(ch?.id ?? "")).filter((r) => r.message.title.includes("dddddddddddd"));
        return rows[0]?.attempts ? rows[0] : null;
      },
      { what: "the first attempt" },
    );
    const dayLater = new Date(pending.createdAt.getTime() + 25 * 3_600_000);
    expect(await runDeliveryPass(s, { now: dayLater })).toMatchObject({ failed: 1 });
    const [row] = (await deliveriesOf(ch?.id ?? "")).filter((r) => r.id === pending.id);
    expect(row?.status).toBe("failed");
    expect(row?.lastError).toMatch(/^Gave up after \d+ attempts over 25 h: .*503/);
    flaky.setDown(false);
  }, 60_000);

  test("a throttled alert: one message per interval per channel; the next one tells how many were held back", async () => {
    const s = restarted as Services;
    const [ch] = await s.db.select().from(notificationChannels).where(eq(notificationChannels.name, "flaky hook"));
    await s.db
      .update(notificationChannels)
      .set({ events: ["alert.firing", "alert.resolved"] })
      .where(eq(notificationChannels.id, ch?.id ?? ""));
    const [rule] = await s.db
      .insert(alertRules)
      .values({ name: "5xx", metric: "http_5xx_rate", threshold: 0.05, windowSeconds: 60, minIntervalSeconds: 3600 })
      .returning();
    const throttle = { ruleId: rule?.id ?? "", subject: "server", minIntervalSeconds: 3600 };
    const message = (title: string) => ({
      severity: "warning" as const,
      title,
      text: "t.",
      app: null,
      release: null,
      fields: [],
      lines: [],
    });
    expect(await notify(s, { event: "alert.firing", appId: null, message: message("firing 1"), throttle })).toBe(1);
    expect(await notify(s, { event: "alert.resolved", appId: null, message: message("resolved 1"), throttle })).toBe(0);
    expect(await notify(s, { event: "alert.firing", appId: null, message: message("firing 2"), throttle })).toBe(0);
    const titles = (await deliveriesOf(ch?.id ?? "")).filter((d) => d.event.startsWith("alert.")).map((d) => d.message.title);
    expect(titles).toEqual(["firing 1"]);
    // Once the interval has passed, the next message goes out and says what was held back.
    await s.db
      .update(alertSends)
      .set({ sentAt: new Date(Date.now() - 3_601_000) })
      .where(eq(alertSends.ruleId, rule?.id ?? ""));
    expect(await notify(s, { event: "alert.resolved", appId: null, message: message("resolved 2"), throttle })).toBe(1);
    const last = (await deliveriesOf(ch?.id ?? "")).find((d) => d.message.title === "resolved 2");
    expect(last?.message.text).toBe("t. 2 more changes of this alert were held back since the last message.");
  }, 60_000);
});
