/**
 * Static sites, as nginx serves them: `<data>/static/<app>/` holds the published copy of each
 * slot's release (`releases/<id>/`: its output directory's files and directories only, readable by
 * nginx's workers, which cannot enter the private apps dir on a server), one link per slot to a
 * copy (`blue`, `green`), the `live` link nginx's root is (a link to one of them), and the
 * `spa-fallback` marker. nginx reads them on every request: publishing a slot, switching and the
 * fallback setting all apply from the next request, with no reload, and the standby slot's link is
 * an instant rollback.
 */
import {
  chmodSync,
  closeSync,
  constants,
  type Dirent,
  existsSync,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { join, relative, sep } from "node:path";
import { assertApp } from "../../commands/nginx.ts";
import { replaceSymlink, writeFileAtomic } from "../files.ts";
import type { Color } from "../runtime/types.ts";

export class StaticSiteError extends Error {
  override name = "StaticSiteError";
}

export interface StaticSlot {
  /** The output directory the slot serves. */
  dir: string;
  /** Whether it has an index.html of its own (a file, not a link): the site's home page. */
  hasIndex: boolean;
  /** The release it belongs to, read from its path (`…/releases/<id>/…`). */
  releaseId: string | null;
  /** When the slot was published. */
  since: Date;
}

export interface StaticSites {
  /** `<data>/static/<app>`: what the app's nginx file and its routes' `static` links name. */
  dir(app: string): string;
  /**
   * Copies `<releaseDir>/<outputDir>` (a directory inside the release, not a link) to the release's
   * published copy, unless it is there already, and points the slot at it. Symbolic links are not
   * copied (a static site serves its own files only), nor dotfiles or `node_modules`. The live link is
   * not touched; copies no slot uses any more are removed. Returns the copy and the links left out.
   */
  publish(app: string, color: Color, release: { id: string; dir: string; outputDir: string }): { dir: string; skippedLinks: string[] };
  /** Removes the slot's link, and the live link when it pointed there (nginx then proxies again). */
  unpublish(app: string, color: Color): void;
  slot(app: string, color: Color): StaticSlot | null;
  /** Moves the site's traffic to the slot (one link replacement), or, when the slot has no site, takes it off static serving. */
  switchTo(app: string, color: Color): void;
  liveColor(app: string): Color | null;
  /** The single-page fallback: missing paths without an extension get /index.html. */
  setFallback(app: string, on: boolean): void;
  /** The apps with a static dir. */
  apps(): string[];
  remove(app: string): void;
}

const RELEASE_ID = /[/\\]releases[/\\]([0-9a-f-]{36})(?:[/\\]|$)/;

function linkTarget(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/**
 * Copies regular files and directories (0644/0755, whatever the build's umask), leaving out
 * symbolic links (what a repository could point at the data dir or /etc), dotfiles and
 * dot-directories (`.git`, `.env`; `.well-known` kept) and `node_modules`. Returns the links left
 * out, relative to `from`, those listed as links and those that had become links by the time they
 * were opened (`entries` lists a directory; tests stand in for such a race with it).
 */
export function copySite(
  from: string,
  to: string,
  entries: (dir: string) => Dirent[] = (dir) => readdirSync(dir, { withFileTypes: true }),
): string[] {
  const skipped: string[] = [];
  const walk = (src: string, dst: string) => {
    mkdirSync(dst, { mode: 0o755 });
    chmodSync(dst, 0o755);
    for (const entry of entries(src)) {
      const path = join(src, entry.name);
      // Never served (nginx answers 404 for them too): not copied where a slip could expose them.
      if (entry.name.startsWith(".") && entry.name !== ".well-known") continue;
      if (entry.isSymbolicLink()) skipped.push(relative(from, path));
      else if (entry.isDirectory()) {
        if (entry.name === "node_modules") continue;
        // The build may still be running things: what was a directory a moment ago may be a link now.
        if (isRealDir(path)) walk(path, join(dst, entry.name));
        else skipped.push(relative(from, path));
      } else if (entry.isFile()) {
        if (!copyRegularFile(path, join(dst, entry.name))) skipped.push(relative(from, path));
      }
    }
  };
  walk(from, to);
  return skipped;
}

function isRealDir(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && !st.isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Copies `src` to a new `dst` (0644) only if `src` is, when opened, a regular file and not a link:
 * opened with O_NOFOLLOW and checked on the open descriptor, so a file swapped for a link to
 * /etc/shadow after the directory was listed is not published. False when it was not copied.
 */
export function copyRegularFile(src: string, dst: string): boolean {
  let input: number;
  try {
    input = openSync(src, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    if (!fstatSync(input).isFile()) return false;
    const output = openSync(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      const buffer = Buffer.allocUnsafe(1024 * 1024);
      for (;;) {
        const n = readSync(input, buffer, 0, buffer.length, null);
        if (n === 0) break;
        for (let done = 0; done < n; ) done += writeSync(output, buffer, done, n - done);
      }
      fchmodSync(output, 0o644);
    } finally {
      closeSync(output);
    }
    return true;
  } finally {
    closeSync(input);
  }
}

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

export function staticSites(dataDir: string): StaticSites {
  const base = join(dataDir, "static");
  const dir = (app: string) => join(base, assertApp(app));
  const slotLink = (app: string, color: Color) => join(dir(app), color);
  const liveLink = (app: string) => join(dir(app), "live");

  const liveColor = (app: string): Color | null => {
    const target = linkTarget(liveLink(app));
    return target === "blue" || target === "green" ? target : null;
  };

  const slot = (app: string, color: Color): StaticSlot | null => {
    const link = slotLink(app, color);
    const target = linkTarget(link);
    if (!target) return null;
    try {
      if (!statSync(link).isDirectory()) return null;
      const index = join(target, "index.html");
      const hasIndex = existsSync(index) && lstatSync(index).isFile();
      return { dir: target, hasIndex, releaseId: RELEASE_ID.exec(target)?.[1] ?? null, since: lstatSync(link).mtime };
    } catch {
      return null;
    }
  };

  return {
    dir,
    publish(app, color, { id, dir: releaseDir, outputDir }) {
      if (!/^[0-9a-f-]{36}$/.test(id)) throw new StaticSiteError(`"${id}" is not a release id`);
      const release = realpathOrNull(releaseDir);
      if (!release) throw new StaticSiteError("The release's files are gone; deploy again.");
      const expected = join(release, outputDir);
      if (expected !== release && !expected.startsWith(release + sep)) {
        throw new StaticSiteError(`The output directory "${outputDir}" is outside the release; it is not served.`);
      }
      const served = realpathOrNull(expected);
      if (!served) throw new StaticSiteError(`The release has no output directory "${outputDir}".`);
      // An output directory that is (or passes through) a link, dist -> .. or -> /etc, would publish what it points at.
      if (served !== expected.replace(/[/\\]+$/, "")) {
        throw new StaticSiteError(`The output directory "${outputDir}" is a symbolic link; it is not served.`);
      }
      if (!statSync(served).isDirectory()) throw new StaticSiteError(`The output "${outputDir}" is not a directory.`);
      const copies = join(dir(app), "releases");
      const copy = join(copies, id);
      let skippedLinks: string[] = [];
      if (!existsSync(copy)) {
        mkdirSync(copies, { recursive: true, mode: 0o755 });
        // nginx's workers (another user on a server) pass through, whatever the panel's umask.
        for (const path of [base, dir(app), copies]) chmodSync(path, 0o755);
        // Whole or not at all: copied under a temporary name, then renamed.
        const tmp = join(copies, `.${id}.${process.pid}.${Date.now()}`);
        try {
          skippedLinks = copySite(served, tmp);
          renameSync(tmp, copy);
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
      }
      replaceSymlink(slotLink(app, color), copy);
      // Copies of releases neither slot serves any more (the standby's stays, for a rollback).
      const kept = new Set([copy, linkTarget(slotLink(app, "blue")), linkTarget(slotLink(app, "green"))]);
      for (const name of readdirSync(copies)) {
        if (!name.startsWith(".") && !kept.has(join(copies, name))) rmSync(join(copies, name), { recursive: true, force: true });
      }
      return { dir: copy, skippedLinks };
    },
    unpublish(app, color) {
      if (!existsSync(dir(app))) return;
      if (liveColor(app) === color) rmSync(liveLink(app), { force: true });
      rmSync(slotLink(app, color), { force: true });
    },
    slot,
    switchTo(app, color) {
      if (slot(app, color)) {
        // Relative, so the link stays right if the data dir moves.
        replaceSymlink(liveLink(app), color);
      } else if (existsSync(dir(app))) {
        rmSync(liveLink(app), { force: true });
      }
    },
    liveColor,
    setFallback(app, on) {
      const marker = join(dir(app), "spa-fallback");
      if (on) {
        if (existsSync(marker)) return;
        mkdirSync(dir(app), { recursive: true, mode: 0o755 });
        writeFileAtomic(marker, "");
      } else {
        rmSync(marker, { force: true });
      }
    },
    apps() {
      try {
        return readdirSync(base).filter((n) => !n.startsWith("."));
      } catch {
        return [];
      }
    },
    remove(app) {
      rmSync(dir(app), { recursive: true, force: true });
    },
  };
}
