/**
 * Volume backups: a volume directory as a tar.gz at a backup destination, counted only once
 * proven. The archive is read back from the destination, its entries checked, extracted into a
 * scratch directory, and that directory's fingerprint (paths, sizes, content hashes) compared
 * with the fingerprint of what tar archived. Retention keeps the newest N per volume.
 *
 * A volume is archived while the app runs: a file being written at that instant may be archived
 * mid-write (tar reads each file once, as it is then). The archive is consistent per file, not
 * across files; an app that needs more stops its writes, or keeps its data in a database.
 */
import { join } from "node:path";
import { type AppUser, appUserFor } from "../adapters/app-user.ts";
import type { BackupStore } from "../adapters/backups/destinations.ts";
import { confineDataDir, handToOwner } from "../adapters/release-store.ts";
import {
  type Archived,
  ArchiveRefused,
  archiveVolume,
  directoryManifest,
  extractArchive,
  type Manifest,
  manifestDifferences,
  spoolArchive,
} from "../adapters/volume-archive.ts";
import {
  adoptVolumeOwnership,
  markStagingFor,
  recoverInterruptedSwaps,
  removeIfPresent,
  stagingLayout,
  swapDirectoryIn,
} from "../adapters/volume-swap.ts";
import { listVolumeDirs, volumeDirExists } from "../adapters/volumes.ts";
import { appSlots } from "../db/queries/apps.ts";
import { findDestination, updateBackup } from "../db/queries/backups.ts";
import {
  getVolumeSchedule,
  insertVolumeBackup,
  listVolumeBackups,
  scheduledVolumeApps,
  type VolumeBackupSchedule,
  volumeJobPending,
} from "../db/queries/volume-backups.ts";
import type { App, Backup, Job } from "../db/schema/index.ts";
import { backupKey, backupsToPrune, isGood, scheduleDue } from "../domain/backups.ts";
import { backupFailed as backupFailedMessage } from "../domain/notification-messages.ts";
import { volumeName } from "../domain/volumes.ts";
import type { Services } from "../services.ts";
import { keyOf, type Log, removeBackups, storeFor, storeOfBackup } from "./backups.ts";
import { notifySafely } from "./notify.ts";
import { appPaths } from "./paths.ts";

export type VolumeBackupKind = Backup["kind"];

/** A request about a volume's backups that cannot be carried out: the HTTP status, a code and the field at fault. */
export class VolumeBackupRefused extends Error {
  override name = "VolumeBackupRefused";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** A backup that did not count: its row is already marked failed and announced. */
export class VolumeBackupFailed extends Error {
  override name = "VolumeBackupFailed";
  constructor(
    message: string,
    readonly backup: Backup,
  ) {
    super(message);
  }
}

export function volumeDir(services: Pick<Services, "config">, app: App, name: string): string {
  return appPaths(services.config.dataDir, app.name).volume(name);
}

/** The app's volumes: those in its settings and directories left from ones taken out of them. */
export function knownVolumes(services: Pick<Services, "config">, app: App): string[] {
  const named = app.volumes.map(({ path }) => volumeName(path));
  return [...new Set([...named, ...listVolumeDirs(appPaths(services.config.dataDir, app.name).volumes)])];
}

function scratchDir(services: Pick<Services, "config">, backupId: string): string {
  return join(services.config.dataDir, "tmp", "backups", `volume-${backupId}`);
}

async function markFailed(services: Services, app: App, backup: Backup, values: Partial<Backup>, error: string): Promise<Backup> {
  const row = (await updateBackup(services.db, backup.id, { ...values, error: error.slice(0, 2000), finishedAt: new Date() })) ?? backup;
  await services.events.publish({
    type: "backup.failed",
    backupId: backup.id,
    databaseId: null,
    database: backup.databaseName,
    kind: backup.kind,
    error: error.slice(0, 1000),
  });
  const verification = values.status !== "failed";
  const built = backupFailedMessage({ database: backup.databaseName, kind: backup.kind, error, verification });
  built.message.title = verification
    ? `Backup of volume ${backup.databaseName} failed verification`
    : `Backup of volume ${backup.databaseName} failed`;
  built.message.text = verification
    ? `The ${backup.kind} backup of volume ${backup.databaseName} was written, but what came back from it is not what was archived: ${error} Do not rely on it.`
    : `The ${backup.kind} backup of volume ${backup.databaseName} was not taken: ${error}`;
  built.message.fields = [
    { label: "App", value: app.name },
    { label: "Volume", value: backup.volume ?? "" },
    { label: "Kind", value: backup.kind },
  ];
  built.message.url = `/apps/${encodeURIComponent(app.name)}`;
  await notifySafely(services, built, app.id);
  return row;
}

export interface VolumeBackupOptions {
  jobId?: string | null;
  signal?: AbortSignal;
  /** The destination to write to; undefined: the app's schedule's (else the data dir). */
  destinationId?: string | null;
}

/** Archives a volume to its destination and records it (not yet verified). */
export async function archiveVolumeBackup(
  services: Services,
  app: App,
  name: string,
  kind: VolumeBackupKind,
  log: Log,
  options: VolumeBackupOptions = {},
): Promise<{ backup: Backup; store: BackupStore }> {
  const dir = volumeDir(services, app, name);
  const destinationId =
    options.destinationId !== undefined ? options.destinationId : (await getVolumeSchedule(services.db, app.id)).destinationId;
  const destination = destinationId ? await findDestination(services.db, destinationId) : null;
  let backup = await insertVolumeBackup(services.db, {
    appId: app.id,
    volume: name,
    databaseName: `${app.name}/${name}`,
    kind,
    destinationId: destination?.id ?? null,
    jobId: options.jobId ?? null,
  });
  const key = backupKey(`volumes/${app.name}/${name}`, backup.id, backup.startedAt, "tar.gz");
  const started = performance.now();
  let store: BackupStore | null = null;
  try {
    if (!volumeDirExists(dir)) throw new Error(`The volume has no directory yet (${dir}): it is made when the app first starts.`);
    store = storeFor(services, destination);
    const target = store;
    log(
      `Archiving volume ${name} of ${app.name} to ${destination ? `destination ${destination.name}` : "the data dir"} (${target.location(key)})…`,
    );
    // Local mode as root: the volume is the app user's (as every start of the app makes it), and tar
    // reads it as that user, so a link the app swaps in mid-backup leads nowhere the app could not go.
    const user = await volumeUser(services);
    if (user) {
      confineDataDir(services.config.dataDir);
      handToOwner(services.config.dataDir, dir, user);
    }
    const archived: Archived = await archiveVolume(dir, (s) => target.write(key, s), {
      user,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    for (const s of archived.skipped) log(`Left out ${s.path}: ${s.why}.`);
    for (const w of archived.warnings.slice(0, 20)) log(`tar: ${w}`);
    const m = archived.manifest;
    backup =
      (await updateBackup(services.db, backup.id, {
        status: "succeeded",
        location: archived.written.location,
        sizeBytes: archived.written.sizeBytes,
        sha256: archived.written.sha256,
        durationMs: Math.round(performance.now() - started),
        details: { key, source: { ...m, skipped: archived.skipped, warnings: archived.warnings.slice(0, 50) } },
      })) ?? backup;
    log(
      `Archived ${m.files} files, ${m.dirs} directories and ${m.links} links (${m.bytes} bytes) into ${archived.written.sizeBytes} bytes (sha256 ${archived.written.sha256}).`,
    );
    return { backup, store: target };
  } catch (error) {
    const message = `The archive failed: ${(error as Error).message}`;
    log(message);
    if (store) await store.remove(key).catch(() => {});
    const values = { status: "failed" as const, verified: "failed" as const, durationMs: Math.round(performance.now() - started) };
    throw new VolumeBackupFailed(message, await markFailed(services, app, backup, values, message));
  }
}

/**
 * Reads the archive back from its destination (its sha256 checked), checks every entry, extracts
 * it into a scratch directory and compares that directory with what was archived.
 */
export async function verifyVolumeBackup(
  services: Services,
  app: App,
  backup: Backup,
  store: BackupStore,
  log: Log,
  signal?: AbortSignal,
): Promise<Backup> {
  const started = performance.now();
  const details = (backup.details ?? {}) as { key: string; source: Manifest };
  const scratch = scratchDir(services, backup.id);
  log("Verifying: reading the archive back from its destination and extracting it into a scratch directory…");
  try {
    const archive = join(scratch, "archive.tar.gz");
    await spoolArchive(store.read(details.key), archive, backup.sha256);
    await extractArchive(archive, join(scratch, "tree"), signal);
    const restored = await directoryManifest(join(scratch, "tree"));
    const problems = manifestDifferences(details.source, restored);
    const verifyMs = Math.round(performance.now() - started);
    if (problems.length > 0) {
      const message = `The extracted archive does not match what was archived: ${problems.join("; ")}.`;
      log(message);
      const row = await markFailed(services, app, backup, { verified: "failed", verifyMs, details: { ...details, restored } }, message);
      throw new VolumeBackupFailed(message, row);
    }
    log(`Verified in ${verifyMs} ms: ${restored.files} files, ${restored.bytes} bytes, the same paths and contents as archived.`);
    return (
      (await updateBackup(services.db, backup.id, {
        verified: "verified",
        verifyMs,
        details: { ...details, restored },
        finishedAt: new Date(),
      })) ?? backup
    );
  } catch (error) {
    if (error instanceof VolumeBackupFailed) throw error;
    const message = `The verification failed: ${(error as Error).message}`;
    log(message);
    const values = { verified: "failed" as const, verifyMs: Math.round(performance.now() - started) };
    throw new VolumeBackupFailed(message, await markFailed(services, app, backup, values, message));
  } finally {
    await removeIfPresent(scratch);
  }
}

/** Backs up one volume now: archive → verify. Answers the verified row; throws VolumeBackupFailed otherwise. */
export async function backupVolume(
  services: Services,
  app: App,
  name: string,
  kind: VolumeBackupKind,
  log: Log,
  options: VolumeBackupOptions = {},
): Promise<Backup> {
  const { backup, store } = await archiveVolumeBackup(services, app, name, kind, log, options);
  return verifyVolumeBackup(services, app, backup, store, log, options.signal);
}

/** Retention for one volume: the app's keep count and days, never the newest good backup. */
export async function applyVolumeRetention(services: Services, app: App, name: string, log: Log): Promise<number> {
  const schedule = await getVolumeSchedule(services.db, app.id);
  const doomed = backupsToPrune(await listVolumeBackups(services.db, app.id, name, 10_000), schedule.keep, schedule.keepDays, new Date());
  const removed = await removeBackups(services, doomed, log);
  if (removed > 0)
    log(
      `Retention (keep ${schedule.keep}, ${schedule.keepDays} days): removed ${removed} older backup${removed === 1 ? "" : "s"} of ${name}.`,
    );
  return removed;
}

/** The app user volumes belong to and are read as: local mode with the panel as root; otherwise null. */
async function volumeUser(services: Services): Promise<AppUser | null> {
  if (services.config.mode !== "local") return null;
  return appUserFor(services.config.appUser, services.config.dataDir);
}

/** Where a restore is staged: beside the volumes (the same file system, so the swap is a rename). */
export function restoreStaging(services: Pick<Services, "config">, app: App, jobId: string): string {
  return join(appPaths(services.config.dataDir, app.name).root, ".volume-restore", jobId);
}

/**
 * Extracts a verified backup into the staging directory, checks it against what was archived,
 * and gives it the volume's owner and mode. The volume itself is not touched.
 */
export async function stageRestore(
  services: Services,
  app: App,
  backup: Backup,
  staging: string,
  log: Log,
  signal?: AbortSignal,
): Promise<string> {
  const details = (backup.details ?? {}) as { key?: string; source?: Manifest };
  if (!details.source) throw new Error("This backup has no record of what it archived.");
  const store = await storeOfBackup(services, backup);
  const { archive, tree } = stagingLayout(staging);
  log(`Reading ${backup.location ?? "the archive"} back (its sha256 checked)…`);
  await spoolArchive(store.read(keyOf(backup)), archive, backup.sha256);
  try {
    await extractArchive(archive, tree, signal);
  } catch (error) {
    if (error instanceof ArchiveRefused) log(error.message);
    throw error;
  }
  await removeIfPresent(archive);
  const restored = await directoryManifest(tree);
  const problems = manifestDifferences(details.source, restored);
  if (problems.length > 0) throw new Error(`The extracted archive does not match the backup: ${problems.join("; ")}.`);
  await markStagingFor(staging, backup.volume as string);
  // The volume's owner and mode stay what they were (server mode: the apps' group writes it).
  // A volume with no directory yet becomes the app user's, as one made by the app's start would.
  await adoptVolumeOwnership(
    tree,
    volumeDir(services, app, backup.volume as string),
    services.runtime.kind === "systemd",
    await volumeUser(services),
  );
  log(
    `Extracted ${restored.files} files, ${restored.dirs} directories and ${restored.links} links (${restored.bytes} bytes), as archived.`,
  );
  return tree;
}

/**
 * Puts the staged tree in the volume's place: the volume moves aside and the tree is renamed in
 * (two renames on one file system: the volume is the old contents or the new, never a mix), then
 * the old contents are deleted (the safety backup holds them).
 */
export async function swapIn(services: Services, app: App, name: string, tree: string, staging: string, log: Log): Promise<void> {
  const { aside } = stagingLayout(staging);
  const volumes = appPaths(services.config.dataDir, app.name).volumes;
  const hadContents = await swapDirectoryIn(volumes, volumeDir(services, app, name), tree, aside);
  log(`Volume ${name} now holds the backup's contents.`);
  if (hadContents) await removeIfPresent(aside);
}

/**
 * Finishes what a restore interrupted by a crash left beside the volumes (jobs of one app run one
 * at a time, so any staging directory found is a leftover). Between the swap's two renames the
 * extracted tree is still staged and the old contents are aside: they go back. After the swap
 * only the old contents are left: they are deleted, as the restore would have.
 */
export async function recoverInterruptedRestores(services: Services, app: App, log: Log): Promise<void> {
  const root = join(appPaths(services.config.dataDir, app.name).root, ".volume-restore");
  await recoverInterruptedSwaps(
    root,
    (volume) => volumeDir(services, app, volume),
    (volume) => log(`Volume ${volume}: a restore was interrupted during its swap; the contents from before it are back.`),
  );
}

/** Whether the app has a live slot (a restore then restarts it, so every process opens the restored files). */
export async function appIsLive(services: Services, app: App): Promise<boolean> {
  return (await appSlots(services.db, app.id)).some((s) => s.state === "live");
}

export interface Actor {
  userId?: string | null;
  label?: string;
}

function requireVolume(services: Services, app: App, name: string): void {
  if (!knownVolumes(services, app).includes(name))
    throw new VolumeBackupRefused(404, "not_found", `Volume ${name} of ${app.name} not found.`, "name");
}

/** Queues a backup of one volume (to `destinationId`, else the app's schedule's destination, else the data dir). */
export async function queueVolumeBackup(
  services: Services,
  app: App,
  name: string,
  input: { destinationId?: string | null | undefined },
  actor: Actor,
): Promise<Job> {
  requireVolume(services, app, name);
  if (!volumeDirExists(volumeDir(services, app, name)))
    throw new VolumeBackupRefused(
      409,
      "volume_not_created",
      `Volume ${name} has no directory yet: it is made when the app first starts.`,
      "name",
    );
  if (input.destinationId && !(await findDestination(services.db, input.destinationId)))
    throw new VolumeBackupRefused(400, "validation_failed", "no backup destination has this id", "destinationId");
  return services.orchestrator.enqueue({
    kind: "volume-backup",
    appId: app.id,
    params: { volumes: [name], kind: "manual", ...(input.destinationId !== undefined ? { destinationId: input.destinationId } : {}) },
    createdBy: actor.userId ?? null,
    ...(actor.label ? { trigger: actor.label } : {}),
  });
}

/** Queues a restore of one of the volume's verified backups into it. */
export async function queueVolumeRestore(
  services: Services,
  app: App,
  name: string,
  backup: Backup,
  input: { restart: boolean },
  actor: Actor,
): Promise<Job> {
  requireVolume(services, app, name);
  if (!isGood(backup))
    throw new VolumeBackupRefused(409, "backup_not_verified", "Only a backup that finished and verified can be restored.", "backupId");
  return services.orchestrator.enqueue({
    kind: "volume-restore",
    appId: app.id,
    params: { volume: name, backupId: backup.id, restart: input.restart },
    createdBy: actor.userId ?? null,
    ...(actor.label ? { trigger: actor.label } : {}),
  });
}

/** One pass of the scheduler: a volume-backup job for every app whose schedule is due. Answers how many. */
export async function queueDueVolumeBackups(services: Services, now = new Date()): Promise<number> {
  let queued = 0;
  for (const { app, schedule, lastScheduled } of await scheduledVolumeApps(services.db)) {
    const setAt = schedule.setAt ? new Date(schedule.setAt) : app.createdAt;
    if (!schedule.cron || !scheduleDue(schedule.cron, lastScheduled, setAt, now)) continue;
    if (await volumeJobPending(services.db, app.id)) continue;
    const volumes = knownVolumes(services, app).filter((v) => volumeDirExists(volumeDir(services, app, v)));
    if (volumes.length === 0) continue;
    await services.orchestrator.enqueue({
      kind: "volume-backup",
      appId: app.id,
      params: { volumes, kind: "scheduled" },
      trigger: "schedule",
    });
    queued++;
  }
  return queued;
}

export type { VolumeBackupSchedule };
