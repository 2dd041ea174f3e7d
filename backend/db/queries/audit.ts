import { and, desc, eq, like, lt, or } from "drizzle-orm";
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

/** Filters of the activity feed: one app's entries, one kind (an action or its group), one user's. */
export interface AuditFilter {
  before?: number;
  limit: number;
  /** An app's name: entries whose target is `app:<name>`. */
  app?: string;
  /** An action (`app.deploy`) or its group (`app`: every `app.*`). */
  action?: string;
  /** A user's id: what they did. */
  user?: string;
}

/** `_` and `%` are wildcards to LIKE; a group name is matched as written. */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (m) => `\\${m}`);

export async function listAudit(db: Db, options: AuditFilter) {
  return db
    .select()
    .from(auditLog)
    .where(
      and(
        options.before ? lt(auditLog.id, options.before) : undefined,
        options.app ? eq(auditLog.target, `app:${options.app}`) : undefined,
        options.action ? or(eq(auditLog.action, options.action), like(auditLog.action, `${likeLiteral(options.action)}.%`)) : undefined,
        options.user ? eq(auditLog.userId, options.user) : undefined,
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(options.limit);
}
