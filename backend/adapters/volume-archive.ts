/**
 * Volume archives: a volume directory as a gzip-compressed tarball made by GNU tar, read back by
 * a streaming tar reader that checks every entry and fingerprints what the archive holds, and a
 * walk of a directory that fingerprints it the same way. A backup is proven by the two matching.
 */
import { createReadStream } from "node:fs";
import { chmod, lchown, lstat, mkdir, readdir, readlink, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { tarCreateArgv, tarExtractArgv, tarListEntry } from "../commands/tar.ts";
import { entryPathProblem, linkLeaves, type Manifest, type ManifestEntry, manifestOf } from "../domain/volume-archives.ts";
import { HashingCounter, type Written, writeHashed } from "./backups/destinations.ts";

export type { Manifest, ManifestEntry } from "../domain/volume-archives.ts";
export { manifestDifferences } from "../domain/volume-archives.ts";

/** An archive whose entries would write outside the directory it is extracted into, or are not plain files, directories or links. */
export class ArchiveRefused extends Error {
  override name = "ArchiveRefused";
  constructor(readonly problems: string[]) {
    super(`The archive is refused: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ""}.`);
  }
}

const BLOCK = 512;
const MAX_META = 1024 * 1024;

function cString(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end === -1 ? field : field.subarray(0, end));
}

function numeric(block: Uint8Array, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  // GNU base-256: the high bit of the first byte set, the rest big-endian.
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const text = cString(block, start, length).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] ?? 0);
  return sum === numeric(block, 148, 8);
}

function paxRecords(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const decoder = new TextDecoder();
  let i = 0;
  // Each record: "<length in bytes> <key>=<value>\n".
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const length = Number.parseInt(decoder.decode(data.subarray(i, space)), 10);
    if (!Number.isFinite(length) || length <= space - i || i + length > data.length) break;
    const body = decoder.decode(data.subarray(space + 1, i + length - 1));
    const eq = body.indexOf("=");
    if (eq > 0) out[body.slice(0, eq)] = body.slice(eq + 1);
    i += length;
  }
  return out;
}

/**
 * A streaming tar reader: fed the archive's bytes in any chunks, it checks each entry and hashes
 * each file's content, without holding more than a header in memory.
 */
export class TarReader {
  readonly entries = new Map<string, ManifestEntry>();
  readonly problems: string[] = [];
  private readonly header = new Uint8Array(BLOCK);
  private filled = 0;
  private bodyLeft = 0;
  private skip = 0;
  private zeroBlocks = 0;
  private current:
    | { kind: "file"; path: string; size: number; hasher: HashingCounter }
    | { kind: "meta"; type: string; data: Uint8Array[]; size: number }
    | null = null;
  private pax: Record<string, string> = {};
  private longName: string | null = null;
  private longLink: string | null = null;
  private ended = false;

  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - off);
        this.body(chunk.subarray(off, off + n));
        this.bodyLeft -= n;
        off += n;
        if (this.bodyLeft === 0) this.endBody();
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      if (this.ended) return;
      const n = Math.min(BLOCK - this.filled, chunk.length - off);
      this.header.set(chunk.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === BLOCK) {
        this.filled = 0;
        this.onHeader(this.header);
      }
    }
  }

  /** The whole archive was read: it must have ended properly. Each link is checked again, through all the others. */
  end(): void {
    if (this.bodyLeft > 0 || this.filled > 0 || (!this.ended && this.zeroBlocks === 0)) {
      throw new Error("The archive is truncated: it ends in the middle of an entry.");
    }
    const links = linkTargets(this.entries);
    for (const [path, target] of links) {
      const leaves = linkLeaves(path, target, links);
      if (leaves) this.problems.push(`${JSON.stringify(path)}: a link with ${leaves}`);
    }
  }

  private onHeader(block: Uint8Array): void {
    if (block.every((b) => b === 0)) {
      if (++this.zeroBlocks >= 2) this.ended = true;
      return;
    }
    this.zeroBlocks = 0;
    if (!checksumOk(block)) throw new Error("This is not a tar archive (a header's checksum does not match).");
    const type = String.fromCharCode(block[156] ?? 0);
    const headerSize = numeric(block, 124, 12);
    if (type === "x" || type === "g" || type === "L" || type === "K") {
      if (headerSize > MAX_META) throw new Error("The archive has an extended header larger than 1 MiB.");
      this.startBody(headerSize, { kind: "meta", type, data: [], size: 0 });
      return;
    }
    const prefix = cString(block, 345, 155);
    const name = cString(block, 0, 100);
    const rawPath = this.pax.path ?? this.longName ?? (prefix ? `${prefix}/${name}` : name);
    const linkTarget = this.pax.linkpath ?? this.longLink ?? cString(block, 157, 100);
    const size = this.pax.size !== undefined ? Number(this.pax.size) : headerSize;
    this.pax = {};
    this.longName = null;
    this.longLink = null;
    const path = normalizeEntry(rawPath);
    const problem = path === null ? null : entryPathProblem(path);
    const refuse = (why: string) => this.problems.push(`${JSON.stringify(rawPath)}: ${why}`);
    if (problem) refuse(`${problem}`);
    else if (path !== null) {
      const through = linkAbove(path, this.entries);
      if (through) refuse(`it would be written through the link ${through}`);
    }
    const usable = path !== null && !problem;
    if (type === "0" || type === "\0" || type === "7") {
      this.startBody(size, { kind: "file", path: usable ? path : "", size, hasher: new HashingCounter() });
      return;
    }
    // Any other entry has no content of its own (its size is skipped if given).
    this.startBody(0, null);
    this.skip = padded(type === "5" || type === "2" || type === "1" ? 0 : size);
    if (!usable || path === null) return;
    if (type === "5") this.entries.set(path, { type: "dir" });
    else if (type === "2") {
      const leaves = linkLeaves(path, linkTarget);
      if (leaves) refuse(`a link with ${leaves}`);
      else this.entries.set(path, { type: "link", target: linkTarget });
    } else if (type === "1") {
      const target = normalizeEntry(linkTarget);
      const seen = target === null ? undefined : this.entries.get(target);
      if (target === null || entryPathProblem(target) || seen?.type !== "file")
        refuse(`a hard link to ${JSON.stringify(linkTarget)}, not an earlier file of the archive`);
      else this.entries.set(path, seen);
    } else {
      refuse(`type ${JSON.stringify(type)} (only files, directories and links are restored)`);
    }
  }

  private startBody(size: number, current: TarReader["current"]): void {
    this.current = current;
    this.bodyLeft = size;
    this.skip = padded(size) - size;
    if (size === 0) this.endBody();
  }

  private body(bytes: Uint8Array): void {
    const c = this.current;
    if (!c) return;
    if (c.kind === "file") c.hasher.add(bytes);
    else {
      c.data.push(bytes.slice());
      c.size += bytes.length;
    }
  }

  private endBody(): void {
    const c = this.current;
    this.current = null;
    if (!c) return;
    if (c.kind === "file") {
      if (c.path !== "") this.entries.set(c.path, { type: "file", size: c.size, sha256: c.hasher.digest() });
      return;
    }
    const data = new Uint8Array(c.size);
    let at = 0;
    for (const part of c.data) {
      data.set(part, at);
      at += part.length;
    }
    if (c.type === "x") this.pax = paxRecords(data);
    else if (c.type === "L") this.longName = cString(data, 0, data.length);
    else if (c.type === "K") this.longLink = cString(data, 0, data.length);
  }
}

function linkTargets(entries: Map<string, ManifestEntry>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, e] of entries) if (e.type === "link") out.set(path, e.target);
  return out;
}

const padded = (size: number) => Math.ceil(size / BLOCK) * BLOCK;

/** `./a/b/` → `a/b`; the archive's root (`.` or `./`) → null. */
function normalizeEntry(raw: string): string | null {
  let path = raw;
  while (path.startsWith("./")) path = path.slice(2);
  path = path.replace(/\/+$/, "");
  if (path === "" || path === ".") return raw.startsWith("/") ? "/" : null;
  return path;
}

/** The first directory above `path` that is a link in the archive, if any. */
function linkAbove(path: string, entries: Map<string, ManifestEntry>): string | null {
  const parts = path.split("/");
  for (let i = 1; i < parts.length; i++) {
    const above = parts.slice(0, i).join("/");
    if (entries.get(above)?.type === "link") return above;
  }
  return null;
}

export interface SourceListing {
  /** Relative paths of what is archived, parents before children. */
  entries: string[];
  /** What is left out, and why. */
  skipped: Array<{ path: string; why: string }>;
}

/** A user (and group) to run tar and the listing as: the app user, when the panel runs as root. */
export type RunAs = { uid: number; gid: number } | null;

type Found = { path: string; kind: "file" | "dir" | "link" | "other"; target: string };

/**
 * The entries of a volume to archive. Links are listed as links (tar never follows them); a link
 * whose target leaves the volume (followed through the volume's other links too), and sockets,
 * pipes and devices, are left out and named. With `user`, the volume is listed by `find` run as
 * that user, so the listing sees nothing the app could not.
 */
export async function listVolume(dir: string, user: RunAs = null): Promise<SourceListing> {
  const found = user ? await findAs(dir, user) : await walk(dir);
  const out: SourceListing = { entries: [], skipped: [] };
  let links = new Map(found.filter((f) => f.kind === "link").map((f) => [f.path, f.target] as const));
  const refused = new Map<string, string>();
  // A link left out is not in the archive: the others are checked again without it, until none leaves.
  for (;;) {
    const before = refused.size;
    for (const [path, target] of links) {
      const leaves = linkLeaves(path, target, links);
      if (leaves) refused.set(path, `a link with ${leaves}`);
    }
    if (refused.size === before) break;
    links = new Map([...links].filter(([path]) => !refused.has(path)));
  }
  for (const f of found) {
    const why = f.kind === "other" ? "not a file, directory or link" : refused.get(f.path);
    if (why) out.skipped.push({ path: f.path, why });
    else out.entries.push(f.path);
  }
  return out;
}

async function walk(dir: string): Promise<Found[]> {
  const out: Found[] = [];
  const visit = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const stat = await lstat(join(dir, path)).catch(() => null);
      if (!stat) continue;
      if (stat.isSymbolicLink()) out.push({ path, kind: "link", target: await readlink(join(dir, path)) });
      else if (stat.isDirectory()) {
        out.push({ path, kind: "dir", target: "" });
        await visit(path);
      } else out.push({ path, kind: stat.isFile() ? "file" : "other", target: "" });
    }
  };
  await visit("");
  return out;
}

/** GNU find as `user`: each entry's type, path (relative) and link target, NUL-separated; parents before children. */
async function findAs(dir: string, user: { uid: number; gid: number }): Promise<Found[]> {
  const proc = Bun.spawn(["find", ".", "-mindepth", "1", "-printf", "%y\\0%P\\0%l\\0"], {
    cwd: dir,
    uid: user.uid,
    gid: user.gid,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" },
  });
  const [text, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`The volume could not be listed as the app user: ${stderr.trim().split("\n").slice(0, 3).join(" ")}`);
  const fields = text.split("\0");
  const out: Found[] = [];
  for (let i = 0; i + 2 < fields.length; i += 3) {
    const type = fields[i] as string;
    const kind = type === "f" ? "file" : type === "d" ? "dir" : type === "l" ? "link" : "other";
    out.push({ path: fields[i + 1] as string, kind, target: fields[i + 2] as string });
  }
  return out;
}

/** The fingerprint of a directory on disk: what an extracted archive is compared with. */
export async function directoryManifest(dir: string): Promise<Manifest> {
  const entries = new Map<string, ManifestEntry>();
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(dir, path);
      const stat = await lstat(full);
      if (stat.isSymbolicLink()) entries.set(path, { type: "link", target: await readlink(full) });
      else if (stat.isDirectory()) {
        entries.set(path, { type: "dir" });
        await visit(path);
      } else if (stat.isFile()) {
        const h = new HashingCounter();
        for await (const chunk of createReadStream(full)) h.add(chunk as Uint8Array);
        entries.set(path, { type: "file", size: h.size, sha256: h.digest() });
      }
    }
  };
  await visit("");
  return manifestOf(entries);
}

export interface Archived {
  written: Written;
  /** What the archive holds, as tar read it. */
  manifest: Manifest;
  skipped: SourceListing["skipped"];
  /** tar's warnings (a file that changed or went away while it was read). */
  warnings: string[];
}

/**
 * Archives a volume: tar's output is read by the checking reader on its way through gzip to
 * `write` (a destination's streaming write), so the fingerprint is of the bytes archived.
 */
export async function archiveVolume(
  dir: string,
  write: (source: AsyncIterable<Uint8Array>) => Promise<Written>,
  options: ArchiveOptions = {},
): Promise<Archived> {
  return archiveListed(dir, await listVolume(dir, options.user ?? null), write, options);
}

export interface ArchiveOptions {
  signal?: AbortSignal;
  /**
   * Run tar as this user: tar opens each listed entry by its path, and an app that swaps a
   * directory for a link meanwhile could lead it elsewhere. As the app user, tar reads only what
   * the app could have read anyway.
   */
  user?: RunAs;
}

/** Archives the entries of a listing of `dir` (see archiveVolume). */
export async function archiveListed(
  dir: string,
  listing: SourceListing,
  write: (source: AsyncIterable<Uint8Array>) => Promise<Written>,
  options: ArchiveOptions = {},
): Promise<Archived> {
  const { signal, user } = options;
  const proc = Bun.spawn(tarCreateArgv(dir), {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    // As another user, tar gets none of the panel's environment (its secrets).
    env: user ? { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" } : { ...process.env, LC_ALL: "C" },
    ...(user ? { uid: user.uid, gid: user.gid, cwd: "/" } : {}),
  });
  const kill = () => proc.kill();
  signal?.addEventListener("abort", kill, { once: true });
  const feeding = (async () => {
    let batch = "";
    for (const path of listing.entries) {
      batch += tarListEntry(path);
      if (batch.length < 65_536) continue;
      proc.stdin.write(batch);
      await proc.stdin.flush();
      batch = "";
    }
    if (batch) proc.stdin.write(batch);
    await proc.stdin.end();
  })();
  const stderr = new Response(proc.stderr).text();
  const reader = new TarReader();
  const tapped = proc.stdout
    .pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          reader.push(chunk);
          controller.enqueue(chunk);
        },
      }),
    )
    .pipeThrough(new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
  try {
    const written = await write(tapped);
    await feeding;
    const code = await proc.exited;
    const errors = (await stderr).split("\n").filter((l) => l.trim() !== "");
    if (signal?.aborted) throw new Error("Cancelled.");
    // 1: some files changed while they were read (archived as read); 2 and up: tar failed.
    if (code !== 0 && code !== 1) throw new Error(`tar exited with ${code}: ${errors.slice(-5).join(" ") || "no message"}`);
    reader.end();
    if (reader.problems.length > 0) throw new ArchiveRefused(reader.problems);
    // A listed entry tar left out is fine when it was removed meanwhile; one still there could not be read.
    const unread: string[] = [];
    for (const path of listing.entries) {
      if (!reader.entries.has(path) && (await lstat(join(dir, path)).catch(() => null))) unread.push(path);
    }
    if (unread.length > 0) {
      throw new Error(
        `${unread.length} entr${unread.length === 1 ? "y" : "ies"} could not be read: ${unread.slice(0, 5).join(", ")}${unread.length > 5 ? ", …" : ""} (${errors.slice(0, 3).join(" ") || "no reason given"})`,
      );
    }
    return {
      written,
      manifest: manifestOf(reader.entries),
      skipped: listing.skipped,
      warnings: errors.map((l) => l.replace(/^tar: /, "")),
    };
  } catch (error) {
    proc.kill();
    await proc.exited;
    throw error;
  } finally {
    signal?.removeEventListener("abort", kill);
  }
}

/**
 * Copies a stored archive to a local file, hashing it on the way; throws when its sha256 is not
 * the one recorded when it was written.
 */
export async function spoolArchive(source: ReadableStream<Uint8Array>, path: string, sha256: string | null): Promise<Written> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const h = await writeHashed(source, path);
  const digest = h.digest();
  if (sha256 && digest !== sha256)
    throw new Error(`The stored file's sha256 is ${digest}, not the ${sha256} recorded when it was written.`);
  return { location: path, sizeBytes: h.size, sha256: digest };
}

/** Reads a local gzip-compressed archive through the checking reader: its fingerprint and any refused entries. */
export async function inspectArchive(path: string): Promise<{ manifest: Manifest; problems: string[] }> {
  const reader = new TarReader();
  const stream = Bun.file(path)
    .stream()
    .pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
  for await (const chunk of stream) reader.push(chunk);
  reader.end();
  return { manifest: manifestOf(reader.entries), problems: reader.problems };
}

/**
 * Extracts a local archive into `dir` (created empty), after reading it through the checking
 * reader: an archive with any refused entry is not extracted at all. Nothing comes out setuid,
 * setgid or sticky: tar (as root) would otherwise make a setuid file of the archive a root one.
 */
export async function extractArchive(path: string, dir: string, signal?: AbortSignal): Promise<Manifest> {
  const { manifest, problems } = await inspectArchive(path);
  if (problems.length > 0) throw new ArchiveRefused(problems);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const proc = Bun.spawn(tarExtractArgv(path, dir), { stdout: "ignore", stderr: "pipe", env: { ...process.env, LC_ALL: "C" } });
  const kill = () => proc.kill();
  signal?.addEventListener("abort", kill, { once: true });
  try {
    const stderr = await new Response(proc.stderr).text();
    const code = await proc.exited;
    if (signal?.aborted) throw new Error("Cancelled.");
    if (code !== 0) throw new Error(`tar could not extract the archive (exit ${code}): ${stderr.trim().split("\n").slice(-5).join(" ")}`);
  } finally {
    signal?.removeEventListener("abort", kill);
  }
  await clearSpecialModes(dir);
  return manifest;
}

/** Drops the setuid, setgid and sticky bits of everything below `dir` (links are left alone). */
async function clearSpecialModes(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) continue;
    if (stat.mode & 0o7000) await chmod(path, stat.mode & 0o777);
    if (stat.isDirectory()) await clearSpecialModes(path);
  }
}

/** Gives everything below `dir` (links themselves, not their targets) to one owner: the volume's. */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await lchown(dir, uid, gid);
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const stat = await lstat(path);
    await lchown(path, uid, gid);
    if (stat.isDirectory() && !stat.isSymbolicLink()) await chownTree(path, uid, gid);
  }
}

/** Server mode: the apps' group (the volume's) may change what a restore wrote, as it could before. */
export async function openTreeToGroup(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) continue;
    await chmod(path, (stat.mode & 0o7777) | (stat.isDirectory() ? 0o2070 : 0o060));
    if (stat.isDirectory()) await openTreeToGroup(path);
  }
}
