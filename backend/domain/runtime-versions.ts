/**
 * Which Bun and Node an app asks for (its settings, `.bun-version`, `.nvmrc`, `.node-version`,
 * `engines`) and which published version satisfies the request. Installing them is
 * jobs/runtimes.ts's; this only decides.
 */
import type { ProjectFiles } from "./detect.ts";

export type RuntimeName = "bun" | "node";

/** A runtime the app asks for: the range as written and where it was found. */
export interface RuntimeRequest {
  range: string;
  source: string;
}

export interface RuntimeRequests {
  bun: RuntimeRequest | null;
  node: RuntimeRequest | null;
}

export class RuntimeVersionError extends Error {
  override name = "RuntimeVersionError";
}

const COMPARATOR = /^(?:[~^]|>=|<=|>|<|=)?v?\d+(?:\.(?:\d+|x|X|\*)){0,2}(?:-[0-9A-Za-z.-]+)?$/;

/** A range as npm writes them (`22`, `^1.1.30`, `>=18 <21`, `^18 || ^20`, `20.x`), or null when it is not one. */
export function normalizeRange(text: string): string | null {
  const range = text
    .trim()
    .replace(/^v(?=\d)/, "")
    .replace(/\s+-\s+/g, " - ");
  if (range === "" || range.length > 60) return null;
  const parts = range.split("||").map((p) => p.trim());
  for (const part of parts) {
    if (part === "" || part === "*" || part === "x") continue;
    const hyphen = part.split(" - ");
    const tokens = hyphen.length === 2 ? hyphen : part.split(/\s+/);
    if (!tokens.every((t) => COMPARATOR.test(t.replace(/^v(?=\d)/, "")))) return null;
  }
  return range;
}

function readPackageEngines(files: ProjectFiles): Record<string, unknown> {
  const text = files.read("package.json");
  if (text === null) return {};
  try {
    const pkg = JSON.parse(text) as { engines?: unknown };
    return pkg.engines && typeof pkg.engines === "object" ? (pkg.engines as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function firstLine(text: string | null): string | null {
  if (text === null) return null;
  return (
    text
      .split("\n")
      .map((l) => l.replace(/#.*/, "").trim())
      .find((l) => l !== "") ?? null
  );
}

/** The version files and fields each runtime is read from, in order, after the app's setting. */
function fileRequests(files: ProjectFiles, name: RuntimeName): Array<{ text: string; source: string }> {
  const engines = readPackageEngines(files);
  const out: Array<{ text: string; source: string }> = [];
  const fromFile = (file: string) => {
    const line = firstLine(files.read(file));
    if (line !== null) out.push({ text: line, source: file });
  };
  if (name === "bun") fromFile(".bun-version");
  else {
    fromFile(".nvmrc");
    fromFile(".node-version");
  }
  const engine = engines[name];
  if (typeof engine === "string" && engine.trim() !== "") out.push({ text: engine, source: `engines.${name} in package.json` });
  return out;
}

/**
 * The Bun and Node versions the app asks for; null where it asks for none (the panel's Bun, the
 * machine's node). A request that is not a version or range is an error that names its source.
 */
export function requestedRuntimes(
  files: ProjectFiles,
  settings: { bunVersion?: string | null; nodeVersion?: string | null },
): RuntimeRequests {
  const pick = (name: RuntimeName, setting: string | null | undefined): RuntimeRequest | null => {
    const first = setting ? { text: setting, source: "the app's settings" } : fileRequests(files, name)[0];
    if (!first) return null;
    const range = normalizeRange(first.text);
    if (!range) {
      const hint =
        name === "node" && /^(lts|node|stable)/i.test(first.text.trim()) ? " (name a major version like 22 instead of an alias)" : "";
      throw new RuntimeVersionError(
        `${name === "bun" ? "Bun" : "Node"} version "${first.text.trim()}" from ${first.source} is not a version or range${hint}.`,
      );
    }
    return { range, source: first.source };
  };
  return { bun: pick("bun", settings.bunVersion), node: pick("node", settings.nodeVersion) };
}

/** The newest published version that satisfies the range (prereleases only when the range names one). */
export function pickVersion(range: string, published: string[]): string | null {
  const wantsPre = /-\w/.test(range);
  let best: string | null = null;
  for (const v of published) {
    if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(v)) continue;
    if (!wantsPre && v.includes("-")) continue;
    if (!Bun.semver.satisfies(v, range)) continue;
    if (best === null || Bun.semver.order(v, best) > 0) best = v;
  }
  return best;
}

/**
 * The npm package that holds a runtime's binary for this machine: the `bun` and `node` packages
 * only pick one of these in an install script, so the binary's own package is installed directly.
 */
export function binaryPackage(name: RuntimeName, arch: string, cpu: { avx2: boolean }): string {
  const a = arch === "arm64" ? "arm64" : "x64";
  if (name === "node") return `node-linux-${a}`;
  if (a === "arm64") return "@oven/bun-linux-aarch64";
  // Bun's default x64 build needs AVX2; the baseline build runs on older CPUs.
  return cpu.avx2 ? "@oven/bun-linux-x64" : "@oven/bun-linux-x64-baseline";
}
