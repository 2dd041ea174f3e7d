import { desc, lt } from "drizzle-orm";
import type { AuthInfo } from "../../auth/sessions.ts";
import type { Db } from "../client.ts";
import { auditLog } from "../schema/index.ts";

export interface AuditEntry {
  auth: AuthInfo | null;
  /** Used when there is no signed-in actor (setup, a failed login, the CLI). */
  actor?: string;
  action: string;
  target?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown>;
}

export async function recordAudit(db: Db, entry: AuditEntry): Promise<void> {
  const actor =
    entry.auth?.kind === "token"
      ? `${entry.auth.user.email} (token ${entry.auth.tokenName})`
      : (entry.auth?.user.email ?? entry.actor ?? "anonymous");
  await db.insert(auditLog).values({
    userId: entry.auth?.user.id ?? null,
    actor,
    action: entry.action,
    target: entry.target ?? null,
    ip: entry.ip ?? null,
    userAgent: entry.userAgent?.slice(0, 400) ?? null,
    details: entry.details ?? null,
  });
}

export async function listAudit(db: Db, options: { before?: number; limit: number }) {
  return db
    .select()
    .from(auditLog)
    .where(options.before ? lt(auditLog.id, options.before) : undefined)
    .orderBy(desc(auditLog.id))
    .limit(options.limit);
}
