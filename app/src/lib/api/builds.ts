/** How many builds run at once and the memory each may use (`GET/PUT /settings/builds`). */
import { api, type RequestOptions } from "./client.ts";
import type { BuildSettings } from "./types.ts";

export async function getBuildSettings(options?: RequestOptions): Promise<BuildSettings> {
  return (await api.get<{ builds: BuildSettings }>("/settings/builds", options)).builds;
}

export async function setBuildSettings(change: Partial<BuildSettings>): Promise<BuildSettings> {
  return (await api.put<{ builds: BuildSettings }>("/settings/builds", change)).builds;
}
