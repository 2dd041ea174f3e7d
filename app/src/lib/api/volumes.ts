/** An app's persistent volumes: their usage, and taking one out (keeping or purging its data). */
import { api, type RequestOptions } from "./client.ts";
import type { VolumeUsage } from "./types.ts";

const volumesPath = (app: string) => `/apps/${encodeURIComponent(app)}/volumes`;

export async function listVolumes(app: string, options?: RequestOptions): Promise<VolumeUsage[]> {
  return (await api.get<{ volumes: VolumeUsage[] }>(volumesPath(app), options)).volumes ?? [];
}

/** Out of the settings; with `purge` its data is deleted for good. */
export async function removeVolume(app: string, name: string, purge: boolean): Promise<VolumeUsage[]> {
  const query = purge ? "?purge=true" : "";
  return (await api.delete<{ volumes: VolumeUsage[] }>(`${volumesPath(app)}/${encodeURIComponent(name)}${query}`)).volumes ?? [];
}
