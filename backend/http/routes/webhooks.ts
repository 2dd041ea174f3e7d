import { z } from "zod";
import { listDeliveries } from "../../db/queries/webhooks.ts";
import { webhookState } from "../../jobs/github-apps.ts";
import { receiveDelivery, redeliver } from "../../jobs/webhooks.ts";
import { type Context, findUnstorableText, readParams, readQuery, readRawBody } from "../context.ts";
import { badRequest, HttpError, notFound } from "../errors.ts";
import type { Router } from "../router.ts";
import { deliveryJson } from "../shapes.ts";
import { loadApp } from "./apps.ts";

const MAX_DELIVERY_BYTES = 5 * 1024 * 1024;

/** The delivery as text, its size counted in bytes as it arrives (GitHub's own limit is 25 MB; pushes are far smaller). */
async function rawBody(c: Context): Promise<string> {
  const text = new TextDecoder().decode(await readRawBody(c, MAX_DELIVERY_BYTES));
  // Postgres cannot store U+0000 or a lone surrogate as text: such a payload is refused whole, before anything is recorded.
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return text;
  }
  const bad = findUnstorableText(payload);
  if (bad) throw badRequest(`The delivery's ${bad.path || "body"} ${bad.message}.`);
  return text;
}

export function webhookRoutes(r: Router): void {
  /** GitHub's deliveries: verified against the app's secret, replays refused, work queued. */
  r.post("/api/v1/webhooks/github", { auth: "public" }, async (c) => {
    const event = c.req.headers.get("x-github-event");
    const deliveryId = c.req.headers.get("x-github-delivery");
    if (!event || !/^[a-z_]{1,64}$/.test(event)) throw badRequest("X-GitHub-Event is missing or not an event name.");
    if (!deliveryId || !/^[A-Za-z0-9-]{1,100}$/.test(deliveryId)) throw badRequest("X-GitHub-Delivery is missing or not a delivery id.");
    const raw = await rawBody(c);
    const received = await receiveDelivery(c.services, {
      event,
      deliveryId,
      raw,
      signature: c.req.headers.get("x-hub-signature-256"),
      named: c.url.searchParams.get("app"),
      address: c.ip,
    });
    switch (received.kind) {
      case "rate_limited":
        throw new HttpError(
          429,
          "rate_limited",
          `Too many deliveries with no valid signature from this address. Try again in ${received.retryAfter} seconds.`,
          { retryAfter: received.retryAfter },
          { "retry-after": String(received.retryAfter) },
        );
      case "malformed":
        throw badRequest("The delivery body is not valid JSON (send it as application/json).");
      case "unknown_app":
        throw new HttpError(404, "unknown_app", `No app here deploys ${received.repo ?? "this repository"}.`);
      case "bad_signature":
        throw new HttpError(401, "bad_signature", "X-Hub-Signature-256 is missing or does not match the app's webhook secret.");
      case "duplicate":
        return Response.json({ outcome: "duplicate", message: "This delivery was received before; nothing was done again." });
      case "done":
        return Response.json({ delivery: deliveryJson(received.delivery) }, { status: received.delivery.jobId ? 202 : 200 });
    }
  });

  r.get("/api/v1/apps/:app/deliveries", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { limit } = readQuery(c, z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }));
    const rows = await listDeliveries(c.services.db, app.id, limit);
    return Response.json({ deliveries: rows.map(deliveryJson) });
  });

  /** The app's webhook as GitHub has it, and the last delivery: enough to tell whether pushes arrive. */
  r.get("/api/v1/apps/:app/webhook", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const state = await webhookState(c.services, app);
    return Response.json({
      repo: app.githubRepo,
      autoDeploy: app.autoDeploy,
      hookId: app.githubHookId,
      lastDelivery: state.lastDelivery ? deliveryJson(state.lastDelivery) : null,
      hook: state.hook,
      problem: state.problem,
    });
  });

  /** Runs a received delivery again (say, after fixing the app's branch setting). */
  r.post("/api/v1/webhooks/deliveries/:id/redeliver", { auth: "deployer" }, async (c) => {
    const { id } = readParams(c, z.object({ id: z.uuid({ error: "must be a delivery id" }) }));
    const again = await redeliver(c.services, id);
    switch (again.kind) {
      case "not_found":
        throw notFound(`Delivery ${id}`);
      case "not_redeliverable":
        throw new HttpError(422, "not_redeliverable", "Only deliveries whose signature checked out can be run again.");
      case "app_gone":
        throw notFound("The delivery's app");
      case "busy":
        throw new HttpError(409, "conflict", "That delivery is being run again already.");
      case "done":
        return Response.json({ delivery: deliveryJson(again.delivery) }, { status: again.delivery.jobId ? 202 : 200 });
    }
  });
}
