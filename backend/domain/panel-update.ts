/**
 * Pure decisions of the panel's own blue-green update: which slot is idle, what the changelog
 * says, which kept versions may go.
 */

export type PanelSlot = "blue" | "green";

/** How many versions besides the running one stay on disk for a manual rollback. */
export const KEPT_PANEL_VERSIONS = 3;

export const REVISION_PATTERN = /^[0-9a-f]{7,40}$/;

export function otherSlot(slot: PanelSlot): PanelSlot {
  return slot === "blue" ? "green" : "blue";
}

export interface SourceCommit {
  /** The short (12) revision, as release directories are named. */
  revision: string;
  sha: string;
  subject: string;
  author: string;
  date: string;
  tags: string[];
}

/** Unit and record separators keep subjects with any punctuation intact. */
export const LOG_FORMAT = "%H%x1f%an%x1f%aI%x1f%D%x1f%s%x1e";

/** Parses `git log --format=LOG_FORMAT` output, newest first. */
export function parseLog(text: string): SourceCommit[] {
  return text
    .split("\x1e")
    .map((record) => record.replace(/^\n/, ""))
    .filter((record) => record.includes("\x1f"))
    .map((record) => {
      const [sha = "", author = "", date = "", refs = "", subject = ""] = record.split("\x1f");
      const tags = refs
        .split(",")
        .map((r) => r.trim())
        .filter((r) => r.startsWith("tag: "))
        .map((r) => r.slice(5));
      return { revision: sha.slice(0, 12), sha, subject: subject.trim(), author, date, tags };
    });
}

export interface KeptRelease {
  revision: string;
  installedAt: Date;
}

/**
 * Releases to delete: all but the ones in use (the slots point at them) and the newest
 * KEPT_PANEL_VERSIONS others.
 */
export function panelReleasesToPrune(releases: KeptRelease[], inUse: Iterable<string>, keep = KEPT_PANEL_VERSIONS): string[] {
  const used = new Set(inUse);
  return releases
    .filter((r) => !used.has(r.revision))
    .sort((a, b) => b.installedAt.getTime() - a.installedAt.getTime())
    .slice(keep)
    .map((r) => r.revision);
}

/** Why the watched new panel counts as failed, or null while it is fine. */
export function watchVerdict(o: { active: boolean; restarts: number; failedChecks: number; maxFailedChecks?: number }): string | null {
  if (!o.active) return "its process stopped";
  if (o.restarts > 0) return `its process crashed and was restarted (${o.restarts}×)`;
  if (o.failedChecks >= (o.maxFailedChecks ?? 3)) return `its health check failed ${o.failedChecks} times in a row`;
  return null;
}
