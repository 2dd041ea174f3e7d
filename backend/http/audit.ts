import { recordAudit } from "../db/queries/audit.ts";
import type { Context } from "./context.ts";

/**
 * Records who did what from where. Routes call it with a meaningful action; unsafe requests that
 * succeed without calling it are recorded generically by the server, so no mutation goes unlogged.
 */
export async function audit(
  c: Context,
  action: string,
  target: string | null,
  details?: Record<string, unknown>,
  actor?: string,
): Promise<void> {
  c.audited = true;
  await recordAudit(c.services.db, {
    auth: c.auth,
    ...(actor ? { actor } : {}),
    action,
    target,
    ip: c.ip,
    userAgent: c.req.headers.get("user-agent"),
    ...(details ? { details } : {}),
  });
}
