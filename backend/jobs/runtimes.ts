/**
 * Per-app runtime versions (Bun, Node): resolved at build time from the app's settings,
 * `.bun-version`, `.nvmrc`, `.node-version` or `engines`, installed from npm into a shared cache,
 * and recorded in the release's details (`details.versions`).
 */

/** What a release records of its runtimes: the exact versions and where their binaries are. */
export interface ReleaseRuntimes {
  bun: string | null;
  node: string | null;
  /** Directories to put first on PATH (each holds a `bun` or `node`), outermost first. */
  binDirs: string[];
}

/** The directories a release's processes need first on PATH for its pinned runtimes ([] when none are pinned). */
export function runtimeBinDirs(details: Record<string, unknown> | null | undefined): string[] {
  const versions = details?.versions as Partial<ReleaseRuntimes> | undefined;
  return Array.isArray(versions?.binDirs) ? versions.binDirs.filter((d): d is string => typeof d === "string") : [];
}
