/** An app's persistent volumes: their usage, taking one out (keeping or purging its data), backups and restores. */
import { api, type RequestOptions } from "./client.ts";
import type { Backup, Job, VolumeBackupSchedule, VolumeUsage } from "./types.ts";

const volumesPath = (app: string) => `/apps/${encodeURIComponent(app)}/volumes`;

export async function listVolumes(app: string, options?: RequestOptions): Promise<VolumeUsage[]> {
  return (await api.get<{ volumes: VolumeUsage[] }>(volumesPath(app), options)).volumes ?? [];
}

/** Out of the settings; with `purge` its data is deleted for good. */
export async function removeVolume(app: string, name: string, purge: boolean): Promise<VolumeUsage[]> {
  const query = purge ? "?purge=true" : "";
  return (await api.delete<{ volumes: VolumeUsage[] }>(`${volumesPath(app)}/${encodeURIComponent(name)}${query}`)).volumes ?? [];
}

/** A volume's backups, newest first (each counts once verified by an extraction). */
export async function listVolumeBackups(app: string, name: string, options?: RequestOptions): Promise<Backup[]> {
  return (await api.get<{ backups: Backup[] }>(`${volumesPath(app)}/${encodeURIComponent(name)}/backups`, options)).backups ?? [];
}

/** Backs the volume up now (to the app's volume backup destination, else the data dir). */
export async function backUpVolume(app: string, name: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${volumesPath(app)}/${encodeURIComponent(name)}/backups`, {})).job;
}

/** Restores a verified backup into the volume (after a safety backup), then restarts the app blue-green. */
export async function restoreVolume(app: string, name: string, backupId: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${volumesPath(app)}/${encodeURIComponent(name)}/restore`, { backupId })).job;
}

export interface VolumeScheduleInput {
  /** A cron expression (UTC), or null for backups on demand only. */
  cron: string | null;
  keep: number;
  keepDays: number;
  /** null: the panel's own backup directory. */
  destinationId: string | null;
}

/** The app's volume backup schedule and retention (every volume of the app). */
export async function getVolumeSchedule(app: string, options?: RequestOptions): Promise<VolumeBackupSchedule> {
  return (await api.get<{ schedule: VolumeBackupSchedule }>(`/apps/${encodeURIComponent(app)}/volume-backups/schedule`, options)).schedule;
}

export async function setVolumeSchedule(app: string, input: VolumeScheduleInput): Promise<VolumeBackupSchedule> {
  return (await api.put<{ schedule: VolumeBackupSchedule }>(`/apps/${encodeURIComponent(app)}/volume-backups/schedule`, input)).schedule;
}
