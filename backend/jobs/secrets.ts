/**
 * The secret values an app's output may hold. Today's env is not enough: a release runs with the
 * env snapshot it was built with, so after a secret is rotated its old value lives on in the kept
 * releases, and a rollback starts one of them.
 */
import { exists, readEnvSnapshot } from "../adapters/release-store.ts";
import { listReleases } from "../db/queries/apps.ts";
import type { EnvVarValue } from "../db/queries/env.ts";
import type { Release } from "../db/schema/index.ts";
import { parseEnvFile } from "../domain/env.ts";
import type { Services } from "../services.ts";

/** A release records which keys of its snapshot were secret in `details.secretKeys`. */
export function releaseSecretDetails(vars: EnvVarValue[]): { secretKeys: string[] } {
  return { secretKeys: vars.filter((v) => v.secret).map((v) => v.key) };
}

function recordedSecretKeys(release: Release): string[] {
  const keys = release.details?.secretKeys;
  return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === "string") : [];
}

/**
 * Today's secret values (`current`) and the secret values in the snapshot of every release of the
 * app whose files are still kept. A key counts as secret in a snapshot when the release recorded it
 * so, or when it is secret today (releases made before the record existed, or whose record was lost).
 */
export async function knownSecrets(services: Services, appId: string, current: EnvVarValue[]): Promise<string[]> {
  const values = new Set(current.filter((v) => v.secret).map((v) => v.value));
  const secretToday = current.filter((v) => v.secret).map((v) => v.key);
  for (const release of await listReleases(services.db, appId, 1000)) {
    if (release.pruned || !exists(release.envFile)) continue;
    let snapshot: Record<string, string>;
    try {
      snapshot = parseEnvFile(readEnvSnapshot(release.envFile));
    } catch {
      continue;
    }
    for (const key of new Set([...recordedSecretKeys(release), ...secretToday])) {
      const value = snapshot[key];
      if (value !== undefined) values.add(value);
    }
  }
  return [...values];
}
