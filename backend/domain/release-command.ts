/**
 * The release command a live release runs again: the app's setting when there is one (as at a
 * deploy, settings win), else the command the release was deployed with (its Procfile's release: line).
 */
export function releaseCommandOf(setting: string | null, release: { details: Record<string, unknown> | null } | null): string | null {
  if (setting?.trim()) return setting;
  const recorded = release?.details?.releaseCommand;
  return typeof recorded === "string" && recorded.trim() ? recorded : null;
}
