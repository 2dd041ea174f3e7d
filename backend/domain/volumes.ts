/**
 * Persistent volumes: directories an app declares (paths relative to its release, like `data` or
 * `storage/uploads`) that live outside the releases, in `$DATA_DIR/apps/<app>/volumes/<name>/`,
 * and are shared by both slots and every release. Pure: the names, the env vars and the checks.
 */
import { z } from "zod";

export const MAX_VOLUMES = 16;
const MAX_PATH = 200;
/** One path segment: letters, digits, dots, dashes and underscores (not `.` or `..`). */
const SEGMENT = /^[A-Za-z0-9._-]{1,100}$/;

export interface Volume {
  path: string;
}

/** The checked form of a path: no leading `./`, no trailing or doubled slashes. */
export function normalizeVolumePath(raw: string): string {
  return raw
    .trim()
    .replace(/^(\.\/)+/, "")
    .replace(/\/+$/, "")
    .replace(/\/{2,}/g, "/");
}

/** Why a (normalized) volume path cannot be used, or null. */
export function volumePathProblem(path: string): string | null {
  if (path === "" || path === ".") return "must name a directory of the app, like data or storage/uploads";
  if (path.startsWith("/")) {
    return "must be relative to the app, like data or storage/uploads (absolute mount points are not supported)";
  }
  if (path.length > MAX_PATH) return `must be at most ${MAX_PATH} characters`;
  for (const segment of path.split("/")) {
    if (segment === "." || segment === "..") return "must not contain . or .. segments";
    if (!SEGMENT.test(segment)) return "may hold only letters, digits, dots, dashes, underscores and slashes between them";
  }
  if (path === ".git" || path.startsWith(".git/")) return "must not be inside .git";
  if (path === "node_modules" || path.startsWith("node_modules/")) return "must not be inside node_modules (the build installs it)";
  return null;
}

/** The volume's directory name under `volumes/`: the path with its slashes as dashes (stable across deploys). */
export function volumeName(path: string): string {
  return path.replaceAll("/", "-");
}

/** The env var that holds the volume's absolute directory: `data` → SWITCHYARD_VOLUME_DATA. */
export function volumeEnvKey(path: string): string {
  return `SWITCHYARD_VOLUME_${path.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

const inside = (outer: string, inner: string) => inner.startsWith(`${outer}/`);

/** The list an app may declare: each path valid, none equal to, nested in, or named like another. */
export const volumeListSchema = z
  .array(
    z.object(
      { path: z.string({ error: "path is required: a directory of the app, like data" }).transform(normalizeVolumePath) },
      { error: 'each volume must be an object like {path: "data"}' },
    ),
    { error: 'must be a list like [{path: "data"}]' },
  )
  .max(MAX_VOLUMES, `at most ${MAX_VOLUMES} volumes`)
  .superRefine((list, ctx) => {
    list.forEach(({ path }, i) => {
      const problem = volumePathProblem(path);
      if (problem) {
        ctx.addIssue({ code: "custom", path: [i, "path"], message: `${JSON.stringify(path)} ${problem}` });
        return;
      }
      for (let j = 0; j < i; j++) {
        const other = list[j]?.path ?? "";
        if (volumePathProblem(other)) continue;
        const why =
          other === path
            ? `${path} is listed twice`
            : inside(other, path) || inside(path, other)
              ? `${path} and ${other} are nested; a volume cannot hold another`
              : volumeEnvKey(other) === volumeEnvKey(path)
                ? `${path} and ${other} would share the variable ${volumeEnvKey(path)}; rename one`
                : volumeName(other) === volumeName(path)
                  ? `${path} and ${other} would share the directory volumes/${volumeName(path)}; rename one`
                  : null;
        if (why) {
          ctx.addIssue({ code: "custom", path: [i, "path"], message: why });
          return;
        }
      }
    });
  })
  .transform((list) => list.map(({ path }) => ({ path })));

/** A volume's directory name as it arrives in a URL (`DELETE /apps/:app/volumes/:name`). */
export const VOLUME_NAME_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;

export function isVolumeName(name: string): boolean {
  return VOLUME_NAME_PATTERN.test(name) && name !== "." && name !== "..";
}
