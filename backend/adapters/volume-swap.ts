/**
 * Restoring a volume on disk: the backup is extracted into a staging directory beside the volumes
 * (the same file system), given the volume's owner and mode, and swapped in by rename, so the
 * volume is always the old contents or the new, never a mix. A staging directory records which
 * volume it is for, so a restore cut short by a crash can be finished by the next job.
 */
import { existsSync, lstatSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chownTree, openTreeToGroup } from "./volume-archive.ts";

/** The file in a staging directory naming the volume it is for. */
const VOLUME_MARK = "volume";

/**
 * What a staging directory holds: the archive read back from its destination, the tree extracted
 * from it, and the volume's old contents once the swap has set them aside. Fixed names, so a job
 * after a crash knows what it is looking at.
 */
export function stagingLayout(staging: string): { archive: string; tree: string; aside: string } {
  return { archive: join(staging, "archive.tar.gz"), tree: join(staging, "tree"), aside: join(staging, "previous") };
}

/**
 * Deletes a file or a directory and everything below it, if there: scratch and staging
 * directories are thrown away whether or not the work that filled them finished, and a spooled
 * archive once it has been extracted (it is as large as the backup).
 */
export async function removeIfPresent(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/**
 * Notes in a staging directory which volume it is for: after a crash mid-swap, that is how the
 * old contents set aside there find their way back.
 */
export async function markStagingFor(staging: string, volume: string): Promise<void> {
  await writeFile(join(staging, VOLUME_MARK), volume);
}

/**
 * Gives a restored tree the owner and mode of the volume it replaces, so the app reads and writes
 * it as it did before (owner: only when running as root, who alone may change it); a volume that
 * did not exist yet goes to `newOwner` (the app user, local mode as root). In server mode the
 * apps' group may change everything in it, as it could before; a volume that did not exist yet
 * gets the mode one is made with (setgid and group-writable in server mode, private otherwise).
 */
export async function adoptVolumeOwnership(
  tree: string,
  volumeDir: string,
  server: boolean,
  newOwner: { uid: number; gid: number } | null = null,
): Promise<void> {
  const previous = existsSync(volumeDir) ? lstatSync(volumeDir) : null;
  const owner = previous ?? newOwner;
  if (owner && process.getuid?.() === 0) await chownTree(tree, owner.uid, owner.gid);
  if (server) await openTreeToGroup(tree);
  await chmod(tree, previous ? previous.mode & 0o7777 : server ? 0o2770 : 0o700);
}

/**
 * Puts `tree` in the place of `volumeDir`: the volume (if there is one) is renamed to `aside` and
 * the tree renamed in, two renames on one file system, so the volume is the old contents or the
 * new, never a mix. If the second rename fails the volume is put back before the error is thrown.
 * Answers whether old contents were moved aside: the caller deletes them once the swap is told.
 */
export async function swapDirectoryIn(volumesDir: string, volumeDir: string, tree: string, aside: string): Promise<boolean> {
  await mkdir(volumesDir, { recursive: true });
  const had = existsSync(volumeDir);
  if (had) await rename(volumeDir, aside);
  try {
    await rename(tree, volumeDir);
  } catch (error) {
    if (had) await rename(aside, volumeDir);
    throw error;
  }
  return had;
}

/**
 * Finishes what restores interrupted by a crash left in `root` (every directory there is a
 * leftover: the caller runs one restore of an app at a time). A staging directory that still holds
 * both the extracted tree and the old contents set aside was cut between the swap's two renames:
 * the old contents go back in the volume's place (`volumeDirOf` names it), replacing the empty
 * directory a deploy may have made meanwhile, and `onPutBack` is told. Every leftover is then
 * deleted: after the swap only the old contents remain, which the restore would have deleted.
 */
export async function recoverInterruptedSwaps(
  root: string,
  volumeDirOf: (volume: string) => string,
  onPutBack: (volume: string) => void,
): Promise<void> {
  let leftovers: string[];
  try {
    leftovers = await readdir(root);
  } catch {
    return;
  }
  for (const name of leftovers) {
    const staging = join(root, name);
    const volume = await readFile(join(staging, VOLUME_MARK), "utf8").catch(() => null);
    const { aside, tree } = stagingLayout(staging);
    if (volume && existsSync(aside) && existsSync(tree)) {
      const dir = volumeDirOf(volume);
      // rmdir, not rm: only an empty directory (a deploy's) is replaced, never data.
      if (existsSync(dir)) await rmdir(dir);
      await rename(aside, dir);
      onPutBack(volume);
    }
    await rm(staging, { recursive: true, force: true });
  }
}
