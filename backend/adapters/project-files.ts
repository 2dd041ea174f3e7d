import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ProjectFiles } from "../domain/detect.ts";

/** A checkout on disk as project detection reads it. */
export function projectFiles(dir: string): ProjectFiles {
  return {
    exists: (path) => existsSync(join(dir, path)),
    read: (path) => (existsSync(join(dir, path)) ? readFileSync(join(dir, path), "utf8") : null),
  };
}
