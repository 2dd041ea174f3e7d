import { closeSync, fsyncSync, mkdirSync, openSync, readlinkSync, renameSync, rmSync, symlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

/** Writes a file so readers see either the old or the new text, never half: temp, fsync, rename. */
export function writeFileAtomic(path: string, text: string, mode = 0o644): void {
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Points `link` at `target` in one step (a new link renamed over the old one). */
export function replaceSymlink(link: string, target: string): void {
  const tmp = join(dirname(link), `.${process.pid}.${Date.now()}.link`);
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, link);
}

/**
 * `<dir>/bun`, a link to the running panel's own Bun (whatever its file name), replaced only when
 * it points elsewhere: builds and apps find `bun` on their PATH there, and the socket units run it,
 * so it outlives the panel version that wrote it.
 */
export function linkBun(dir: string): string {
  const link = join(dir, "bun");
  let current: string | null = null;
  try {
    current = readlinkSync(link);
  } catch {}
  if (current !== process.execPath) {
    mkdirSync(dir, { recursive: true });
    replaceSymlink(link, process.execPath);
  }
  return link;
}
