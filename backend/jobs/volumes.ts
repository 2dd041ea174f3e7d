/**
 * An app's persistent volumes: created before its release starts, reached from the release (a
 * symlink in local mode, a systemd bind mount in server mode), given to the app by env vars, and
 * measured for the API. Taking a path out of the settings keeps its data; only a purge deletes it.
 */

import { attachVolume, ensureVolumeDir, listVolumeDirs, purgeVolumeDir, volumeDirExists, volumeUsage } from "../adapters/volumes.ts";
import type { VolumeUsage } from "../contract/api.ts";
import { updateApp } from "../db/queries/apps.ts";
import type { App } from "../db/schema/index.ts";
import { volumeEnvKey, volumeName } from "../domain/volumes.ts";
import type { Services } from "../services.ts";
import { appPaths } from "./paths.ts";

export interface VolumeMount {
  path: string;
  name: string;
  /** Where the data lives. */
  dir: string;
  /** Where the release reaches it. */
  mountAt: string;
}

export function volumeMounts(services: Services, app: App, releaseDir: string): VolumeMount[] {
  const paths = appPaths(services.config.dataDir, app.name);
  return app.volumes.map(({ path }) => ({
    path,
    name: volumeName(path),
    dir: paths.volume(volumeName(path)),
    mountAt: `${releaseDir}/${path}`,
  }));
}

/**
 * Creates the app's volume directories and makes the release reach them; says in the job log what
 * became of files the repository had at a volume's path. Runs again at each start (a rollback to a
 * release made before a volume was added gets it too); a release already attached is left alone.
 */
export function attachVolumes(
  services: Services,
  app: App,
  releaseDir: string,
  log: (line: string, stream?: "stderr") => void,
): VolumeMount[] {
  const server = services.runtime.kind === "systemd";
  const mounts = volumeMounts(services, app, releaseDir);
  for (const m of mounts) {
    // Server mode: the panel's group (which the apps' user is in) writes the volume; setgid keeps
    // new files in that group. Local mode: the app's user alone (handed over when it is another).
    ensureVolumeDir(m.dir, server ? 0o2770 : 0o700, server ? 0o750 : 0o711);
    const said = attachVolume(releaseDir, m.path, m.dir, server ? "mountpoint" : "link", { groupWritable: server });
    if (said) log(`Volume ${said}.`);
  }
  return mounts;
}

/** The variables each slot and release command get: the volumes' parent and each volume's directory. */
export function volumeEnv(services: Services, app: App): Record<string, string> {
  if (app.volumes.length === 0) return {};
  const paths = appPaths(services.config.dataDir, app.name);
  return {
    SWITCHYARD_VOLUMES_DIR: paths.volumes,
    ...Object.fromEntries(app.volumes.map(({ path }) => [volumeEnvKey(path), paths.volume(volumeName(path))])),
  };
}

export type VolumeReport = VolumeUsage;

/** Every volume in the settings, and every directory left from one taken out of them, with its usage. */
export async function volumeReport(services: Services, app: App): Promise<VolumeReport[]> {
  const paths = appPaths(services.config.dataDir, app.name);
  const named = new Map(app.volumes.map(({ path }) => [volumeName(path), path]));
  const names = [...new Set([...named.keys(), ...listVolumeDirs(paths.volumes)])];
  const out: VolumeReport[] = [];
  for (const name of names) {
    const dir = paths.volume(name);
    const exists = volumeDirExists(dir);
    const usage = exists ? await volumeUsage(dir) : { bytes: 0, files: 0, truncated: false };
    out.push({ path: named.get(name) ?? null, name, dir, exists, ...usage });
  }
  return out;
}

export class VolumeNotFound extends Error {
  override name = "VolumeNotFound";
}

/**
 * Takes the volume out of the app's settings (the next start no longer attaches it) and, with
 * `purge`, deletes its data. Returns the app as saved.
 */
export async function removeVolume(services: Services, app: App, name: string, options: { purge: boolean }): Promise<App> {
  const dir = appPaths(services.config.dataDir, app.name).volume(name);
  const inSettings = app.volumes.some(({ path }) => volumeName(path) === name);
  if (!inSettings && !volumeDirExists(dir)) throw new VolumeNotFound(`App ${app.name} has no volume ${name}.`);
  let saved = app;
  if (inSettings) {
    saved = await updateApp(services.db, app.id, { volumes: app.volumes.filter(({ path }) => volumeName(path) !== name) });
    await services.events.publish({ type: "app.updated", appId: app.id, app: app.name });
  }
  if (options.purge) purgeVolumeDir(dir);
  return saved;
}
