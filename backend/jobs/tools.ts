import { join } from "node:path";
import { linkBun } from "../adapters/files.ts";

/** The PATH of builds and apps: `bun` (the panel's own) first, so no global install is needed. */
export function toolsPath(dataDir: string): string {
  const dir = join(dataDir, "bin");
  linkBun(dir);
  return `${dir}:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`;
}
