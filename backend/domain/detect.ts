import { join } from "node:path";
import { PACKAGE_MANAGERS, type PackageManager, PROCESS_TYPE_PATTERN } from "../contract/api.ts";
import { detectFramework, type FrameworkInfo, frameworkPlan, type PackageJson } from "./frameworks.ts";
import { type RuntimeRequests, RuntimeVersionError, requestedRuntimes } from "./runtime-versions.ts";

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
  /** The app's directory in the repository (a monorepo's package). */
  rootDir?: string | null;
  /** A static site's output directory, relative to rootDir. */
  outputDir?: string | null;
  packageManager?: PackageManager | null;
  bunVersion?: string | null;
  nodeVersion?: string | null;
}

/** The package manager a deploy installs and builds with. */
export interface PackageManagerChoice {
  name: PackageManager;
  /** The exact version asked for by package.json's `packageManager` field; null: any. */
  version: string | null;
  /** Yarn 2+ (a `.yarnrc.yml`, or `packageManager: yarn@2…`): `--immutable` instead of `--frozen-lockfile`. */
  berry: boolean;
  /** Where the choice came from, for the notes and the preview. */
  source: string;
}

export interface DetectResult {
  runtime: Runtime;
  /** argv, or null when there is nothing to install. */
  install: string[] | null;
  /** Where the install runs, relative to the checkout: the app's directory, or the repository root for a workspace. */
  installDir: string;
  /** The user's build command line (shell text), or null. */
  build: string | null;
  /** The user's start command line (shell text), run in rootDir; null for a static site. */
  start: string | null;
  /** The directory served for a static site, relative to the checkout (rootDir included). */
  staticDir: string | null;
  /** True when staticDir was named (settings, framework) rather than found: the build must leave it. */
  staticDirFixed: boolean;
  /** Runs in the new release before it starts (migrations), shell text; null when there is none. */
  release: string | null;
  /** The app's directory in the checkout; null: the root. */
  rootDir: string | null;
  packageManager: PackageManagerChoice | null;
  framework: FrameworkInfo | null;
  /** Procfile process types besides web and release: type → command (run in rootDir). */
  processes: Record<string, string>;
  /** The Bun and Node versions the app asks for (installed by the install step). */
  runtimes: RuntimeRequests;
  /** One line per decision, for the job log. */
  notes: string[];
}

export class DetectError extends Error {
  override name = "DetectError";
}

/** Where a build leaves a static site, in the order they are looked at. */
export const STATIC_DIRS = ["dist", "build", "out", "public"];

export function readPackageJson(files: ProjectFiles): PackageJson | null {
  const text = files.read("package.json");
  if (text === null) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as PackageJson;
  } catch (error) {
    throw new DetectError(`package.json is not valid JSON: ${(error as Error).message}`);
  }
}

/** The files under a directory of the checkout, as if it were the root. */
export function filesUnder(files: ProjectFiles, dir: string | null): ProjectFiles {
  if (!dir) return files;
  return { exists: (p) => files.exists(join(dir, p)), read: (p) => files.read(join(dir, p)) };
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

/** The Procfile's process types besides web and release; names that cannot be a process type are skipped with a note. */
export function procfileProcesses(files: ProjectFiles, notes: string[] = []): Record<string, string> {
  const text = files.read("Procfile");
  const out: Record<string, string> = {};
  if (text === null) return out;
  for (const raw of text.split("\n")) {
    const m = /^([A-Za-z0-9_.-]+):\s*(.+)$/.exec(raw.trim());
    if (!m) continue;
    const name = (m[1] as string).toLowerCase();
    if (name === "web" || name === "release" || name in out) continue;
    if (!PROCESS_TYPE_PATTERN.test(name)) {
      notes.push(`Procfile ${m[1]}: skipped: a process type is a lowercase letter, then up to 29 letters, digits, - or _.`);
      continue;
    }
    out[name] = (m[2] as string).trim();
  }
  const names = Object.keys(out);
  if (names.length > 0) notes.push(`Processes from the Procfile: ${names.map((n) => `${n} (${out[n]})`).join(", ")}.`);
  return out;
}

/**
 * The directory a static site is served from. The repository root only when nothing is built:
 * with a build, the root holds the sources (a Vite project's index.html among them), not the site.
 */
export async function detectStaticDir(files: ProjectFiles, options: { allowRoot: boolean }): Promise<string | null> {
  const dirs = options.allowRoot ? [...STATIC_DIRS, "."] : STATIC_DIRS;
  return dirs.find((d) => files.exists(join(d, "index.html"))) ?? null;
}

/** Lock files in the order they are trusted when a directory has more than one. */
export const LOCK_FILES: Array<[string, PackageManager]> = [
  ["bun.lock", "bun"],
  ["bun.lockb", "bun"],
  ["pnpm-lock.yaml", "pnpm"],
  ["yarn.lock", "yarn"],
  ["package-lock.json", "npm"],
  ["npm-shrinkwrap.json", "npm"],
];

function lockOf(files: ProjectFiles, name?: PackageManager): string | null {
  return LOCK_FILES.find(([file, pm]) => (name === undefined || pm === name) && files.exists(file))?.[0] ?? null;
}

/**
 * The package manager: the app's setting, else package.json's `packageManager` field
 * ("pnpm@9.1.0+sha512…"), else the lock file (the app's directory first, then the repository root
 * of a workspace); null when nothing says (Bun installs).
 */
export function choosePackageManager(
  app: ProjectFiles,
  root: ProjectFiles,
  pkg: PackageJson | null,
  setting: PackageManager | null | undefined,
): PackageManagerChoice | null {
  const rootPkg = root === app ? pkg : safePackage(root);
  const declared = [pkg, rootPkg].map((p) => (typeof p?.packageManager === "string" ? p.packageManager : null)).find((v) => v);
  const parsed = declared ? /^(npm|pnpm|yarn|bun)@([0-9][0-9A-Za-z.+-]*)$/.exec(declared.trim()) : null;
  const version = parsed ? (parsed[2] as string).replace(/\+.*$/, "") : null;
  const yarnrc = app.exists(".yarnrc.yml") || root.exists(".yarnrc.yml");
  const berryFor = (name: PackageManager, v: string | null) => name === "yarn" && (yarnrc || (v !== null && !v.startsWith("1.")));
  if (setting) {
    const v = parsed?.[1] === setting ? version : null;
    return { name: setting, version: v, berry: berryFor(setting, v), source: "the app's settings" };
  }
  if (parsed && PACKAGE_MANAGERS.includes(parsed[1] as PackageManager)) {
    const name = parsed[1] as PackageManager;
    return { name, version, berry: berryFor(name, version), source: `packageManager: ${declared}` };
  }
  const lock = lockOf(app) ?? lockOf(root);
  if (!lock) return null;
  const name = LOCK_FILES.find(([file]) => file === lock)?.[1] as PackageManager;
  return { name, version: null, berry: berryFor(name, null), source: lock };
}

function safePackage(files: ProjectFiles): PackageJson | null {
  try {
    return readPackageJson(files);
  } catch {
    return null;
  }
}

const found = (pm: PackageManagerChoice) =>
  pm.source.endsWith(".json") || pm.source.includes(".lock") || pm.source.endsWith(".yaml") ? `found ${pm.source}` : pm.source;

/** The install argv of a package manager: frozen to the lock file when there is one of its own. */
export function installArgv(pm: PackageManagerChoice, locked: boolean): string[] {
  switch (pm.name) {
    case "npm":
      return locked ? ["npm", "ci", "--no-audit", "--no-fund"] : ["npm", "install", "--no-audit", "--no-fund"];
    case "pnpm":
      return locked ? ["pnpm", "install", "--frozen-lockfile"] : ["pnpm", "install"];
    case "yarn":
      if (!locked) return ["yarn", "install"];
      return pm.berry ? ["yarn", "install", "--immutable"] : ["yarn", "install", "--frozen-lockfile"];
    case "bun":
      return locked ? ["bun", "install", "--frozen-lockfile"] : ["bun", "install"];
  }
}

/** Decides how to install, build and start a checkout; settings always win over detection. */
export async function detectProject(checkout: ProjectFiles, settings: DetectSettings): Promise<DetectResult> {
  const notes: string[] = [];
  const rootDir = settings.rootDir || null;
  const files = filesUnder(checkout, rootDir);
  if (rootDir) {
    if (!checkout.exists(rootDir)) throw new DetectError(`The root directory ${rootDir}/ is not in the repository.`);
    notes.push(`Root directory: ${rootDir}/ (install, build and start run there).`);
  }
  const pkg = readPackageJson(files);
  const has = (f: string) => files.exists(f);
  const pm = pkg ? choosePackageManager(files, checkout, pkg, settings.packageManager) : null;
  const framework = detectFramework(pkg);
  const plan = frameworkPlan(framework, pkg, files);
  if (framework) notes.push(`Framework: ${framework.name} (${framework.dependency} in package.json).`, ...plan.notes);

  let runtimes: RuntimeRequests;
  try {
    const own = requestedRuntimes(files, settings);
    const atRoot = rootDir ? requestedRuntimes(checkout, {}) : { bun: null, node: null };
    runtimes = { bun: own.bun ?? atRoot.bun, node: own.node ?? atRoot.node };
  } catch (error) {
    if (error instanceof RuntimeVersionError) throw new DetectError(error.message);
    throw error;
  }
  // `packageManager: bun@1.2.4` pins Bun itself when nothing else does.
  if (!runtimes.bun && pm?.name === "bun" && pm.version && !settings.packageManager) {
    runtimes = { ...runtimes, bun: { range: pm.version, source: "packageManager in package.json" } };
  }
  for (const name of ["bun", "node"] as const) {
    const r = runtimes[name];
    if (r) notes.push(`${name === "bun" ? "Bun" : "Node"} ${r.range} (from ${r.source}).`);
  }

  const web = procfileLine(files, "web");
  let runtime: Runtime;
  if (settings.runtime) {
    runtime = settings.runtime;
    notes.push(`Runtime ${runtime} (set in the app's settings).`);
  } else if (pkg && plan.staticDir && !settings.startCommand && !web) {
    runtime = "static";
    notes.push(`Runtime static: ${framework?.name} builds a static site.`);
  } else if (pkg && plan.runtime) {
    runtime = plan.runtime;
    notes.push(`Runtime ${runtime}: ${framework?.name} starts with ${plan.runtime}.`);
  } else if (pm?.name === "bun") {
    runtime = "bun";
    notes.push(`Runtime bun: ${found(pm)}.`);
  } else if (pm) {
    runtime = "node";
    notes.push(`Runtime node: ${found(pm)}.`);
  } else if (pkg?.engines?.node) {
    runtime = "node";
    notes.push("Runtime node: found engines.node in package.json.");
  } else if (pkg) {
    runtime = "bun";
    notes.push("Runtime bun: package.json and no lock file.");
  } else if (settings.startCommand || web) {
    runtime = "bun";
    notes.push("Runtime bun: no package.json, but a start command is given.");
  } else {
    runtime = "static";
    notes.push("No package.json: treating it as a static site.");
  }

  // Bun installs when nothing names a manager (as it reads every lock format).
  const manager: PackageManagerChoice | null = pkg ? (pm ?? { name: "bun", version: null, berry: false, source: "no lock file" }) : null;
  if (pm)
    notes.push(`Package manager: ${pm.name}${pm.version ? ` ${pm.version}` : ""}${pm.berry ? " (Yarn 2+)" : ""} (from ${pm.source}).`);

  let install: string[] | null = null;
  let installDir = rootDir ?? ".";
  if (settings.installCommand) {
    install = ["/bin/sh", "-c", settings.installCommand];
    notes.push(`Install: ${settings.installCommand} (from settings).`);
  } else if (pkg && manager) {
    const ownLock = lockOf(files, manager.name);
    const rootLock = rootDir && !ownLock ? lockOf(checkout, manager.name) : null;
    // A workspace's lock file is at the repository root: the install there installs every package.
    if (rootLock) {
      installDir = ".";
      notes.push(`Install at the repository root: its ${rootLock} covers the workspace.`);
    }
    install = installArgv(manager, Boolean(ownLock ?? rootLock));
    notes.push(`Install: ${install.join(" ")}${(ownLock ?? rootLock) ? "" : " (no lock file to freeze)"}.`);
  }

  let start: string | null = null;
  let startFromPlan = false;
  if (settings.startCommand) {
    start = settings.startCommand;
    notes.push(`Start: ${start} (from settings).`);
  } else if (web) {
    start = web;
    notes.push(`Start: ${start} (Procfile web:).`);
  } else if (runtime === "static") {
    // A static site's scripts.start is its dev server (astro dev, vite preview): not what is served.
  } else if (plan.start && (plan.startWins || !pkg?.scripts?.start)) {
    start = plan.start;
    startFromPlan = true;
    notes.push(
      `Start: ${start} (${framework?.name}${pkg?.scripts?.start ? `; scripts.start ${pkg.scripts.start} does not serve this build` : ""}).`,
    );
  } else if (pkg?.scripts?.start) {
    start = pkg.scripts.start;
    notes.push(`Start: ${start} (scripts.start).`);
  } else {
    const candidates =
      runtime === "bun"
        ? [pkg?.module, pkg?.main, "index.ts", "server.ts", "src/index.ts", "src/server.ts"]
        : [pkg?.main, "server.js", "index.js", "src/index.js", "dist/index.js"];
    const file = candidates.find((f): f is string => typeof f === "string" && has(f));
    if (file) {
      start = `${runtime} ${file}`;
      notes.push(`Start: ${start} (entry file).`);
    }
  }

  let build: string | null = null;
  if (settings.buildCommand) {
    build = settings.buildCommand;
    notes.push(`Build: ${build} (from settings).`);
  } else if (pkg?.scripts?.build && manager) {
    build = `${manager.name} run build`;
    notes.push(`Build: ${build} (scripts.build: ${pkg.scripts.build}).`);
    if (startFromPlan && plan.afterBuild) build = `${build} && ${plan.afterBuild}`;
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

  const processes = procfileProcesses(files, notes);

  let staticDir: string | null = null;
  let staticDirFixed = false;
  const named = settings.outputDir ?? plan.staticDir;
  if (!start && (runtime !== "static" || named)) {
    if (named) {
      staticDir = named;
      staticDirFixed = true;
      runtime = "static";
      notes.push(
        `Serving ${named}/ as a static site (${settings.outputDir ? "output directory from settings" : `${framework?.name}'s output`}).`,
      );
    } else {
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
    }
  } else if (runtime === "static") {
    staticDir = await detectStaticDir(files, { allowRoot: !build });
    if (!staticDir && !build) throw new DetectError("A static site needs an index.html at the root or in dist/, build/, out/ or public/.");
  }
  const inCheckout = (dir: string | null) => (dir === null ? null : rootDir ? (dir === "." ? rootDir : join(rootDir, dir)) : dir);
  return {
    runtime,
    install: runtime === "static" && !pkg ? null : install,
    installDir,
    build,
    start: runtime === "static" ? null : start,
    staticDir: inCheckout(staticDir),
    staticDirFixed,
    release,
    rootDir,
    packageManager: pkg ? manager : null,
    framework,
    processes,
    runtimes,
    notes,
  };
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The user's own command line is shell text by nature; `exec` lets a single command receive
 * signals itself. In a monorepo the command runs in the app's directory (`rootDir`).
 */
export function startArgv(start: string, rootDir: string | null = null): string[] {
  const simple = /^[A-Za-z0-9_./:=@%+,-]+( [A-Za-z0-9_./:=@%+,-]+)*$/.test(start.trim());
  const command = simple ? `exec ${start.trim()}` : start;
  return ["/bin/sh", "-c", rootDir ? `cd ${quote(rootDir)} && ${command}` : command];
}
