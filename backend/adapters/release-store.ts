/**
 * An app's files on disk: build directories, releases (a finished build directory, renamed),
 * and env snapshots (0600, written atomically: a reader sees the old text or the new, never half).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
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
