import { requireUser } from "#lib/guard.ts";
import type { LayoutLoad } from "./$types";

export const load: LayoutLoad = async ({ url }) => {
  await requireUser(url);
};
