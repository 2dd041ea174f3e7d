import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync } from "node:fs";
import { isAbsolute, join, normalize, sep } from "node:path";
import type { ProjectFiles } from "../domain/detect.ts";

/**
 * A checkout on disk as project detection reads it. Nothing is read through a symbolic link: the
 * directory itself, every component of a path under it and the file must be real, or the file is
 * treated as absent (a repository's `.nvmrc -> /etc/passwd` must not end up in a job log). Paths
 * that are absolute or climb out with `..` are absent too.
 */
export function projectFiles(dir: string): ProjectFiles {
  return {
    exists: (path) => kindOf(dir, path) !== null,
    read: (path) => (kindOf(dir, path) === "file" ? readNoFollow(join(dir, path)) : null),
  };
}

/** "file" or "dir" when every step from `dir` to `path` (dir included) is a real directory or file, else null. */
function kindOf(dir: string, path: string): "file" | "dir" | null {
  if (isAbsolute(path)) return null;
  const rel = normalize(path);
  if (rel === ".." || rel.startsWith(`..${sep}`)) return null;
  const parts = rel.split(sep).filter((p) => p !== "" && p !== ".");
  let at = dir;
  let kind: "file" | "dir" | null = null;
  try {
    for (const step of [null, ...parts]) {
      if (step !== null) {
        if (kind !== "dir") return null;
        at = join(at, step);
      }
      const st = lstatSync(at);
      if (st.isSymbolicLink()) return null;
      kind = st.isDirectory() ? "dir" : st.isFile() ? "file" : null;
      if (kind === null) return null;
    }
  } catch {
    return null;
  }
  return kind;
}

/** The file's text, opened without following a last-moment link and only when it is a regular file. */
function readNoFollow(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    if (!fstatSync(fd).isFile()) return null;
    return readFileSync(fd, "utf8");
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
