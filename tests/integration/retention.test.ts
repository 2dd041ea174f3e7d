import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { inArray } from "drizzle-orm";
import {
  alertRules,
  alerts,
  apps,
  auditLog,
  jobLogs,
  jobSteps,
  jobs,
  notificationChannels,
  notificationDeliveries,
  webhookDeliveries,
} from "../../backend/db/schema/index.ts";
import { pruneOnce } from "../../backend/jobs/prune.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

const DAY = 86_400_000;
const ago = (days: number, extraMs = 0) => new Date(Date.now() - days * DAY - extraMs);

describe(`retention (${TEST_DB})`, () => {
  let api: TestApi;
  let owner: string;

  beforeAll(async () => {
    api = await createTestApi();
    owner = await api.setupOwner();
  });
  afterAll(() => api.close());

  test("the settings start at their defaults and change through the API; bad values are 4xx naming the field", async () => {
    const initial = await api.request("GET", "/api/v1/settings/retention", { cookie: owner });
    expect(initial.status).toBe(200);
    const metricsDefaults = { minuteDays: 7, hourDays: 90, dayDays: 730, logDays: 14, logMaxMb: 100 };
    expect(initial.body.retention).toEqual({ jobDays: 90, jobsPerApp: 50, deliveryDays: 30, auditDays: 365, ...metricsDefaults });

    for (const [field, value] of [
      ["jobDays", 0],
      ["jobsPerApp", 2.5],
      ["deliveryDays", -1],
      ["auditDays", 1_000_000],
      ["jobDays", "90"],
      ["minuteDays", 0],
      ["hourDays", 1.5],
      ["dayDays", 100_000],
      ["logDays", -3],
      ["logMaxMb", "100"],
    ] as const) {
      const res = await api.request("PUT", "/api/v1/settings/retention", { cookie: owner, body: { [field]: value } });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain(field);
    }
    expect((await api.request("PUT", "/api/v1/settings/retention", { cookie: owner, body: { keepForever: 1 } })).status).toBe(400);
    expect((await api.request("PUT", "/api/v1/settings/retention", { body: { jobDays: 5 } })).status).toBe(401);

    const changed = await api.request("PUT", "/api/v1/settings/retention", { cookie: owner, body: { jobDays: 10, jobsPerApp: 3 } });
    expect(changed.status).toBe(200);
    expect(changed.body.retention).toEqual({ jobDays: 10, jobsPerApp: 3, deliveryDays: 30, auditDays: 365, ...metricsDefaults });
    expect((await api.request("GET", "/api/v1/settings/retention", { cookie: owner })).body.retention.jobsPerApp).toBe(3);
    const metrics = await api.request("PUT", "/api/v1/settings/retention", {
      cookie: owner,
      body: { minuteDays: 3, hourDays: 30, dayDays: 365, logDays: 7, logMaxMb: 50 },
    });
    expect(metrics.status).toBe(200);
    expect(metrics.body.retention).toMatchObject({ jobDays: 10, minuteDays: 3, hourDays: 30, dayDays: 365, logDays: 7, logMaxMb: 50 });
    expect((await api.request("GET", "/api/v1/settings/retention", { cookie: owner })).body.retention.logMaxMb).toBe(50);
  });

  test("the prune removes only rows past their limits, each once when two prunes run at once", async () => {
    const db = api.services.db;
    const [a, b] = await db
      .insert(apps)
      .values([
        { name: "keeper", repoUrl: "https://example.com/a.git" },
        { name: "quiet", repoUrl: "https://example.com/b.git" },
      ])
      .returning();
    if (!a || !b) throw new Error("apps not created");
    const job = (appId: string, createdAt: Date, kind: "deploy" | "rollback" = "deploy", status: "succeeded" | "queued" = "succeeded") => ({
      appId,
      kind,
      status,
      createdAt,
    });
    const expired = await db
      .insert(jobs)
      .values([101, 102, 103, 104].map((d) => job(a.id, ago(d))))
      .returning();
    const kept = await db
      .insert(jobs)
      .values([
        job(a.id, ago(1)),
        job(a.id, ago(1, 1000)),
        job(a.id, ago(100)), // among the latest three of its app
        job(a.id, ago(300), "rollback"), // the latest rollback of its app
        job(a.id, ago(250), "deploy", "queued"),
        job(b.id, ago(200)),
        job(b.id, ago(201)),
      ])
      .returning();
    const expiredIds = expired.map((j) => j.id);
    await db.insert(jobSteps).values(expiredIds.map((jobId) => ({ jobId, position: 0, name: "build" })));
    await db.insert(jobLogs).values(expiredIds.map((jobId) => ({ jobId, seq: 1, stream: "system" as const, line: "old" })));
    await db.insert(webhookDeliveries).values([
      { deliveryId: "old-delivery", event: "push", outcome: "ignored", receivedAt: ago(40) },
      { deliveryId: "new-delivery", event: "push", outcome: "ignored", receivedAt: ago(5) },
    ]);
    const [channel] = await db.insert(notificationChannels).values({ name: "ops", kind: "webhook" }).returning();
    if (!channel) throw new Error("channel not created");
    const message = (title: string) => ({
      event: "test" as const,
      severity: "info" as const,
      title,
      text: title,
      app: null,
      release: null,
      fields: [],
      lines: [],
      url: null,
      at: ago(0).toISOString(),
    });
    await db.insert(notificationDeliveries).values([
      { channelId: channel.id, event: "test", message: message("old sent"), status: "sent" as const, createdAt: ago(40) },
      { channelId: channel.id, event: "test", message: message("old failed"), status: "failed" as const, createdAt: ago(41) },
      // Still being retried: never removed, whatever its age.
      { channelId: channel.id, event: "test", message: message("old pending"), status: "pending" as const, createdAt: ago(42) },
      { channelId: channel.id, event: "test", message: message("new sent"), status: "sent" as const, createdAt: ago(5) },
    ]);
    const [rule] = await db
      .insert(alertRules)
      .values({ name: "5xx", metric: "http_5xx_rate", threshold: 5, windowSeconds: 180 })
      .returning();
    if (!rule) throw new Error("rule not created");
    const alert = (startedAt: Date, state: "firing" | "resolved", subject: string) => ({
      ruleId: rule.id,
      subject,
      state,
      value: 9,
      lastValue: 9,
      threshold: 5,
      startedAt,
      resolvedAt: state === "resolved" ? startedAt : null,
    });
    await db
      .insert(alerts)
      .values([alert(ago(100), "resolved", "old"), alert(ago(100), "firing", "still"), alert(ago(5), "resolved", "new")]);
    await db.insert(auditLog).values([
      { actor: "system", action: "old.thing", at: ago(400) },
      { actor: "system", action: "recent.thing", at: ago(100) },
    ]);

    const [first, second] = await Promise.all([pruneOnce(api.services), pruneOnce(api.services)]);
    const tallies = [first, second].filter((t) => t !== null);
    expect(tallies.length).toBeGreaterThan(0);
    const sum = (k: "jobs" | "deliveries" | "notifications" | "alerts" | "audit") => tallies.reduce((n, t) => n + (t?.[k] ?? 0), 0);
    expect({
      jobs: sum("jobs"),
      deliveries: sum("deliveries"),
      notifications: sum("notifications"),
      alerts: sum("alerts"),
      audit: sum("audit"),
    }).toEqual({
      jobs: 4,
      deliveries: 1,
      notifications: 2,
      alerts: 1,
      audit: 1,
    });

    const left = (await db.select({ id: jobs.id }).from(jobs)).map((r) => r.id).sort();
    expect(left).toEqual(kept.map((j) => j.id).sort());
    expect(await db.select().from(jobSteps).where(inArray(jobSteps.jobId, expiredIds))).toEqual([]);
    expect(await db.select().from(jobLogs).where(inArray(jobLogs.jobId, expiredIds))).toEqual([]);
    expect((await db.select().from(webhookDeliveries)).map((d) => d.deliveryId)).toEqual(["new-delivery"]);
    expect((await db.select().from(notificationDeliveries)).map((d) => d.message.title).sort()).toEqual(["new sent", "old pending"]);
    // A firing alert stays however old it is.
    expect((await db.select().from(alerts)).map((a) => a.subject).sort()).toEqual(["new", "still"]);
    const actions = (await db.select().from(auditLog)).map((r) => r.action);
    expect(actions).toContain("recent.thing");
    expect(actions).not.toContain("old.thing");

    // A second pass finds nothing more.
    expect(await pruneOnce(api.services)).toEqual({ jobs: 0, deliveries: 0, notifications: 0, alerts: 0, audit: 0 });
  });
});
