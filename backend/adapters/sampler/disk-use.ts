import { lstat, readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Bytes on disk under each path (allocated blocks, as du counts them), a file reached twice
 * through hard links counted once. Missing paths count 0. Asynchronous, a directory at a time,
 * so a large tree does not hold up the panel.
 */
export async function diskUsage(paths: string[], seen = new Set<string>()): Promise<number> {
  let total = 0;
  const stack = [...paths];
  while (stack.length > 0) {
    const path = stack.pop() as string;
    const info = await lstat(path).catch(() => null);
    if (!info) continue;
    const key = `${info.dev}:${info.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    total += info.blocks * 512;
    if (info.isDirectory()) {
      const names = await readdir(path).catch(() => [] as string[]);
      for (const name of names) stack.push(join(path, name));
    }
  }
  return total;
}

/** A log file and its rotated siblings (`x.log.1`, `x.log.2.gz`…). */
export async function logFamily(file: string): Promise<string[]> {
  const dir = dirname(file);
  const name = basename(file);
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => n === name || (n.startsWith(`${name}.`) && /^\.\d+(\.gz)?$/.test(n.slice(name.length))))
    .map((n) => join(dir, n));
}

/** Sizes (bytes) and inodes of files, null for those that are not there. */
export async function fileSizes(paths: string[]): Promise<Map<string, { size: number; ino: number } | null>> {
  const out = new Map<string, { size: number; ino: number } | null>();
  for (const path of paths) {
    const info = await lstat(path).catch(() => null);
    out.set(path, info?.isFile() ? { size: info.size, ino: info.ino } : null);
  }
  return out;
}
