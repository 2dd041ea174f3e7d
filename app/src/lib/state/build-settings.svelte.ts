/** The build settings form (owner): how many builds run at once, and the memory each may use. */

import { getBuildSettings, setBuildSettings } from "#lib/api/builds.ts";
import { ApiError } from "#lib/api/client.ts";
import type { BuildSettings } from "#lib/api/types.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

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

const text = (b: BuildSettings) => ({ concurrency: String(b.concurrency), memoryMaxMb: String(b.memoryMaxMb) });

export class BuildSettingsForm {
  readonly settings = new Resource<BuildSettings | null>(null, (signal) => getBuildSettings({ signal }), {
    failure: "Could not load the build settings.",
  });
  readonly busy = new Busy();
  values = $state<Record<BuildKey, string>>({ concurrency: "", memoryMaxMb: "" });
  #errors = $state<Partial<Record<BuildKey, string>>>({});

  get errors(): Partial<Record<BuildKey, string>> {
    return this.#errors;
  }

  get dirty(): boolean {
    const saved = this.settings.value;
    return !!saved && BUILD_FIELDS.some((f) => this.values[f.key] !== String(saved[f.key]));
  }

  async load(): Promise<void> {
    if (await this.settings.load()) this.reset();
  }

  reset(): void {
    if (this.settings.value) this.values = text(this.settings.value);
    this.#errors = {};
  }

  async save(): Promise<void> {
    const saved = this.settings.value;
    if (!saved || this.busy.running) return;
    const errors: Partial<Record<BuildKey, string>> = {};
    const change: Partial<BuildSettings> = {};
    for (const f of BUILD_FIELDS) {
      const raw = this.values[f.key]?.trim() ?? "";
      const n = Number(raw);
      if (raw === "" || !Number.isInteger(n) || n < f.min || n > f.max) errors[f.key] = `A whole number from ${f.min} to ${f.max}.`;
      else if (n !== saved[f.key]) change[f.key] = n;
    }
    this.#errors = errors;
    if (Object.keys(errors).length || Object.keys(change).length === 0) return;
    const next = await this.busy.run(() => setBuildSettings(change), {
      title: "Couldn't save the build settings",
      onError: (error) => {
        if (!(error instanceof ApiError && error.code === "validation_failed")) return false;
        this.#errors = error.fieldErrors() as Partial<Record<BuildKey, string>>;
        return true;
      },
    });
    if (!next) return;
    this.settings.value = next;
    this.reset();
    toasts.success("Build settings saved", "The next build command applies them.");
  }
}
