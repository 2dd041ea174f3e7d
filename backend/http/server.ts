import type { Server } from "bun";
import type { Services } from "../services.ts";
import { audit } from "./audit.ts";
import type { Context } from "./context.ts";
import { conflictFromDatabase, diskFull, HttpError, storageError } from "./errors.ts";
import { authenticate, requireRole } from "./middleware/auth.ts";
import { checkHost } from "./middleware/host.ts";
import { checkOrigin } from "./middleware/origin.ts";
import { requireTwoFactorEnrolment } from "./middleware/two-factor.ts";
import { Router } from "./router.ts";
import { accountRoutes } from "./routes/account.ts";
import { alertRoutes } from "./routes/alerts.ts";
import { appRoutes } from "./routes/apps.ts";
import { authRoutes } from "./routes/auth.ts";
import { backupRoutes } from "./routes/backups.ts";
import { cronRoutes } from "./routes/cron.ts";
import { databaseRoutes } from "./routes/databases.ts";
import { detectRoutes } from "./routes/detect.ts";
import { domainRoutes } from "./routes/domains.ts";
import { envRoutes } from "./routes/env.ts";
import { eventRoutes } from "./routes/events.ts";
import { githubRoutes } from "./routes/github.ts";
import { healthRoutes } from "./routes/health.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { notificationRoutes } from "./routes/notifications.ts";
import { processRoutes } from "./routes/processes.ts";
import { releaseCommandRoutes } from "./routes/release-command.ts";
import { runtimeLogRoutes } from "./routes/runtime-logs.ts";
import { settingsRoutes } from "./routes/settings.ts";
import { systemRoutes } from "./routes/system.ts";
import { serveMetrics, systemMetricsRoutes } from "./routes/system-metrics.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { twoFactorRoutes } from "./routes/two-factor.ts";
import { userRoutes } from "./routes/users.ts";
import { volumeRoutes } from "./routes/volumes.ts";
import { webhookRoutes } from "./routes/webhooks.ts";
import { createStaticHandler } from "./static.ts";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export type RouteModule = (r: Router) => void;

export const coreRoutes: RouteModule[] = [
  healthRoutes,
  authRoutes,
  accountRoutes,
  tokenRoutes,
  userRoutes,
  appRoutes,
  detectRoutes,
  domainRoutes,
  envRoutes,
  volumeRoutes,
  cronRoutes,
  processRoutes,
  jobRoutes,
  metricsRoutes,
  releaseCommandRoutes,
  databaseRoutes,
  backupRoutes,
  notificationRoutes,
  runtimeLogRoutes,
  eventRoutes,
  githubRoutes,
  webhookRoutes,
  systemRoutes,
  systemMetricsRoutes,
  alertRoutes,
  settingsRoutes,
  twoFactorRoutes,
];

export interface HttpApp {
  fetch(req: Request, server?: Server<unknown>): Promise<Response>;
  router: Router;
}

/** Request in, Response out: usable in-process by tests (no port) and by Bun.serve. */
export function createHttpApp(services: Services, modules: RouteModule[] = coreRoutes): HttpApp {
  const router = new Router();
  for (const register of modules) register(router);
  const serveStatic = createStaticHandler(services.guiDir);
  const { log } = services;

  async function handleApi(c: Context): Promise<Response> {
    const match = router.match(c.req.method, c.url.pathname);
    if (!match.route) {
      if (match.allowed.length > 0) {
        throw new HttpError(405, "method_not_allowed", `${c.req.method} is not allowed here; use ${match.allowed.join(", ")}.`, undefined, {
          allow: match.allowed.join(", "),
        });
      }
      throw new HttpError(404, "not_found", `No API route ${c.req.method} ${c.url.pathname}.`);
    }
    Object.assign(c.params, match.params);
    checkOrigin(c);
    const route = match.route;
    if (route.auth === "public") {
      c.auth = await authenticate(c).catch(() => null);
    } else {
      c.auth = await authenticate(c);
      requireRole(c, route.auth);
      requireTwoFactorEnrolment(c, route.pattern);
    }
    const response = await route.handler(c);
    if (UNSAFE.has(c.req.method) && response.status < 400 && !c.audited && c.auth) {
      await audit(c, `${c.req.method} ${route.pattern}`, c.url.pathname);
    }
    return response;
  }

  async function fetch(req: Request, server?: Server<unknown>): Promise<Response> {
    const started = performance.now();
    const url = new URL(req.url);
    const requestId = req.headers.get("x-request-id")?.slice(0, 64) || crypto.randomUUID();
    const c: Context = {
      req,
      url,
      params: {},
      requestId,
      ip: clientIp(req, server, services.config.socket !== null),
      services,
      ...(server ? { server } : {}),
      auth: null,
      responseHeaders: new Headers(),
      audited: false,
    };
    let response: Response;
    const isApi = url.pathname === "/api" || url.pathname.startsWith("/api/");
    try {
      checkHost(c);
      response = isApi
        ? await handleApi(c)
        : url.pathname === "/metrics"
          ? await serveMetrics(c)
          : (serveStatic(url, req.method) ?? new HttpError(405, "method_not_allowed", "Only GET here.").toResponse());
    } catch (error) {
      response = toErrorResponse(error, c);
    }
    const headers = new Headers(response.headers);
    c.responseHeaders.forEach((value, key) => {
      if (key !== "set-cookie") headers.append(key, value);
    });
    // Each cookie its own header: joined with commas they would not parse.
    for (const cookie of c.responseHeaders.getSetCookie()) headers.append("set-cookie", cookie);
    headers.set("x-request-id", requestId);
    if (isApi) headers.set("cache-control", headers.get("cache-control") ?? "no-store");
    headers.set("x-content-type-options", "nosniff");
    headers.set("referrer-policy", "same-origin");
    if (!isApi) headers.set("x-frame-options", "DENY");
    const final = new Response(response.body, { status: response.status, statusText: response.statusText, headers });
    if (isApi) {
      log.info("request", {
        method: req.method,
        path: url.pathname,
        status: final.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        requestId,
        user: c.auth?.user.email ?? null,
        ip: c.ip,
      });
    }
    return final;
  }

  function toErrorResponse(error: unknown, c: Context): Response {
    if (error instanceof HttpError) return error.toResponse();
    const conflict = conflictFromDatabase(error);
    if (conflict) return conflict.toResponse();
    const full = storageError(error);
    if (full) {
      log.error("disk full", { requestId: c.requestId, path: c.url.pathname, reason: diskFull(error) });
      return full.toResponse();
    }
    log.error("unhandled error", { requestId: c.requestId, path: c.url.pathname, error });
    return new HttpError(500, "internal_error", `Something went wrong on the server (request ${c.requestId}).`).toResponse();
  }

  return { fetch, router };
}

/**
 * The client's address. Only a panel on a unix socket has a proxy in front (the nginx that owns the
 * socket, which sets X-Real-IP to its peer); on TCP anyone may connect directly, so the headers are
 * the client's own word and the peer address is used.
 */
function clientIp(req: Request, server: Server<unknown> | undefined, behindProxy: boolean): string {
  if (behindProxy) {
    const forwarded = req.headers.get("x-real-ip")?.trim() || req.headers.get("x-forwarded-for")?.split(",").at(-1)?.trim();
    if (forwarded) return forwarded.slice(0, 64);
  }
  return server?.requestIP(req)?.address ?? "127.0.0.1";
}
