import { z } from "zod";
import { METRIC_STEPS } from "../../contract/api.ts";
import { defaultStep, floorTo, MAX_POINTS, STEP_MS } from "../../domain/metrics.ts";
import { PROMETHEUS_CONTENT_TYPE, panelFamilies, renderFamilies } from "../../domain/prometheus.ts";
import { diagnostics, prometheusFigures, systemMetrics } from "../../jobs/system-report.ts";
import { type Context, readQuery } from "../context.ts";
import { HttpError } from "../errors.ts";
import { authenticate, credentialKind } from "../middleware/auth.ts";
import { requireTwoFactorEnrolment } from "../middleware/two-factor.ts";
import type { Router } from "../router.ts";

/** A time in a query string: ISO 8601, or milliseconds since the epoch. */
const instant = z.string().transform((value, ctx) => {
  const ms = /^\d{1,15}$/.test(value) ? Number(value) : /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: "custom", message: "must be an ISO 8601 time or epoch milliseconds" });
    return z.NEVER;
  }
  return new Date(ms);
});

const DAY = 86_400_000;

const rangeQuery = z.object({ from: instant.optional(), to: instant.optional(), step: z.enum(METRIC_STEPS).optional() });

/** from/to/step with their defaults (the last 24 h, a step that draws it in a few hundred points). */
function readRange(c: Context) {
  const q = readQuery(c, rangeQuery);
  const to = q.to ?? new Date();
  const from = q.from ?? new Date(to.getTime() - DAY);
  const bad = (message: string, path: string) =>
    new HttpError(400, "validation_failed", `${path}: ${message}.`, { issues: [{ path, message }] });
  if (from >= to) throw bad("must be before to", "from");
  if (to.getTime() - from.getTime() > 3660 * DAY) throw bad("the range may span at most 10 years", "from");
  const step = q.step ?? defaultStep(to.getTime() - from.getTime());
  const points = Math.ceil((to.getTime() - floorTo(from.getTime(), STEP_MS[step])) / STEP_MS[step]);
  if (points > MAX_POINTS) {
    throw bad(
      `a ${step} step over this range makes ${points} points, more than ${MAX_POINTS}; choose a larger step or a shorter range`,
      "step",
    );
  }
  return { from, to, step };
}

/** The server's resources and health: the system charts, disk use, and the diagnostics list. */
export function systemMetricsRoutes(r: Router): void {
  r.get("/api/v1/system/metrics", { auth: "viewer" }, async (c) => Response.json(await systemMetrics(c.services, readRange(c))));

  r.get("/api/v1/system/diagnostics", { auth: "admin" }, async (c) => Response.json(await diagnostics(c.services)));
}

/**
 * `GET /metrics` for Prometheus: only with an API token (a scraper has no session, and a cookie
 * from a browser must not make the panel's figures readable cross-site).
 */
export async function serveMetrics(c: Context): Promise<Response> {
  if (c.req.method !== "GET" && c.req.method !== "HEAD") {
    throw new HttpError(405, "method_not_allowed", `${c.req.method} is not allowed here; use GET.`, undefined, { allow: "GET" });
  }
  if (credentialKind(c.req) !== "token") {
    throw new HttpError(401, "unauthenticated", "GET /metrics needs an API token: send 'Authorization: Bearer <api token>'.");
  }
  c.auth = await authenticate(c);
  if (!c.auth) throw new HttpError(401, "unauthenticated", "GET /metrics needs an API token.");
  requireTwoFactorEnrolment(c, "/metrics");
  const text = renderFamilies(panelFamilies(await prometheusFigures(c.services)));
  return new Response(text, { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } });
}
