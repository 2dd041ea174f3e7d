/**
 * The database endpoints: databases and their attachments, credentials, password rotation,
 * backups, restores and schedules; backup destinations; an app's release command. Through the one
 * client. Work that takes a while (provision, back up, restore, rotate, delete) answers with a job.
 */
import { api, type RequestOptions } from "./client.ts";
import type {
  Backup,
  BackupDestination,
  DatabaseCredentials,
  DatabaseEngine,
  DatabaseSummary,
  EngineAvailability,
  Job,
  ReleaseCommandInfo,
} from "./types.ts";

const dbPath = (name: string) => `/databases/${encodeURIComponent(name)}`;

export interface DatabaseListing {
  databases: DatabaseSummary[];
  /** Which engines this panel can provision, and how to enable the others. */
  engines: EngineAvailability[];
}

export async function listDatabases(options?: RequestOptions): Promise<DatabaseListing> {
  const body = await api.get<Partial<DatabaseListing>>("/databases", options);
  return { databases: body.databases ?? [], engines: body.engines ?? [] };
}

export async function getDatabase(name: string, options?: RequestOptions): Promise<DatabaseSummary> {
  return (await api.get<{ database: DatabaseSummary }>(dbPath(name), options)).database;
}

/** Creates the database; the job provisions it. */
export function createDatabase(input: { name: string; engine: DatabaseEngine }): Promise<{ database: DatabaseSummary; job: Job }> {
  return api.post<{ database: DatabaseSummary; job: Job }>("/databases", input);
}

/** Deletes it after a final backup (the job); `confirm` is the database's name, typed by the user. */
export async function deleteDatabase(name: string, confirm: string): Promise<Job | null> {
  const body = await api.delete<{ job?: Job } | undefined>(dbPath(name), { confirm });
  return body?.job ?? null;
}

/** Adds the database's URL to the app as a secret variable; the app's next deploy applies it. */
export function attachDatabase(name: string, input: { app: string; envVar?: string }): Promise<unknown> {
  return api.post<unknown>(`${dbPath(name)}/attach`, input);
}

export function detachDatabase(name: string, app: string): Promise<unknown> {
  return api.post<unknown>(`${dbPath(name)}/detach`, { app });
}

/** The connection details (admin or owner); the server writes an audit row for each reveal. */
export async function revealCredentials(name: string): Promise<DatabaseCredentials> {
  const body = await api.post<DatabaseCredentials | { credentials: DatabaseCredentials }>(`${dbPath(name)}/credentials`);
  return "credentials" in body ? body.credentials : body;
}

/** A new password, applied to the database and then to the attached apps (blue-green redeploys). */
export async function rotatePassword(name: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${dbPath(name)}/rotate`)).job;
}

export async function listBackups(name: string, options?: RequestOptions): Promise<Backup[]> {
  return (await api.get<{ backups: Backup[] }>(`${dbPath(name)}/backups`, options)).backups ?? [];
}

/** Backs up now (then verifies the backup by restoring it into a scratch database). */
export async function backUpNow(name: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${dbPath(name)}/backups`)).job;
}

export type RestoreTarget = { target: "same" } | { target: "new"; name: string };

export async function restoreBackup(name: string, backupId: string, target: RestoreTarget): Promise<Job> {
  return (await api.post<{ job: Job }>(`${dbPath(name)}/backups/${encodeURIComponent(backupId)}/restore`, target)).job;
}

export interface ScheduleInput {
  /** A cron expression, or null for no scheduled backups. */
  cron: string | null;
  keep: number;
  keepDays: number;
  /** The destination's id; null keeps backups in the panel's own directory. */
  destination: string | null;
}

export function setSchedule(name: string, input: ScheduleInput): Promise<unknown> {
  return api.put<unknown>(`${dbPath(name)}/schedule`, input);
}

export async function listDestinations(options?: RequestOptions): Promise<BackupDestination[]> {
  return (await api.get<{ destinations: BackupDestination[] }>("/backup-destinations", options)).destinations ?? [];
}

export type DestinationInput =
  | { name: string; kind: "local"; path: string }
  | {
      name: string;
      kind: "s3";
      endpoint: string;
      bucket: string;
      prefix: string;
      region: string;
      accessKeyId: string;
      secretAccessKey: string;
    };

export async function createDestination(input: DestinationInput): Promise<BackupDestination> {
  return (await api.post<{ destination: BackupDestination }>("/backup-destinations", input)).destination;
}

export async function deleteDestination(id: string): Promise<void> {
  await api.delete<void>(`/backup-destinations/${encodeURIComponent(id)}`);
}

/** An app's release command and its last run. */
export function releaseCommandInfo(app: string, options?: RequestOptions): Promise<ReleaseCommandInfo> {
  return api.get<ReleaseCommandInfo>(`/apps/${encodeURIComponent(app)}/release-command`, options);
}

/** Runs the app's release command again, in its live release, as a job. */
export async function runReleaseCommand(app: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`/apps/${encodeURIComponent(app)}/release-command`)).job;
}

/** Every backup, of every database and of the panel's own, newest first. */
export async function listAllBackups(limit = 200, options?: RequestOptions): Promise<Backup[]> {
  return (await api.get<{ backups: Backup[] }>(`/backups?limit=${limit}`, options)).backups ?? [];
}
