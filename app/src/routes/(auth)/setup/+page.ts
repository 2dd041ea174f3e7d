import { requireSetupNeeded } from "#lib/guard.ts";
import type { PageLoad } from "./$types";

export const load: PageLoad = async () => {
  await requireSetupNeeded();
};
