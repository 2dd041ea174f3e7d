/**
 * Per-app runtime versions (Bun, Node) and package managers: resolved at build time from what the
 * app asks for (domain/runtime-versions.ts), installed from npm into a shared cache
 * (`$DATA/cache/runtimes/<bun|node>/<version>/`, `$DATA/cache/tools/<name>@<version>/`), and
 * recorded in the release's details (`details.versions`) for every process of the release.
 */
import { join } from "node:path";
import {
  cpuHasAvx2,
  installPackage,
  latestVersion,
  machineVersion,
  onPath,
  publishedVersions,
  RegistryError,
} from "../adapters/npm-registry.ts";
import type { ReleaseVersions } from "../contract/api.ts";
import type { PackageManagerChoice } from "../domain/detect.ts";
import { binaryPackage, pickVersion, type RuntimeName, type RuntimeRequests } from "../domain/runtime-versions.ts";
import { JobFailed } from "./orchestrator.ts";

/** What a release records of its runtimes: the exact versions and where their binaries are. */
export type ReleaseRuntimes = ReleaseVersions;

/** The directories a release's processes need first on PATH for its pinned runtimes ([] when none are pinned). */
export function runtimeBinDirs(details: Record<string, unknown> | null | undefined): string[] {
  const versions = details?.versions as Partial<ReleaseRuntimes> | undefined;
  return Array.isArray(versions?.binDirs) ? versions.binDirs.filter((d): d is string => typeof d === "string") : [];
}

/** A pinned runtime: the exact version that satisfies the app's request, and the npm package that holds it. */
export interface ResolvedRuntime {
  name: RuntimeName;
  version: string;
  range: string;
  source: string;
  packageName: string;
}

export interface ResolvedRuntimes {
  bun: ResolvedRuntime | null;
  node: ResolvedRuntime | null;
}

const label = (name: RuntimeName) => (name === "bun" ? "Bun" : "Node");

/** The exact versions for the app's requests, from the npm registry; a range nothing satisfies fails the deploy. */
export async function resolveRuntimes(requests: RuntimeRequests, signal?: AbortSignal): Promise<ResolvedRuntimes> {
  const out: ResolvedRuntimes = { bun: null, node: null };
  for (const name of ["bun", "node"] as const) {
    const request = requests[name];
    if (!request) continue;
    const packageName = binaryPackage(name, process.arch, { avx2: cpuHasAvx2() });
    let published: string[];
    try {
      published = await publishedVersions(packageName, signal);
    } catch (error) {
      if (error instanceof RegistryError) throw new JobFailed(`${label(name)} ${request.range} (from ${request.source}): ${error.message}`);
      throw error;
    }
    const version = pickVersion(request.range, published);
    if (!version) {
      const newest = pickVersion("*", published);
      throw new JobFailed(
        `No published ${label(name)} version matches "${request.range}" (from ${request.source})${newest ? `; the newest is ${newest}` : ""}.`,
      );
    }
    out[name] = { name, version, range: request.range, source: request.source, packageName };
  }
  return out;
}

/**
 * Installs the pinned runtimes (once per version, shared by every app) and answers what the
 * release records; unpinned ones are the panel's own Bun and the machine's node.
 */
export async function installRuntimes(
  dataDir: string,
  resolved: ResolvedRuntimes,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<ReleaseRuntimes> {
  const binDirs: string[] = [];
  const versions: ReleaseRuntimes = { bun: Bun.version, node: null, binDirs };
  for (const name of ["node", "bun"] as const) {
    const r = resolved[name];
    if (!r) continue;
    const dir = join(dataDir, "cache", "runtimes", name, r.version);
    let bin: string;
    try {
      bin = await installPackage(r.packageName, r.version, dir, signal);
    } catch (error) {
      if (error instanceof RegistryError) throw new JobFailed(`Installing ${label(name)} ${r.version}: ${error.message}`);
      throw error;
    }
    binDirs.push(bin);
    versions[name] = r.version;
    log(`${label(name)} ${r.version} (${r.range} from ${r.source}), from npm ${r.packageName}, in ${dir}.`);
  }
  if (!resolved.bun) log(`Bun ${Bun.version} (the panel's own).`);
  if (!resolved.node) {
    versions.node = await machineVersion("node", process.env.PATH ?? "/usr/bin:/bin");
    log(versions.node ? `Node ${versions.node} (the machine's).` : "Node: none on the machine, and none pinned.");
  }
  return versions;
}

/**
 * The release line installed when the project pins no version: the newest one published as plain
 * JavaScript that runs on the build's node with nothing else to download (pnpm 11 and later fetch
 * a native binary in an install script, which this install does not run).
 */
const DEFAULT_LINES: Record<string, string> = { pnpm: "10", yarn: "1", "@yarnpkg/cli-dist": "4" };

/** The npm package that ships a package manager at a version (Yarn 2+ is published as @yarnpkg/cli-dist). */
function managerPackage(pm: PackageManagerChoice, version: string | null): string {
  if (pm.name === "yarn" && (pm.berry || (version !== null && !version.startsWith("1.")))) return "@yarnpkg/cli-dist";
  return pm.name;
}

/**
 * A bin directory holding the package manager when the machine lacks it or the project pins a
 * version of it (`packageManager: pnpm@9.1.0`); null when the machine's (or the panel's Bun) does.
 */
export async function packageManagerBin(
  dataDir: string,
  pm: PackageManagerChoice,
  path: string,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<string | null> {
  if (pm.name === "bun") return null;
  const onMachine = onPath(pm.name, path);
  if (pm.name === "npm" || (onMachine && (!pm.version || (await machineVersion(pm.name, path)) === pm.version))) {
    if (pm.name === "npm" && pm.version) log(`npm ${pm.version} is asked for; using the machine's npm.`);
    if (!onMachine)
      throw new JobFailed("npm is not installed on this machine: install Node.js with npm, or choose another package manager.");
    return null;
  }
  const packageName = managerPackage(pm, pm.version);
  try {
    const line = DEFAULT_LINES[packageName];
    const version =
      pm.version ?? (line ? pickVersion(line, await publishedVersions(packageName, signal)) : await latestVersion(packageName, signal));
    if (!version) throw new JobFailed(`The npm registry names no ${line ? `${line}.x ` : "latest "}version of ${packageName}.`);
    const dir = join(dataDir, "cache", "tools", `${packageName.replace("/", "+")}@${version}`);
    const bin = await installPackage(packageName, version, dir, signal);
    log(`${pm.name} ${version} from npm (${packageName}) in ${dir}${onMachine ? "" : ": the machine has none"}.`);
    return bin;
  } catch (error) {
    if (error instanceof RegistryError) throw new JobFailed(`Installing ${pm.name}: ${error.message}`);
    throw error;
  }
}
