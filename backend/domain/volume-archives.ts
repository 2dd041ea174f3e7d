/**
 * Pure decisions about volume archives: the fingerprint of what a volume (or an archive of it)
 * holds, how two fingerprints differ, and which entries may be extracted.
 */
import { posix } from "node:path";

export type ManifestEntry = { type: "file"; size: number; sha256: string } | { type: "dir" } | { type: "link"; target: string };

/** What a volume (or an archive of it) holds, by relative path. */
export interface Manifest {
  files: number;
  dirs: number;
  links: number;
  /** Bytes of file content. */
  bytes: number;
  /** sha256 over the sorted entries: path, type, and a file's size and content hash or a link's target. */
  digest: string;
}

export function manifestOf(entries: Map<string, ManifestEntry>): Manifest {
  const m = { files: 0, dirs: 0, links: 0, bytes: 0 };
  const hasher = new Bun.CryptoHasher("sha256");
  for (const path of [...entries.keys()].sort()) {
    const e = entries.get(path) as ManifestEntry;
    if (e.type === "file") {
      m.files++;
      m.bytes += e.size;
      hasher.update(`f ${JSON.stringify(path)} ${e.size} ${e.sha256}\n`);
    } else if (e.type === "dir") {
      m.dirs++;
      hasher.update(`d ${JSON.stringify(path)}\n`);
    } else {
      m.links++;
      hasher.update(`l ${JSON.stringify(path)} ${JSON.stringify(e.target)}\n`);
    }
  }
  return { ...m, digest: hasher.digest("hex") };
}

/** How two fingerprints differ, as sentences (empty: they match). */
export function manifestDifferences(expected: Manifest, actual: Manifest): string[] {
  const out: string[] = [];
  if (actual.files !== expected.files) out.push(`${actual.files} files, expected ${expected.files}`);
  if (actual.dirs !== expected.dirs) out.push(`${actual.dirs} directories, expected ${expected.dirs}`);
  if (actual.links !== expected.links) out.push(`${actual.links} links, expected ${expected.links}`);
  if (actual.bytes !== expected.bytes) out.push(`${actual.bytes} bytes, expected ${expected.bytes}`);
  if (out.length === 0 && actual.digest !== expected.digest) out.push("the same counts, but different paths or contents");
  return out;
}

/** Why a link target, seen from `path` (relative to the volume), leaves the volume; null when it stays inside. */
export function linkLeaves(path: string, target: string): string | null {
  if (target.startsWith("/")) return `an absolute target (${target})`;
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (resolved === ".." || resolved.startsWith("../")) return `a target outside the volume (${target})`;
  return null;
}

/** Why an entry's path cannot be extracted safely; null when it can. */
export function entryPathProblem(path: string): string | null {
  if (path === "") return "an empty name";
  if (path.startsWith("/")) return "an absolute path";
  if (path.split("/").some((s) => s === "..")) return "a .. segment";
  if (path.includes("\0")) return "a NUL in its name";
  return null;
}
