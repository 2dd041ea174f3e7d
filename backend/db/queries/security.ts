import { eq, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { settings } from "../schema/index.ts";

/** Panel-wide sign-in rules, set by the owner. */
export interface Security {
  /** Every user must have two-factor sign-in on before the panel lets them do anything else. */
  requireTwoFactor: boolean;
}

export const DEFAULT_SECURITY: Security = { requireTwoFactor: false };

const KEY = "security";

export async function getSecurity(db: Db): Promise<Security> {
  const [row] = await db.select().from(settings).where(eq(settings.key, KEY));
  const stored = (row?.value ?? {}) as Record<string, unknown>;
  return { requireTwoFactor: stored.requireTwoFactor === true };
}

export async function setSecurity(db: Db, change: Partial<Security>): Promise<Security> {
  const next = { ...(await getSecurity(db)), ...change };
  await db
    .insert(settings)
    .values({ key: KEY, value: next })
    .onConflictDoUpdate({ target: settings.key, set: { value: next, updatedAt: new Date() } });
  return next;
}

/** Whether the panel requires two-factor sign-in, as an SQL expression (true or false, never null). */
export function twoFactorRequired() {
  return sql<boolean>`coalesce((select (${settings.value}->>'requireTwoFactor')::boolean from ${settings} where ${settings.key} = ${KEY}), false)`;
}
