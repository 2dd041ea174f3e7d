import { requireGuest } from "#lib/guard.ts";
import type { PageLoad } from "./$types";

export const load: PageLoad = async ({ url }) => {
  await requireGuest(url);
};
