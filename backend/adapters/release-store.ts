/**
 * An app's files on disk: build directories, releases (a finished build directory, renamed),
 * and env snapshots (0600, written atomically: a reader sees the old text or the new, never half).
 */
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { writeFileAtomic } from "./files.ts";

/** An empty build directory (whatever a previous attempt left is removed). */
export function freshBuildDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function ensureDir(dir: string, mode?: number): void {
  mkdirSync(dir, { recursive: true, ...(mode === undefined ? {} : { mode }) });
}

/** The build directory becomes the release directory (one rename, same file system). */
export function promoteBuild(buildDir: string, releaseDir: string): void {
  mkdirSync(dirname(releaseDir), { recursive: true });
  renameSync(buildDir, releaseDir);
}

export function writeEnvSnapshot(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, text, 0o600);
}

export function readEnvSnapshot(path: string): string {
  return readFileSync(path, "utf8");
}

/** A pruned release: its files and its env snapshot. */
export function removeRelease(dir: string, envFile: string): void {
  rmSync(dir, { recursive: true, force: true });
  rmSync(envFile, { force: true });
}

export function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

export function exists(path: string): boolean {
  return existsSync(path);
}

export function joinPath(...parts: string[]): string {
  return join(...parts);
}

/** Who apps and builds run as, when that is not the panel's own user. */
export interface FileOwner {
  name: string;
  uid: number;
  gid: number;
}

/** What the app user passes through in the data dir; every other entry is the panel's alone. */
const APP_FACING = new Set(["apps", "cache", "bin"]);

/**
 * The data dir as apps running as another user see it: they pass through it (0711) to their own
 * files and list nothing, and every other entry (the master key, the embedded database, the
 * proxy's files) loses its group and other permissions.
 */
export function confineDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o711);
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    if (APP_FACING.has(entry.name) || entry.isSymbolicLink()) continue;
    const path = join(dataDir, entry.name);
    const mode = lstatSync(path).mode & 0o7777;
    if (mode & 0o077) chmodSync(path, mode & ~0o077);
  }
  for (const name of ["apps", "cache"]) {
    mkdirSync(join(dataDir, name), { recursive: true });
    chmodSync(join(dataDir, name), 0o711);
  }
}

/**
 * Gives `dir` (created when missing) and everything in it to `owner`, and lets the owner reach
 * it: each directory between `base` and `dir` passes others through without listing (0711).
 * The tree is walked only when its top is not the owner's yet; links are changed, never followed.
 */
export function handToOwner(base: string, dir: string, owner: FileOwner): void {
  const rel = relative(base, dir);
  if (rel && !rel.startsWith("..") && !rel.startsWith(sep)) {
    let path = base;
    for (const part of rel.split(sep).slice(0, -1)) {
      path = join(path, part);
      mkdirSync(path, { recursive: true });
      if (statSync(path).uid === process.getuid?.()) chmodSync(path, 0o711);
    }
  }
  mkdirSync(dir, { recursive: true });
  if (statSync(dir).uid !== owner.uid) chownTree(dir, owner);
  assertReachable(dir, owner);
}

function chownTree(path: string, owner: FileOwner): void {
  lchownSync(path, owner.uid, owner.gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), owner);
}

/** Throws, naming the directory in the way, unless `owner` can pass through every directory above `dir`. */
export function assertReachable(dir: string, owner: FileOwner): void {
  let path = "/";
  for (const part of dir.split(sep).filter(Boolean)) {
    const stat = statSync(path);
    const bit = stat.uid === owner.uid ? 0o100 : stat.gid === owner.gid ? 0o010 : 0o001;
    if (!(stat.mode & bit)) {
      throw new Error(
        `The app user ${owner.name} cannot reach ${dir}: ${path} is closed to other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}). Keep the data dir where every user may pass through (chmod o+x ${path}, or set SWITCHYARD_DATA_DIR elsewhere).`,
      );
    }
    path = join(path, part);
  }
}
