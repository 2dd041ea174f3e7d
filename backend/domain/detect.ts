import { join } from "node:path";

/** A checkout's files as detection reads them (paths relative to its root). */
export interface ProjectFiles {
  exists(path: string): boolean;
  /** The file's text, or null when there is no such file. */
  read(path: string): string | null;
}

export type Runtime = "bun" | "node" | "static";

export interface DetectSettings {
  installCommand?: string | null;
  buildCommand?: string | null;
  startCommand?: string | null;
  releaseCommand?: string | null;
  runtime?: Runtime | null;
}

export interface DetectResult {
  runtime: Runtime;
  /** argv, or null when there is nothing to install. */
  install: string[] | null;
  /** The user's build command line (shell text), or null. */
  build: string | null;
  /** The user's start command line (shell text); null for a static site. */
  start: string | null;
  /** Relative directory served for a static site. */
  staticDir: string | null;
  /** Runs in the new release before it starts (migrations), shell text; null when there is none. */
  release: string | null;
  /** One line per decision, for the job log. */
  notes: string[];
}

export class DetectError extends Error {
  override name = "DetectError";
}

/** Where a build leaves a static site, in the order they are looked at. */
export const STATIC_DIRS = ["dist", "build", "out", "public"];

interface PackageJson {
  main?: string;
  module?: string;
  scripts?: Record<string, string>;
  engines?: Record<string, string>;
}

function readPackage(files: ProjectFiles): PackageJson | null {
  const text = files.read("package.json");
  if (text === null) return null;
  try {
    return JSON.parse(text) as PackageJson;
  } catch (error) {
    throw new DetectError(`package.json is not valid JSON: ${(error as Error).message}`);
  }
}

/** The command of a Procfile's `<kind>:` line (web, release), or null. */
export function procfileLine(files: ProjectFiles, kind: "web" | "release"): string | null {
  const text = files.read("Procfile");
  if (text === null) return null;
  const pattern = new RegExp(`^${kind}:\\s*(.+)$`);
  for (const line of text.split("\n")) {
    const m = pattern.exec(line.trim());
    if (m) return (m[1] as string).trim();
  }
  return null;
}

const procfileWeb = (files: ProjectFiles) => procfileLine(files, "web");

/**
 * The directory a static site is served from. The repository root only when nothing is built:
 * with a build, the root holds the sources (a Vite project's index.html among them), not the site.
 */
export async function detectStaticDir(files: ProjectFiles, options: { allowRoot: boolean }): Promise<string | null> {
  const dirs = options.allowRoot ? [...STATIC_DIRS, "."] : STATIC_DIRS;
  return dirs.find((d) => files.exists(join(d, "index.html"))) ?? null;
}

/** Decides how to install, build and start a checkout; settings always win over detection. */
export async function detectProject(files: ProjectFiles, settings: DetectSettings): Promise<DetectResult> {
  const notes: string[] = [];
  const pkg = readPackage(files);
  const has = (f: string) => files.exists(f);
  const bunLock = has("bun.lock") || has("bun.lockb");
  const npmLock = has("package-lock.json");
  const otherLock = has("yarn.lock") || has("pnpm-lock.yaml");

  let runtime: Runtime;
  if (settings.runtime) {
    runtime = settings.runtime;
    notes.push(`Runtime ${runtime} (set in the app's settings).`);
  } else if (bunLock) {
    runtime = "bun";
    notes.push(`Runtime bun: found ${has("bun.lock") ? "bun.lock" : "bun.lockb"}.`);
  } else if (pkg && (npmLock || pkg.engines?.node) && !otherLock) {
    runtime = "node";
    notes.push(`Runtime node: found ${npmLock ? "package-lock.json" : "engines.node in package.json"}.`);
  } else if (pkg) {
    runtime = "bun";
    notes.push(
      otherLock
        ? "Runtime bun: package.json with a yarn/pnpm lock file (bun reads it)."
        : "Runtime bun: package.json and no other lock file.",
    );
  } else if (settings.startCommand || procfileWeb(files)) {
    runtime = "bun";
    notes.push("Runtime bun: no package.json, but a start command is given.");
  } else {
    runtime = "static";
    notes.push("No package.json: treating it as a static site.");
  }

  let install: string[] | null = null;
  if (settings.installCommand) {
    install = ["/bin/sh", "-c", settings.installCommand];
    notes.push(`Install: ${settings.installCommand} (from settings).`);
  } else if (pkg) {
    if (runtime === "node" && npmLock) install = ["npm", "ci", "--no-audit", "--no-fund"];
    else install = bunLock ? ["bun", "install", "--frozen-lockfile"] : ["bun", "install"];
    notes.push(
      `Install: ${install.join(" ")}${install.includes("--frozen-lockfile") || install.includes("ci") ? "" : " (no lock file to freeze)"}.`,
    );
  }

  let build: string | null = null;
  if (settings.buildCommand) {
    build = settings.buildCommand;
    notes.push(`Build: ${build} (from settings).`);
  } else if (pkg?.scripts?.build) {
    build = runtime === "node" ? "npm run build" : "bun run build";
    notes.push(`Build: ${build} (scripts.build: ${pkg.scripts.build}).`);
  }

  let start: string | null = null;
  const web = procfileWeb(files);
  if (settings.startCommand) {
    start = settings.startCommand;
    notes.push(`Start: ${start} (from settings).`);
  } else if (web) {
    start = web;
    notes.push(`Start: ${start} (Procfile web:).`);
  } else if (pkg?.scripts?.start) {
    start = pkg.scripts.start;
    notes.push(`Start: ${start} (scripts.start).`);
  } else if (runtime !== "static") {
    const candidates =
      runtime === "bun" ? [pkg?.module, pkg?.main, "index.ts", "server.ts", "src/index.ts"] : [pkg?.main, "server.js", "index.js"];
    const file = candidates.find((f): f is string => typeof f === "string" && has(f));
    if (file) {
      start = `${runtime} ${file}`;
      notes.push(`Start: ${start} (entry file).`);
    }
  }

  let release: string | null = null;
  const procfileRelease = procfileLine(files, "release");
  if (settings.releaseCommand) {
    release = settings.releaseCommand;
    notes.push(`Release command: ${release} (from settings).`);
  } else if (procfileRelease) {
    release = procfileRelease;
    notes.push(`Release command: ${release} (Procfile release:).`);
  }

  let staticDir: string | null = null;
  if (!start && runtime !== "static") {
    staticDir = await detectStaticDir(files, { allowRoot: !build });
    if (staticDir || build) {
      runtime = "static";
      notes.push(
        staticDir
          ? `No start command: serving ${staticDir}/ as a static site.`
          : `No start command: serving the build's output (${STATIC_DIRS.map((d) => `${d}/`).join(", ")}) as a static site.`,
      );
    } else {
      throw new DetectError(
        "Found nothing to start: no start command in the app's settings, no Procfile web: line, no scripts.start in package.json, no entry file (index.ts, server.ts, main) and no index.html. Set a start command in the app's settings.",
      );
    }
  } else if (runtime === "static") {
    staticDir = await detectStaticDir(files, { allowRoot: !build });
    if (!staticDir && !build) throw new DetectError("A static site needs an index.html at the root or in dist/, build/, out/ or public/.");
  }
  return {
    runtime,
    install: runtime === "static" && !pkg ? null : install,
    build,
    start: runtime === "static" ? null : start,
    staticDir,
    release,
    notes,
  };
}

/** The user's own command line is shell text by nature; `exec` lets a single command receive signals itself. */
export function startArgv(start: string): string[] {
  const simple = /^[A-Za-z0-9_./:=@%+,-]+( [A-Za-z0-9_./:=@%+,-]+)*$/.test(start.trim());
  return ["/bin/sh", "-c", simple ? `exec ${start.trim()}` : start];
}
