import { Cron } from "croner";
import type * as contract from "../contract/api.ts";
import type { AttachmentRow } from "../db/queries/databases.ts";
import type { Backup, BackupDestination, DatabaseRow } from "../db/schema/index.ts";
import { rotationJson } from "../domain/database-rotation.ts";

const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

export function backupJson(b: Backup, destinations: Map<string, BackupDestination>): contract.Backup {
  const destination = b.destinationId ? destinations.get(b.destinationId) : undefined;
  return {
    id: b.id,
    databaseId: b.databaseId,
    databaseName: b.databaseName,
    engine: b.engine,
    kind: b.kind,
    status: b.status,
    verified: b.verified,
    good: b.status === "succeeded" && b.verified === "verified",
    error: b.error,
    destination: destination ? { id: destination.id, name: destination.name, kind: destination.kind } : null,
    location: b.location,
    sizeBytes: b.sizeBytes,
    sha256: b.sha256,
    durationMs: b.durationMs,
    verifyMs: b.verifyMs,
    details: b.details,
    jobId: b.jobId,
    startedAt: iso(b.startedAt),
    finishedAt: isoOrNull(b.finishedAt),
  };
}

/** The next run of a schedule (UTC), or null when there is none or it is not a valid expression. */
export function nextRun(cron: string | null, from = new Date()): string | null {
  if (!cron) return null;
  try {
    return new Cron(cron, { timezone: "UTC", paused: true }).nextRun(from)?.toISOString() ?? null;
  } catch {
    return null;
  }
}

export function databaseJson(
  d: DatabaseRow,
  related: {
    attachments: AttachmentRow[];
    releaseRuns: Map<string, contract.ReleaseCommandRun>;
    lastBackup: Backup | null;
    destinations: Map<string, BackupDestination>;
  },
): contract.DatabaseSummary {
  return {
    id: d.id,
    name: d.name,
    engine: d.engine,
    status: d.status,
    sizeBytes: d.sizeBytes,
    connections: d.connections,
    polledAt: isoOrNull(d.polledAt),
    attachments: related.attachments
      .filter((a) => a.databaseId === d.id)
      .map((a) => ({ app: a.app, appId: a.appId, envVar: a.envVar, releaseCommand: related.releaseRuns.get(a.appId) ?? null })),
    lastBackup: related.lastBackup ? backupJson(related.lastBackup, related.destinations) : null,
    schedule: {
      cron: d.scheduleCron,
      keep: d.keepCount,
      keepDays: d.keepDays,
      destinationId: d.destinationId,
      next: nextRun(d.scheduleCron),
    },
    rotation: rotationJson(d.config),
    createdAt: iso(d.createdAt),
  };
}
