/**
 * Volumes on disk: their directories under `apps/<app>/volumes/`, how a release reaches them (a
 * symlink, or an empty directory systemd bind-mounts the volume onto), and how much they hold.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { dirname, join } from "node:path";

/** A volume's directory, created when missing with `mode` (chmod'ed: the umask does not narrow it); an existing one is left as it is. */
export function ensureVolumeDir(dir: string, mode: number, parentMode: number): void {
  const parent = dirname(dir);
  if (!statOrNull(parent)) {
    mkdirSync(parent, { recursive: true });
    chmodSync(parent, parentMode);
  }
  if (!statOrNull(dir)) {
    mkdirSync(dir);
    chmodSync(dir, mode);
  }
}

/** `link`: the path becomes a symlink to the volume. `mountpoint`: an empty directory systemd binds the volume onto. */
export type AttachHow = "link" | "mountpoint";

export class VolumeAttachError extends Error {
  override name = "VolumeAttachError";
}

/**
 * Makes `<releaseDir>/<path>` reach `volumeDir`. What the repository itself had at that path seeds
 * an empty volume (moved in once); when the volume already holds data the repository's copy is
 * set aside. Returns what happened, in a sentence, or null when the release already reached the
 * volume. Directories above the path must be real ones inside the release: a symlink there (from
 * the repository) could point anywhere, and is refused.
 */
export function attachVolume(
  releaseDir: string,
  path: string,
  volumeDir: string,
  how: AttachHow,
  options: { groupWritable?: boolean } = {},
): string | null {
  const target = join(releaseDir, path);
  // Each directory above the path, made one at a time, so none is followed out of the release.
  let above = releaseDir;
  for (const part of path.split("/").slice(0, -1)) {
    above = join(above, part);
    const stat = statOrNull(above);
    if (!stat) mkdirSync(above);
    else if (stat.isSymbolicLink()) {
      throw new VolumeAttachError(`${path}: ${part} in the release is a link; a volume must sit below real directories of the app.`);
    } else if (!stat.isDirectory()) {
      throw new VolumeAttachError(`${path}: ${part} in the release is a file, not a directory.`);
    }
  }
  const existing = statOrNull(target);
  if (how === "link" && existing?.isSymbolicLink() && readlinkSync(target) === volumeDir) return null;
  if (how === "mountpoint" && existing?.isDirectory() && readdirSync(target).length === 0) return null;

  let said: string;
  if (!existing) {
    said = `${path} → the volume`;
  } else if (existing.isDirectory() && readdirSync(volumeDir).length === 0) {
    const entries = readdirSync(target);
    for (const name of entries) renameSync(join(target, name), join(volumeDir, name));
    if (options.groupWritable) openToGroup(volumeDir);
    rmSync(target, { recursive: true, force: true });
    said = entries.length
      ? `${path}: the repository's ${entries.length} entr${entries.length === 1 ? "y" : "ies"} seeded the empty volume, which replaces it from now on`
      : `${path} → the volume (the repository's empty directory was replaced)`;
  } else {
    const aside = `${target}.repository`;
    rmSync(aside, { recursive: true, force: true });
    renameSync(target, aside);
    said = existing.isDirectory()
      ? `${path}: the volume already holds data, so the repository's own ${path}/ is not used (kept in the release as ${path}.repository)`
      : `${path}: the repository has a ${existing.isSymbolicLink() ? "link" : "file"} there; the volume replaces it (kept in the release as ${path}.repository)`;
  }
  if (how === "link") symlinkSync(volumeDir, target, "dir");
  else mkdirSync(target);
  return said;
}

function statOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/** Seeded files were written by the build's user: the apps' group (server mode) may change them too. */
function openToGroup(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  chmodSync(path, (stat.mode & 0o7777) | (stat.isDirectory() ? 0o2070 : 0o060));
  if (stat.isDirectory()) for (const name of readdirSync(path)) openToGroup(join(path, name));
}

export interface VolumeUsage {
  bytes: number;
  files: number;
  /** The walk stopped at its bound: the figures are at least this much. */
  truncated: boolean;
}

/**
 * What a volume holds, like `du`: bytes allocated on disk and entries below it, links not
 * followed. Bounded by entries and time, so a huge volume answers quickly with `truncated`.
 */
export async function volumeUsage(dir: string, bounds: { maxEntries?: number; maxMs?: number } = {}): Promise<VolumeUsage> {
  const maxEntries = bounds.maxEntries ?? 200_000;
  const deadline = Date.now() + (bounds.maxMs ?? 5_000);
  const usage: VolumeUsage = { bytes: 0, files: 0, truncated: false };
  const pending = [dir];
  let seen = 0;
  while (pending.length > 0) {
    const current = pending.pop() as string;
    let names: string[];
    try {
      names = await readdir(current);
    } catch {
      continue;
    }
    for (const name of names) {
      if (++seen > maxEntries || Date.now() > deadline) {
        usage.truncated = true;
        return usage;
      }
      const path = join(current, name);
      const stat = await lstat(path).catch(() => null);
      if (!stat) continue;
      usage.bytes += stat.blocks * 512;
      if (stat.isDirectory()) pending.push(path);
      else usage.files++;
    }
  }
  return usage;
}

/** The volume directories on disk (those still in the settings and those taken out of them). */
export function listVolumeDirs(volumesDir: string): string[] {
  try {
    return readdirSync(volumesDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

export function volumeDirExists(dir: string): boolean {
  return statOrNull(dir)?.isDirectory() === true;
}

/** Deletes a volume's data for good. */
export function purgeVolumeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
