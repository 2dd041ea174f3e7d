import { join } from "node:path";
import type { Color } from "../adapters/runtime/types.ts";

/** Where an app's files live under the data dir. */
export function appPaths(dataDir: string, app: string) {
  const root = join(dataDir, "apps", app);
  return {
    root,
    builds: join(root, "builds"),
    build: (jobId: string) => join(root, "builds", jobId),
    releases: join(root, "releases"),
    release: (releaseId: string) => join(root, "releases", releaseId),
    envDir: join(root, "env"),
    /** The env a release ran with (its snapshot), kept for rollbacks. */
    releaseEnv: (releaseId: string) => join(root, "env", `${releaseId}.env`),
    /** The snapshot plus the slot's PORT: what the slot's process is given. */
    slotEnv: (color: Color) => join(root, "env", `slot-${color}.env`),
    /** Persistent volumes, outside every release and shared by both slots (domain/volumes.ts names them). */
    volumes: join(root, "volumes"),
    volume: (name: string) => join(root, "volumes", name),
    bunCache: join(dataDir, "cache", "bun"),
    npmCache: join(dataDir, "cache", "npm"),
  };
}

export type AppPaths = ReturnType<typeof appPaths>;
