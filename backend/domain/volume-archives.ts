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

/** How many links one target may pass through before it is taken for a loop (as the kernel's ELOOP). */
const MAX_LINK_HOPS = 40;

/**
 * Why a link target, seen from `path` (relative to the volume), leaves the volume; null when it
 * stays inside. `links` (relative path → target) are the volume's other links: a target is
 * followed through them as the kernel would, so `x → sub/..` with `sub → .` leaves.
 */
export function linkLeaves(path: string, target: string, links: ReadonlyMap<string, string> = new Map()): string | null {
  if (target.startsWith("/")) return `an absolute target (${target})`;
  const outside = `a target outside the volume (${target})`;
  const resolved: string[] = [];
  const pending = [...posix.dirname(path).split("/"), ...target.split("/")];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (resolved.length === 0) return outside;
      resolved.pop();
      continue;
    }
    resolved.push(part);
    const through = links.get(resolved.join("/"));
    if (through === undefined) continue;
    if (++hops > MAX_LINK_HOPS) return `a target through too many links (${target})`;
    if (through.startsWith("/")) return outside;
    resolved.pop();
    pending.unshift(...through.split("/"));
  }
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
