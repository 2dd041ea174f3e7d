/** The build settings form (owner): how many builds run at once, and the memory each may use. */

import { getBuildSettings, setBuildSettings } from "#lib/api/builds.ts";
import type { BuildSettings } from "#lib/api/types.ts";
import { NumberSettingsForm } from "./number-settings.svelte.ts";

export type BuildKey = keyof BuildSettings;

export const BUILD_FIELDS: { key: BuildKey; label: string; unit: string; min: number; max: number; hint: string }[] = [
  {
    key: "concurrency",
    label: "Builds at once",
    unit: "builds",
    min: 1,
    max: 8,
    hint: "More deploys wait for a free build slot before they fetch. Going live never waits.",
  },
  {
    key: "memoryMaxMb",
    label: "Memory per build",
    unit: "MiB",
    min: 256,
    max: 65_536,
    hint: "A build that uses more is stopped and its deploy fails; the live release keeps serving.",
  },
];

/** The build settings form (owner); see NumberSettingsForm. */
export class BuildSettingsForm extends NumberSettingsForm<BuildSettings> {
  constructor() {
    super({
      fields: BUILD_FIELDS,
      get: (signal) => getBuildSettings({ signal }),
      set: setBuildSettings,
      noun: "build settings",
      saved: ["Build settings saved", "The next build command applies them."],
    });
  }
}
