export { APP_NAME_PATTERN } from "../db/schema/apps.ts";

export const SLOT_COLORS = ["blue", "green"] as const;

/** Joins an app's name to a slot in preview host names: `<app>--blue.localhost`. */
export const PREVIEW_SEPARATOR = "--";

/**
 * Rules for a new app's name beyond its pattern: a name holding the preview separator could be
 * another app's preview host (`app1--blue` is app1's blue slot).
 */
export function newAppNameProblem(name: string): string | null {
  if (name.includes(PREVIEW_SEPARATOR)) {
    return `must not contain ${PREVIEW_SEPARATOR}: it joins an app's name to its slot in preview host names such as app1${PREVIEW_SEPARATOR}blue.localhost`;
  }
  return null;
}

/**
 * A repository URL must spell out its form: `https://host/…`, `http://host/…` or `file:///absolute/path`.
 * URL parsing forgives `file:relative` (read as file:///relative) and `https:host`; git does not.
 */
export class DomainTakenError extends Error {
  override name = "DomainTakenError";
}
