import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { webhookDeliveries } from "../../backend/db/schema/index.ts";
import { receiveDelivery, UNVERIFIED_KEPT } from "../../backend/jobs/webhooks.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import {
  connectGitHub,
  type GitHubServer,
  gitHubConfig,
  pushPayload,
  signedDelivery,
  startGitHubServer,
} from "../helpers/github-server.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

const PUBLIC_URL = "http://localhost:3000";
const HOOK_URL = `${PUBLIC_URL}/api/v1/webhooks/github?app=shop`;

describe(`Webhook deliveries cannot roll back or block a push (${TEST_DB})`, () => {
  let gh: GitHubServer;
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;
  let secret: string;

  beforeAll(async () => {
    repo = await createRepo(bunApp("v0"), "main", "v0");
    gh = startGitHubServer({ repos: [{ owner: "acme", name: "shop", bare: repo.bare }] });
    api = await createTestApi({
      background: true,
      config: gitHubConfig(gh, PUBLIC_URL),
    });
    cookie = await api.setupOwner();
    expect(await connectGitHub(api.app, cookie, PUBLIC_URL)).toBe("/settings?github=connected");
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: "shop", github: { owner: "acme", repo: "shop" }, watchSeconds: 0, drainSeconds: 0 },
    });
    expect(created.status).toBe(201);
    secret = gh.hooks[0]?.config.secret as string;
  });
  afterAll(async () => {
    await api?.close();
    gh?.stop();
    repo?.cleanup();
  });

  const push = (sha: string, message: string) => pushPayload({ repo: "acme/shop", branch: "main", sha, message, author: "Ada" });

  async function deploy(body: unknown, deliveryId?: string): Promise<void> {
    const res = await api.app.fetch(signedDelivery(HOOK_URL, "push", body, secret, deliveryId));
    expect(res.status).toBe(202);
    const { delivery } = (await res.json()) as { delivery: { outcome: string; jobId: string } };
    expect(delivery.outcome).toBe("deployed");
    const job = await api.services.orchestrator.waitFor(delivery.jobId, 120_000);
    expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
  }

  async function liveAnswer(): Promise<string> {
    const slot = (await api.request("GET", "/api/v1/apps/shop", { cookie })).body.app.slots.find(
      (s: { state: string }) => s.state === "live",
    );
    return await (await fetch(`http://127.0.0.1:${slot.port}/`)).text();
  }

  const jobCount = async () => (await api.request("GET", "/api/v1/apps/shop/jobs", { cookie })).body.jobs.length;

  test("a replayed push of an older release, or of an older commit, after a newer one went live is ignored as stale", async () => {
    const v1 = push(await repo.commit(bunApp("v1"), "v1"), "v1");
    await deploy(v1);
    // Pushed but never deployed (the next push came first): older than the live commit all the same.
    const between = push(await repo.commit(bunApp("v1.5"), "v1.5"), "v1.5");
    const v2 = push(await repo.commit(bunApp("v2"), "v2"), "v2");
    await deploy(v2);
    expect(await liveAnswer()).toBe("v2");
    const jobsBefore = await jobCount();

    for (const body of [v1, v2, between]) {
      const replay = await api.app.fetch(signedDelivery(HOOK_URL, "push", body, secret));
      expect(replay.status).toBe(200);
      const { delivery } = (await replay.json()) as { delivery: { outcome: string; jobId: string | null } };
      expect(delivery).toMatchObject({ outcome: "ignored: stale", jobId: null });
    }
    expect(await jobCount()).toBe(jobsBefore);
    expect(await liveAnswer()).toBe("v2");
  });

  test("an unsigned delivery does not make the genuine one with the same id a duplicate", async () => {
    const v3 = push(await repo.commit(bunApp("v3"), "v3"), "v3");
    const id = randomUUID();
    const junk = await api.app.fetch(signedDelivery(HOOK_URL, "push", v3, null, id));
    expect(junk.status).toBe(401);
    await deploy(v3, id);
    expect(await liveAnswer()).toBe("v3");
    const replay = await api.app.fetch(signedDelivery(HOOK_URL, "push", v3, secret, id));
    expect(((await replay.json()) as { outcome: string }).outcome).toBe("duplicate");
  });

  test("a flood of unsigned deliveries from one address is answered 429 and stores a bounded number of rows", async () => {
    const body = push("f".repeat(40), "junk");
    const statuses: number[] = [];
    for (let i = 0; i < 300; i++) statuses.push((await api.app.fetch(signedDelivery(HOOK_URL, "push", body, null))).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    const unverified = await api.services.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.verified, false));
    expect(unverified.length).toBeLessThan(100);
    // A genuine delivery from the same address still gets through.
    const v4 = push(await repo.commit(bunApp("v4"), "v4"), "v4");
    await deploy(v4);
  });

  test("rejected deliveries from many addresses are capped: the oldest are dropped", async () => {
    const old = new Date(Date.now() - 60_000);
    const filler = Array.from({ length: UNVERIFIED_KEPT }, (_, i) => ({
      deliveryId: `old-${i}`,
      event: "push",
      outcome: "rejected: bad signature",
      receivedAt: old,
    }));
    for (let i = 0; i < filler.length; i += 250) await api.services.db.insert(webhookDeliveries).values(filler.slice(i, i + 250));
    const received = await receiveDelivery(api.services, {
      event: "push",
      deliveryId: "newest-junk",
      raw: JSON.stringify(push("e".repeat(40), "junk")),
      signature: null,
      named: "shop",
      address: "203.0.113.7",
    });
    expect(received.kind).toBe("bad_signature");
    const kept = await api.services.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.verified, false));
    expect(kept.length).toBe(UNVERIFIED_KEPT);
    expect(kept.map((d) => d.deliveryId)).toContain("newest-junk");
    expect((await api.services.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.verified, true))).length).toBeGreaterThan(0);
  });
});
