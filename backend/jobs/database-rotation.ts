/**
 * Finishing password rotations. A db-rotate job gives the engine the new password (Redis keeps
 * the old one beside it), updates the attached apps, queues their deploys, records what it waits
 * for in `databases.config.rotation` and ends: no job waits for another while holding a worker.
 * Whenever one of those deploys ends (the `job.updated` event, from any panel), and once a minute
 * with the database poll (a panel restarted in between), the rotation is looked at again: when
 * every app has deployed with the new URL the old password is dropped; when a deploy failed or was
 * cancelled it stays valid and the rotation needs attention, until a later deploy of that app
 * succeeds (or the app is detached), or a new rotation supersedes it.
 */
import { engineFor } from "../adapters/databases/engine.ts";
import {
  claimRotationFinish,
  clearRotationState,
  databasePassword,
  databasesWithRotation,
  deploysSince,
  findDatabaseById,
  jobStatus,
  listAttachments,
  setRotationState,
} from "../db/queries/databases.ts";
import type { DatabaseRow } from "../db/schema/index.ts";
import {
  appRotationStatus,
  failedSummary,
  overallState,
  type RotationApp,
  readRotation,
  type StoredRotation,
} from "../domain/database-rotation.ts";
import type { Services } from "../services.ts";

/** A panel that began dropping the old password and died: another takes it over after this. */
const STALE_FINISH_MS = 2 * 60_000;

export type SettleOutcome = StoredRotation["state"] | "finished" | null;

async function publish(services: Services, row: DatabaseRow): Promise<void> {
  await services.events.publish({ type: "database.updated", databaseId: row.id, database: row.name, status: row.status });
}

function stored(r: StoredRotation): Record<string, unknown> {
  const { claimedAt: _claimed, ...rest } = r;
  return { ...rest };
}

/** Leaves only the database's current (new) password valid and forgets the rotation. */
export async function finishRotationNow(services: Services, row: DatabaseRow, jobId: string): Promise<void> {
  const engine = engineFor(services, row.engine);
  await engine.finishRotation({ name: row.name, config: row.config ?? {}, password: databasePassword(services.masterKey, row) });
  await clearRotationState(services.db, row.id, jobId);
}

/** Looks at one database's pending rotation again; returns what it is now ("finished" once the old password is gone). */
export async function settleRotation(services: Services, databaseId: string): Promise<SettleOutcome> {
  const { db, log } = services;
  const row = await findDatabaseById(db, databaseId);
  const pending = row ? readRotation(row.config) : null;
  if (!row || !pending) return null;
  if (row.status !== "ready") return pending.state;
  if (!pending.queued) {
    if (pending.state !== "rotating") return pending.state;
    const status = await jobStatus(db, pending.jobId);
    if (status === "queued" || status === "running") return "rotating";
    // Its panel died before it queued the deploys (a job that fails records that itself).
    const reason = `the rotation job ended (${status ?? "removed"}) before the apps' deploys were queued; the old password stays valid: rotate again`;
    const updated = await setRotationState(db, row.id, { ...stored(pending), state: "needs-attention", reason }, pending.jobId);
    if (updated) await publish(services, updated);
    return "needs-attention";
  }
  const attached = new Set((await listAttachments(db, [row.id])).map((a) => a.appId));
  const apps: RotationApp[] = [];
  for (const app of pending.apps) {
    if (!attached.has(app.appId)) apps.push({ ...app, status: "detached", reason: null });
    else if (!app.deployJobId) apps.push(app);
    else apps.push({ ...app, ...appRotationStatus(await deploysSince(db, app.appId, app.deployJobId)) });
  }
  const overall = overallState(apps);
  if (overall === "done") {
    const now = new Date();
    if (!(await claimRotationFinish(db, row.id, pending.jobId, now, new Date(now.getTime() - STALE_FINISH_MS)))) {
      const again = await findDatabaseById(db, row.id);
      return readRotation(again?.config)?.state ?? "finished";
    }
    try {
      await finishRotationNow(services, row, pending.jobId);
    } catch (error) {
      const reason = `dropping the old password failed (${(error as Error).message}); it is tried again with the next database poll`;
      log.warn("finishing a password rotation failed", { database: row.name, error: (error as Error).message });
      const updated = await setRotationState(db, row.id, { ...stored(pending), apps, state: "needs-attention", reason }, pending.jobId);
      if (updated) await publish(services, updated);
      return "needs-attention";
    }
    log.info("password rotation finished: the old password no longer works", { database: row.name, jobId: pending.jobId });
    await publish(services, row);
    return "finished";
  }
  const reason = failedSummary(apps);
  if (pending.state === "finishing") return pending.state;
  if (overall !== pending.state || reason !== pending.reason || JSON.stringify(apps) !== JSON.stringify(pending.apps)) {
    const updated = await setRotationState(db, row.id, { ...stored(pending), apps, state: overall, reason }, pending.jobId);
    if (updated) await publish(services, updated);
  }
  return overall;
}

/** Every pending rotation (or those waiting for `appId`), looked at again. */
export async function settleRotations(services: Services, appId?: string): Promise<void> {
  for (const row of await databasesWithRotation(services.db)) {
    const pending = readRotation(row.config);
    if (appId && !pending?.apps.some((a) => a.appId === appId)) continue;
    try {
      await settleRotation(services, row.id);
    } catch (error) {
      services.log.warn("checking a password rotation failed", { database: row.name, error: (error as Error).message });
    }
  }
}

const FINAL = new Set(["succeeded", "failed", "cancelled"]);

/** A deploy that ends (here or in another panel) settles the rotations waiting for its app. */
export function watchRotations(services: Services): () => void {
  let chain: Promise<void> = Promise.resolve();
  return services.events.subscribe((event) => {
    if (event.type !== "job.updated" || event.kind !== "deploy" || !FINAL.has(event.status) || !event.appId) return;
    const appId = event.appId;
    chain = chain
      .then(() => settleRotations(services, appId))
      .catch((error: unknown) => services.log.warn("checking password rotations failed", { error }));
  });
}
