/**
 * What the new-app wizard shows before anything is created: the deploy's own detection
 * (detect.ts), with the package manager, the framework, the Procfile's processes and how the app
 * is reached, read from the same files. Nothing here changes how a deploy builds.
 */
import { PACKAGE_MANAGERS, type PackageManager, type ProjectPreview } from "../contract/api.ts";
import {
  DetectError,
  type DetectResult,
  type DetectSettings,
  detectProject,
  type ProjectFiles,
  type Runtime,
  STATIC_DIRS,
} from "./detect.ts";

type PackageManagerFound = NonNullable<ProjectPreview["packageManager"]>;
type Framework = NonNullable<ProjectPreview["framework"]>;
type ProcfilePreview = NonNullable<ProjectPreview["procfile"]>;

interface PackageJson {
  packageManager?: unknown;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
}

function readPackage(files: ProjectFiles): PackageJson | null {
  const text = files.read("package.json");
  if (text === null) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === "object" ? (parsed as PackageJson) : null;
  } catch {
    return null;
  }
}

/** Lock files in the order they are trusted when a repository has more than one. */
const LOCK_FILES: Array<[string, PackageManager]> = [
  ["bun.lock", "bun"],
  ["bun.lockb", "bun"],
  ["pnpm-lock.yaml", "pnpm"],
  ["yarn.lock", "yarn"],
  ["package-lock.json", "npm"],
  ["npm-shrinkwrap.json", "npm"],
];

/** The package manager the project declares: `packageManager` in package.json ("pnpm@9.1.0"), else its lock file. */
export function detectPackageManager(files: ProjectFiles): PackageManagerFound | null {
  const pkg = readPackage(files);
  if (!pkg) return null;
  if (typeof pkg.packageManager === "string") {
    const name = pkg.packageManager.split("@")[0] as PackageManager;
    if (PACKAGE_MANAGERS.includes(name)) return { name, source: `packageManager: ${pkg.packageManager}` };
  }
  const lock = LOCK_FILES.find(([file]) => files.exists(file));
  return lock ? { name: lock[1], source: lock[0] } : null;
}

/** Meta-frameworks before the servers and bundlers they are built on (a SvelteKit app depends on vite too). */
const FRAMEWORKS: Array<{ id: Framework["id"]; name: string; match: (dep: string) => boolean }> = [
  { id: "next", name: "Next.js", match: (d) => d === "next" },
  { id: "sveltekit", name: "SvelteKit", match: (d) => d === "@sveltejs/kit" },
  { id: "astro", name: "Astro", match: (d) => d === "astro" },
  { id: "nuxt", name: "Nuxt", match: (d) => d === "nuxt" },
  // The router library alone is a dependency of many single-page apps: only its framework packages tell.
  { id: "react-router", name: "React Router / Remix", match: (d) => d.startsWith("@remix-run/") || d.startsWith("@react-router/") },
  { id: "hono", name: "Hono", match: (d) => d === "hono" },
  { id: "elysia", name: "Elysia", match: (d) => d === "elysia" },
  { id: "express", name: "Express", match: (d) => d === "express" },
  { id: "fastify", name: "Fastify", match: (d) => d === "fastify" },
  { id: "vite", name: "Vite", match: (d) => d === "vite" },
];

/** The framework, best-effort, from package.json's dependencies and devDependencies. */
export function detectFramework(files: ProjectFiles): Framework | null {
  const pkg = readPackage(files);
  if (!pkg) return null;
  const deps = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
  for (const f of FRAMEWORKS) {
    const dependency = deps.find(f.match);
    if (dependency) return { id: f.id, name: f.name, dependency };
  }
  return null;
}

/** Every process type of the Procfile (`name: command` lines), or null when there is none. */
export function readProcfile(files: ProjectFiles): ProcfilePreview | null {
  const text = files.read("Procfile");
  if (text === null) return null;
  const out: ProcfilePreview = { web: null, release: null, others: [] };
  for (const raw of text.split("\n")) {
    const m = /^([A-Za-z0-9_-]+):\s*(.+)$/.exec(raw.trim());
    if (!m) continue;
    const [, name, command] = m as unknown as [string, string, string];
    if (name === "web") out.web ??= command.trim();
    else if (name === "release") out.release ??= command.trim();
    else if (!out.others.includes(name)) out.others.push(name);
  }
  return out;
}

/** Where a static build will leave its site when the checkout has none yet: Vite's `build.outDir`, else its default. */
function predictedOutputDir(files: ProjectFiles, framework: Framework | null): string | null {
  if (framework?.id !== "vite" && framework?.id !== "astro") return null;
  for (const name of ["vite.config.ts", "vite.config.js", "vite.config.mjs", "vite.config.mts", "astro.config.mjs", "astro.config.ts"]) {
    const m = /outDir\s*:\s*["'`]\.?\/?([A-Za-z0-9_./-]+?)\/?["'`]/.exec(files.read(name) ?? "");
    if (m && !m[1]?.includes("..")) return m[1] as string;
  }
  return "dist";
}

/** A detected install argv as the shell text a user would type in the settings. */
function commandText(argv: string[] | null): string | null {
  if (!argv) return null;
  if (argv[0] === "/bin/sh" && argv[1] === "-c") return argv[2] ?? null;
  return argv.join(" ");
}

function portHandling(runtime: Runtime | null): ProjectPreview["port"] {
  if (runtime === "static") {
    return { variable: null, description: "Switchyard serves the output directory itself; the site runs no server of its own." };
  }
  return {
    variable: "PORT",
    description:
      "Each slot's process is started with PORT set to its own port; the app must listen on it (on 127.0.0.1 or all addresses). nginx reaches it through Switchyard, so nothing else needs configuring.",
  };
}

/** The wizard's preview of a checkout, decided by the deploy's own detection with the settings given. */
export async function previewProject(files: ProjectFiles, settings: DetectSettings): Promise<ProjectPreview> {
  const framework = detectFramework(files);
  const common = { packageManager: detectPackageManager(files), framework, procfile: readProcfile(files) };
  let detected: DetectResult;
  try {
    detected = await detectProject(files, settings);
  } catch (error) {
    if (!(error instanceof DetectError)) throw error;
    return {
      ...common,
      runtime: settings.runtime ?? null,
      installCommand: settings.installCommand ?? null,
      buildCommand: settings.buildCommand ?? null,
      startCommand: settings.startCommand ?? null,
      releaseCommand: settings.releaseCommand ?? null,
      outputDir: null,
      port: portHandling(settings.runtime ?? null),
      notes: [],
      problem: error.message,
    };
  }
  const outputDir =
    detected.runtime !== "static" ? null : (detected.staticDir ?? predictedOutputDir(files, framework) ?? (detected.build ? null : "."));
  const notes = [...detected.notes];
  if (detected.runtime === "static" && !detected.staticDir && outputDir) {
    notes.push(`Output: ${outputDir}/ once the build has run (${framework?.name ?? "build"} default).`);
  } else if (detected.runtime === "static" && !outputDir) {
    notes.push(`Output: the first of ${STATIC_DIRS.map((d) => `${d}/`).join(", ")} the build leaves an index.html in.`);
  }
  return {
    ...common,
    runtime: detected.runtime,
    installCommand: commandText(detected.install),
    buildCommand: detected.build,
    startCommand: detected.start,
    releaseCommand: detected.release,
    outputDir,
    port: portHandling(detected.runtime),
    notes,
    problem: null,
  };
}
