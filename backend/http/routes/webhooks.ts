import { desc, eq } from "drizzle-orm";
import { z } from "zod";
import { findAppById } from "../../db/queries/apps.ts";
import { appsForRepo, hookSecret } from "../../db/queries/github.ts";
import { type App, type WebhookDelivery, webhookDeliveries } from "../../db/schema/index.ts";
import { appGitHubToken, splitRepo } from "../../domain/github-apps.ts";
import { pushOutcome, readPush, repoOf, verifySignature } from "../../domain/webhooks.ts";
import type { Services } from "../../services.ts";
import { type Context, readParams, readQuery } from "../context.ts";
import { badRequest, HttpError, notFound } from "../errors.ts";
import type { Router } from "../router.ts";
import { loadApp } from "./apps.ts";

const MAX_DELIVERY_BYTES = 5 * 1024 * 1024;

export function deliveryJson(d: WebhookDelivery) {
  return {
    id: d.id,
    deliveryId: d.deliveryId,
    event: d.event,
    outcome: d.outcome,
    jobId: d.jobId,
    ref: d.ref,
    commitSha: d.commitSha,
    commitMessage: d.commitMessage,
    commitAuthor: d.commitAuthor,
    verified: d.verified,
    redeliverable: d.verified && d.payload !== null,
    receivedAt: d.receivedAt,
  };
}

interface Acted {
  outcome: string;
  jobId: string | null;
  push: ReturnType<typeof readPush>;
}

/** What a verified delivery does: answer a ping, deploy a push to the app's branch, or say why not. */
async function act(services: Services, app: App, event: string, payload: unknown, deliveryId: string): Promise<Acted> {
  if (event === "ping") return { outcome: "pong", jobId: null, push: null };
  if (event !== "push") return { outcome: `ignored: event ${event}`, jobId: null, push: null };
  const push = readPush(payload);
  if (!push) return { outcome: "rejected: not a push payload", jobId: null, push: null };
  const decision = pushOutcome(app, push);
  if (!decision.deploy) return { outcome: decision.outcome, jobId: null, push };
  const job = await services.orchestrator.enqueue({
    kind: "deploy",
    appId: app.id,
    params: { ref: push.sha, deliveryId },
    trigger: `push by ${push.pusher ?? push.author ?? "GitHub"}`,
  });
  return { outcome: decision.outcome, jobId: job.id, push };
}

async function record(services: Services, values: typeof webhookDeliveries.$inferInsert): Promise<WebhookDelivery | null> {
  const [row] = await services.db.insert(webhookDeliveries).values(values).onConflictDoNothing().returning();
  if (row) {
    await services.events.publish({
      type: "webhook.delivery",
      appId: row.appId,
      deliveryId: row.id,
      outcome: row.outcome,
      jobId: row.jobId,
    });
  }
  return row ?? null;
}

async function finish(services: Services, row: WebhookDelivery, acted: Acted): Promise<WebhookDelivery> {
  const [updated] = await services.db
    .update(webhookDeliveries)
    .set({
      outcome: acted.outcome,
      jobId: acted.jobId,
      ref: acted.push?.branch ?? null,
      commitSha: acted.push?.sha ?? null,
      commitMessage: acted.push?.message ?? null,
      commitAuthor: acted.push?.author ?? null,
    })
    .where(eq(webhookDeliveries.id, row.id))
    .returning();
  await services.events.publish({
    type: "webhook.delivery",
    appId: row.appId,
    deliveryId: row.id,
    outcome: acted.outcome,
    jobId: acted.jobId,
  });
  return updated ?? row;
}

async function rawBody(c: Context): Promise<string> {
  const declared = Number(c.req.headers.get("content-length") ?? 0);
  if (declared > MAX_DELIVERY_BYTES) throw new HttpError(413, "payload_too_large", "The delivery is larger than 5 MB.");
  const text = await c.req.text();
  if (text.length > MAX_DELIVERY_BYTES) throw new HttpError(413, "payload_too_large", "The delivery is larger than 5 MB.");
  return text;
}

export function webhookRoutes(r: Router): void {
  /** GitHub's deliveries: verified against the app's secret, replays refused, work queued. */
  r.post("/api/v1/webhooks/github", { auth: "public" }, async (c) => {
    const { services } = c;
    const event = c.req.headers.get("x-github-event");
    const deliveryId = c.req.headers.get("x-github-delivery");
    if (!event || !/^[a-z_]{1,64}$/.test(event)) throw badRequest("X-GitHub-Event is missing or not an event name.");
    if (!deliveryId || !/^[A-Za-z0-9-]{1,100}$/.test(deliveryId)) throw badRequest("X-GitHub-Delivery is missing or not a delivery id.");
    const raw = await rawBody(c);
    let payload: unknown;
    try {
      payload = JSON.parse(raw);
    } catch {
      await record(services, { deliveryId, event, outcome: "rejected: malformed JSON" });
      throw badRequest("The delivery body is not valid JSON (send it as application/json).");
    }
    const repo = repoOf(payload);
    // Hooks carry ?app=<name>; deliveries to the bare URL are matched by repository.
    const named = c.url.searchParams.get("app");
    const candidates = (repo ? await appsForRepo(services.db, repo) : []).filter((a) => named === null || a.name === named);
    const signature = c.req.headers.get("x-hub-signature-256");
    const app = candidates.find((a) => {
      const secret = hookSecret(services.masterKey, a);
      return secret !== null && verifySignature(secret, raw, signature);
    });
    if (!app) {
      if (candidates.length === 0) {
        await record(services, { deliveryId, event, outcome: "rejected: unknown app" });
        throw new HttpError(404, "unknown_app", `No app here deploys ${repo ?? "this repository"}.`);
      }
      await record(services, {
        deliveryId,
        event,
        appId: candidates.length === 1 ? (candidates[0] as App).id : null,
        outcome: "rejected: bad signature",
      });
      throw new HttpError(401, "bad_signature", "X-Hub-Signature-256 is missing or does not match the app's webhook secret.");
    }
    const row = await record(services, { deliveryId, event, appId: app.id, outcome: "received", verified: true, payload: raw });
    if (!row) return Response.json({ outcome: "duplicate", message: "This delivery was received before; nothing was done again." });
    const done = await finish(services, row, await act(services, app, event, payload, deliveryId));
    return Response.json({ delivery: deliveryJson(done) }, { status: done.jobId ? 202 : 200 });
  });

  r.get("/api/v1/apps/:app/deliveries", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { limit } = readQuery(c, z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }));
    const rows = await c.services.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.appId, app.id))
      .orderBy(desc(webhookDeliveries.receivedAt))
      .limit(limit);
    return Response.json({ deliveries: rows.map(deliveryJson) });
  });

  /** The app's webhook as GitHub has it, and the last delivery: enough to tell whether pushes arrive. */
  r.get("/api/v1/apps/:app/webhook", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const [last] = await c.services.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.appId, app.id))
      .orderBy(desc(webhookDeliveries.receivedAt))
      .limit(1);
    const base = {
      repo: app.githubRepo,
      autoDeploy: app.autoDeploy,
      hookId: app.githubHookId,
      lastDelivery: last ? deliveryJson(last) : null,
    };
    if (!app.githubRepo || !app.githubHookId || !c.services.github) return Response.json({ ...base, hook: null, problem: null });
    const auth = await appGitHubToken(c.services, app);
    if (!auth) return Response.json({ ...base, hook: null, problem: "The GitHub account this app uses needs reconnecting." });
    const { owner, repo } = splitRepo(app.githubRepo);
    try {
      const hook = await c.services.github.hook(auth.token, owner, repo, app.githubHookId);
      return Response.json({
        ...base,
        hook,
        problem: hook ? null : "The webhook was removed on GitHub; turn auto-deploy off and on to create it again.",
      });
    } catch (error) {
      return Response.json({ ...base, hook: null, problem: (error as Error).message });
    }
  });

  /** Runs a received delivery again (say, after fixing the app's branch setting). */
  r.post("/api/v1/webhooks/deliveries/:id/redeliver", { auth: "deployer" }, async (c) => {
    const { id } = readParams(c, z.object({ id: z.uuid({ error: "must be a delivery id" }) }));
    const [original] = await c.services.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id));
    if (!original) throw notFound(`Delivery ${id}`);
    if (!original.verified || original.payload === null || !original.appId) {
      throw new HttpError(422, "not_redeliverable", "Only deliveries whose signature checked out can be run again.");
    }
    const app = await findAppById(c.services.db, original.appId);
    if (!app) throw notFound("The delivery's app");
    const deliveryId = `${original.deliveryId}-again-${Date.now().toString(36)}`;
    const row = await record(c.services, {
      deliveryId,
      event: original.event,
      appId: app.id,
      outcome: "received",
      verified: true,
      payload: original.payload,
    });
    if (!row) throw new HttpError(409, "conflict", "That delivery is being run again already.");
    const done = await finish(c.services, row, await act(c.services, app, original.event, JSON.parse(original.payload), deliveryId));
    return Response.json({ delivery: deliveryJson(done) }, { status: done.jobId ? 202 : 200 });
  });
}
