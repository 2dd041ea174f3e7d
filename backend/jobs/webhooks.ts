/**
 * What GitHub's deliveries do: each is verified against the app's secret, a verified one is
 * recorded once (a replayed delivery id is a duplicate), and a push to the app's branch queues a
 * deploy unless it names a commit that was live already. Unverified deliveries are throttled per
 * address and only the newest of them are kept.
 */
import { join } from "node:path";
import { isAncestor } from "../adapters/git.ts";
import { RateLimiter } from "../auth/rate-limit.ts";
import { findAppById } from "../db/queries/apps.ts";
import { appGitHubToken, appsForRepo, hookSecret } from "../db/queries/github.ts";
import {
  findDelivery,
  insertDelivery,
  type NewDelivery,
  pruneUnverifiedDeliveries,
  shippedCommits,
  updateDelivery,
} from "../db/queries/webhooks.ts";
import type { App, WebhookDelivery } from "../db/schema/index.ts";
import { pushOutcome, readPush, repoOf, verifySignature } from "../domain/webhooks.ts";
import type { Services } from "../services.ts";
import { appPaths } from "./paths.ts";

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
  const { live, shipped } = await shippedCommits(services.db, app.id);
  const decision = pushOutcome(app, push, shipped);
  if (!decision.deploy) return { outcome: decision.outcome, jobId: null, push };
  if (live && (await behindLive(services, app, push.sha, live))) return { outcome: "ignored: stale", jobId: null, push };
  const job = await services.orchestrator.enqueue({
    kind: "deploy",
    appId: app.id,
    params: { ref: push.sha, deliveryId },
    trigger: `push by ${push.pusher ?? push.author ?? "GitHub"}`,
  });
  return { outcome: decision.outcome, jobId: job.id, push };
}

/**
 * Is `sha` in the live commit's history? Asked of a small cache of the repository's history; when
 * that cannot be fetched in time the push is not held back (an exact replay of a release is caught
 * by the release list before this).
 */
async function behindLive(services: Services, app: App, sha: string, live: string): Promise<boolean> {
  const auth = await appGitHubToken(services, app);
  const answer = await isAncestor({
    repoUrl: app.repoUrl,
    cacheDir: join(appPaths(services.config.dataDir, app.name).root, "history.git"),
    ancestor: sha,
    descendant: live,
    token: auth?.token ?? null,
    githubUrl: services.config.githubUrl,
  });
  return answer === true;
}

async function record(services: Services, values: NewDelivery): Promise<WebhookDelivery | null> {
  const row = await insertDelivery(services.db, values);
  if (row) {
    await services.events.publish({
      type: "webhook.delivery",
      appId: row.appId,
      deliveryId: row.id,
      outcome: row.outcome,
      jobId: row.jobId,
    });
  }
  return row;
}

async function finish(services: Services, row: WebhookDelivery, acted: Acted): Promise<WebhookDelivery> {
  const updated = await updateDelivery(services.db, row.id, {
    outcome: acted.outcome,
    jobId: acted.jobId,
    ref: acted.push?.branch ?? null,
    commitSha: acted.push?.sha ?? null,
    commitMessage: acted.push?.message ?? null,
    commitAuthor: acted.push?.author ?? null,
  });
  await services.events.publish({
    type: "webhook.delivery",
    appId: row.appId,
    deliveryId: row.id,
    outcome: acted.outcome,
    jobId: acted.jobId,
  });
  return updated ?? row;
}

/** Unverified deliveries an address may send per window, and how many of them are kept at all. */
export const UNVERIFIED_PER_ADDRESS = 30;
const UNVERIFIED_WINDOW_MS = 60_000;
export const UNVERIFIED_KEPT = 1000;

// One limiter per running panel (a test runs several in one process).
const limiters = new WeakMap<Services, RateLimiter>();
function unverifiedLimiter(services: Services): RateLimiter {
  let limiter = limiters.get(services);
  if (!limiter) {
    limiter = new RateLimiter(UNVERIFIED_PER_ADDRESS, UNVERIFIED_WINDOW_MS);
    limiters.set(services, limiter);
  }
  return limiter;
}

async function recordUnverified(services: Services, values: NewDelivery): Promise<void> {
  await record(services, { ...values, verified: false });
  await pruneUnverifiedDeliveries(services.db, UNVERIFIED_KEPT);
}

export type Received =
  | { kind: "rate_limited"; retryAfter: number }
  | { kind: "malformed" }
  | { kind: "unknown_app"; repo: string | null }
  | { kind: "bad_signature" }
  | { kind: "duplicate" }
  | { kind: "done"; delivery: WebhookDelivery };

/**
 * A delivery as GitHub sent it; `named` is the ?app= of the hook's URL (null for the bare URL),
 * `address` the sender's, which unverified deliveries are throttled by.
 */
export async function receiveDelivery(
  services: Services,
  input: { event: string; deliveryId: string; raw: string; signature: string | null; named: string | null; address: string },
): Promise<Received> {
  const { event, deliveryId, raw } = input;
  const limiter = unverifiedLimiter(services);
  // A verified delivery is never throttled, so junk from a shared address cannot hold up real pushes.
  const refuse = (): Received | null => {
    const retryAfter = limiter.retryAfter(input.address);
    if (retryAfter > 0) return { kind: "rate_limited", retryAfter };
    limiter.fail(input.address);
    return null;
  };
  let payload: unknown;
  try {
    payload = JSON.parse(raw);
  } catch {
    const limited = refuse();
    if (limited) return limited;
    await recordUnverified(services, { deliveryId, event, outcome: "rejected: malformed JSON" });
    return { kind: "malformed" };
  }
  const repo = repoOf(payload);
  // Hooks carry ?app=<name>; deliveries to the bare URL are matched by repository.
  const candidates = (repo ? await appsForRepo(services.db, repo) : []).filter((a) => input.named === null || a.name === input.named);
  const app = candidates.find((a) => {
    const secret = hookSecret(services.masterKey, a);
    return secret !== null && verifySignature(secret, raw, input.signature);
  });
  if (!app) {
    const limited = refuse();
    if (limited) return limited;
    if (candidates.length === 0) {
      await recordUnverified(services, { deliveryId, event, outcome: "rejected: unknown app" });
      return { kind: "unknown_app", repo };
    }
    await recordUnverified(services, {
      deliveryId,
      event,
      appId: candidates.length === 1 ? (candidates[0] as App).id : null,
      outcome: "rejected: bad signature",
    });
    return { kind: "bad_signature" };
  }
  const row = await record(services, { deliveryId, event, appId: app.id, outcome: "received", verified: true, payload: raw });
  if (!row) return { kind: "duplicate" };
  return { kind: "done", delivery: await finish(services, row, await act(services, app, event, payload, deliveryId)) };
}

export type Redelivered =
  | { kind: "not_found" }
  | { kind: "not_redeliverable" }
  | { kind: "app_gone" }
  | { kind: "busy" }
  | { kind: "done"; delivery: WebhookDelivery };

/** Runs a received delivery again (say, after fixing the app's branch setting). */
export async function redeliver(services: Services, id: string): Promise<Redelivered> {
  const original = await findDelivery(services.db, id);
  if (!original) return { kind: "not_found" };
  if (!original.verified || original.payload === null || !original.appId) return { kind: "not_redeliverable" };
  const app = await findAppById(services.db, original.appId);
  if (!app) return { kind: "app_gone" };
  const deliveryId = `${original.deliveryId}-again-${Date.now().toString(36)}`;
  const row = await record(services, {
    deliveryId,
    event: original.event,
    appId: app.id,
    outcome: "received",
    verified: true,
    payload: original.payload,
  });
  if (!row) return { kind: "busy" };
  return {
    kind: "done",
    delivery: await finish(services, row, await act(services, app, original.event, JSON.parse(original.payload), deliveryId)),
  };
}
