/**
 * What the new-app wizard shows before anything is created: the deploy's own detection
 * (detect.ts) with the package manager, the framework, the runtime versions, the Procfile's
 * processes and how the app is reached. Nothing here changes how a deploy builds.
 */
import type { ProjectPreview } from "../contract/api.ts";
import {
  choosePackageManager,
  DetectError,
  type DetectResult,
  type DetectSettings,
  detectProject,
  filesUnder,
  type ProjectFiles,
  procfileProcesses,
  type Runtime,
  readPackageJson,
  STATIC_DIRS,
} from "./detect.ts";
import { detectFramework as frameworkOf, type PackageJson } from "./frameworks.ts";

type PackageManagerFound = NonNullable<ProjectPreview["packageManager"]>;
type Framework = NonNullable<ProjectPreview["framework"]>;
type ProcfilePreview = NonNullable<ProjectPreview["procfile"]>;

function readPackage(files: ProjectFiles): PackageJson | null {
  try {
    return readPackageJson(files);
  } catch {
    return null;
  }
}

/** The package manager the project declares: `packageManager` in package.json ("pnpm@9.1.0"), else its lock file. */
export function detectPackageManager(files: ProjectFiles, root: ProjectFiles = files): PackageManagerFound | null {
  const pkg = readPackage(files);
  if (!pkg) return null;
  const pm = choosePackageManager(files, root, pkg, null);
  return pm ? { name: pm.name, source: pm.source } : null;
}

/** The framework, best-effort, from package.json's dependencies and devDependencies. */
export function detectFramework(files: ProjectFiles): Framework | null {
  return frameworkOf(readPackage(files));
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
      "Each slot's process is started with PORT set to its own port and HOST=127.0.0.1; the app must listen on it (on 127.0.0.1 or all addresses). nginx reaches it through Switchyard, so nothing else needs configuring.",
  };
}

/** The wizard's preview of a checkout, decided by the deploy's own detection with the settings given. */
export async function previewProject(checkout: ProjectFiles, settings: DetectSettings): Promise<ProjectPreview> {
  const rootDir = settings.rootDir || null;
  const files = filesUnder(checkout, rootDir);
  const framework = detectFramework(files);
  const pm = readPackage(files) ? choosePackageManager(files, checkout, readPackage(files), settings.packageManager) : null;
  const common = {
    packageManager: pm ? { name: pm.name, source: pm.source } : null,
    framework,
    procfile: readProcfile(files),
    rootDir,
  };
  let detected: DetectResult;
  try {
    detected = await detectProject(checkout, settings);
  } catch (error) {
    if (!(error instanceof DetectError)) throw error;
    return {
      ...common,
      runtime: settings.runtime ?? null,
      installCommand: settings.installCommand ?? null,
      buildCommand: settings.buildCommand ?? null,
      startCommand: settings.startCommand ?? null,
      releaseCommand: settings.releaseCommand ?? null,
      outputDir: settings.outputDir ?? null,
      port: portHandling(settings.runtime ?? null),
      notes: [],
      problem: error.message,
      versions: { bun: null, node: null },
      processes: procfileProcesses(files),
    };
  }
  const inRoot = (dir: string | null) => (dir && rootDir ? (dir === "." ? rootDir : `${rootDir}/${dir}`) : dir);
  const outputDir =
    detected.runtime !== "static"
      ? null
      : (detected.staticDir ?? inRoot(predictedOutputDir(files, framework)) ?? (detected.build ? null : (rootDir ?? ".")));
  const notes = [...detected.notes];
  if (detected.runtime === "static" && !detected.staticDir && outputDir) {
    notes.push(`Output: ${outputDir}/ once the build has run (${framework?.name ?? "build"} default).`);
  } else if (detected.runtime === "static" && !outputDir) {
    notes.push(`Output: the first of ${STATIC_DIRS.map((d) => `${d}/`).join(", ")} the build leaves an index.html in.`);
  }
  if (detected.runtimes.bun || detected.runtimes.node)
    notes.push("Runtime versions: the newest matching version is installed from npm at deploy.");
  return {
    ...common,
    packageManager: detected.packageManager
      ? { name: detected.packageManager.name, source: detected.packageManager.source }
      : common.packageManager,
    runtime: detected.runtime,
    installCommand: commandText(detected.install),
    buildCommand: detected.build,
    startCommand: detected.start,
    releaseCommand: detected.release,
    outputDir,
    port: portHandling(detected.runtime),
    notes,
    problem: null,
    versions: detected.runtimes,
    processes: detected.processes,
  };
}
