import { mkdirSync, readlinkSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";

/**
 * A bin dir holding `bun` (the panel's own binary, whatever its file name) first on the PATH of
 * builds and apps, so `bun install` and `bun run` work without a global install.
 */
export function toolsPath(dataDir: string): string {
  const dir = join(dataDir, "bin");
  const link = join(dir, "bun");
  let current: string | null = null;
  try {
    current = readlinkSync(link);
  } catch {}
  if (current !== process.execPath) {
    mkdirSync(dir, { recursive: true });
    if (current !== null) unlinkSync(link);
    symlinkSync(process.execPath, link);
  }
  return `${dir}:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`;
}
