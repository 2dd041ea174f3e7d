export { APP_NAME_PATTERN } from "../db/schema/apps.ts";

export const SLOT_COLORS = ["blue", "green"] as const;

export class DomainTakenError extends Error {
  override name = "DomainTakenError";
}
