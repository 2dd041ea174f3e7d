import { and, asc, eq, inArray, notInArray } from "drizzle-orm";
import { decryptSecret, encryptSecret } from "../../domain/vault.ts";
import type { Db } from "../client.ts";
import { envVars } from "../schema/index.ts";

export interface EnvVarValue {
  key: string;
  value: string;
  secret: boolean;
}

/** The ciphertext is bound to its environment and key, so rows cannot be swapped. */
const aad = (environmentId: string, key: string) => `env:${environmentId}:${key}`;

export async function readEnvVars(db: Db, masterKey: Buffer, environmentId: string): Promise<EnvVarValue[]> {
  const rows = await db.select().from(envVars).where(eq(envVars.environmentId, environmentId)).orderBy(asc(envVars.key));
  return rows.map((r) => ({ key: r.key, value: decryptSecret(masterKey, r.valueEncrypted, aad(environmentId, r.key)), secret: r.secret }));
}

export interface EnvChange {
  added: string[];
  changed: string[];
  removed: string[];
}

/**
 * Replaces the environment's variables with `vars` in one transaction. A secret sent back
 * with `keep: true` (the masked value the API returned) keeps its stored value.
 */
export async function replaceEnvVars(
  db: Db,
  masterKey: Buffer,
  environmentId: string,
  vars: Array<{ key: string; value?: string; secret: boolean; keep?: boolean }>,
): Promise<EnvChange> {
  const current = await readEnvVars(db, masterKey, environmentId);
  const byKey = new Map(current.map((v) => [v.key, v]));
  const change: EnvChange = { added: [], changed: [], removed: [] };
  await db.transaction(async (tx) => {
    const keys = vars.map((v) => v.key);
    const removed = current.filter((v) => !keys.includes(v.key)).map((v) => v.key);
    if (removed.length > 0) {
      await tx.delete(envVars).where(and(eq(envVars.environmentId, environmentId), inArray(envVars.key, removed)));
      change.removed = removed;
    }
    for (const v of vars) {
      const old = byKey.get(v.key);
      const value = v.keep && old ? old.value : (v.value ?? "");
      if (old && old.value === value && old.secret === v.secret) continue;
      (old ? change.changed : change.added).push(v.key);
      await tx
        .insert(envVars)
        .values({ environmentId, key: v.key, valueEncrypted: encryptSecret(masterKey, value, aad(environmentId, v.key)), secret: v.secret })
        .onConflictDoUpdate({
          target: [envVars.environmentId, envVars.key],
          set: { valueEncrypted: encryptSecret(masterKey, value, aad(environmentId, v.key)), secret: v.secret, updatedAt: new Date() },
        });
    }
    if (keys.length === 0) await tx.delete(envVars).where(eq(envVars.environmentId, environmentId));
    else await tx.delete(envVars).where(and(eq(envVars.environmentId, environmentId), notInArray(envVars.key, keys)));
  });
  return change;
}
