/** Small synchronous reads and writes of the panel's own files, for code outside the adapters. */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";

/** The file's text, or null when there is no such file. */
export function readTextIfExists(path: string): string | null {
  if (!existsSync(path)) return null;
  return readFileSync(path, "utf8");
}

export function readText(path: string): string {
  return readFileSync(path, "utf8");
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function ensureDir(path: string, mode?: number): void {
  mkdirSync(path, { recursive: true, ...(mode === undefined ? {} : { mode }) });
}

/** Makes a file private to the panel's user (0600) when others can read it. */
export function restrictToOwner(path: string): void {
  if (statSync(path).mode & 0o077) chmodSync(path, 0o600);
}

/** Creates a file that must not exist yet (fails if it does). */
export function writeNewFile(path: string, text: string, mode: number): void {
  writeFileSync(path, text, { mode, flag: "wx" });
}

export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** `git rev-parse --short=12 HEAD` in `dir`, or null when it is not a git checkout (or git is missing). */
export function gitHeadRevision(dir: string): string | null {
  const result = spawnSync("git", ["-C", dir, "rev-parse", "--short=12", "HEAD"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  if (result.status !== 0) return null;
  return result.stdout.trim() || null;
}
