import type { Context } from "../context.ts";
import { HttpError } from "../errors.ts";
import { credentialKind } from "./auth.ts";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * CSRF defence for cookie sessions: an unsafe request must come from the panel's own origin —
 * the configured public URL or the host the request was addressed to (a host the panel answers
 * to: `checkHost` refused any other before this runs). Bearer-token requests
 * are not sent by browsers on their own and are exempt.
 */
export function checkOrigin(c: Context): void {
  if (SAFE.has(c.req.method)) return;
  const kind = credentialKind(c.req);
  if (kind === "token") return;
  const origin = c.req.headers.get("origin");
  if (!origin) {
    if (kind === "cookie") throw new HttpError(403, "origin_required", "Requests signed in with a cookie must carry an Origin header.");
    return;
  }
  if (!allowedOrigins(c).has(origin)) {
    throw new HttpError(403, "origin_mismatch", `Requests from ${origin} are not allowed.`);
  }
}

function allowedOrigins(c: Context): Set<string> {
  const allowed = new Set([c.services.config.publicUrl.origin]);
  // Behind a TLS-terminating proxy the panel sees http while the browser says https.
  const host = c.req.headers.get("host");
  if (host) for (const proto of ["http", "https"]) allowed.add(`${proto}://${host}`);
  return allowed;
}
