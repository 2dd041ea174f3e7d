/** A form of whole-number settings (owner): loads them, checks each against its range, saves only what changed. */

import { ApiError } from "#lib/api/client.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export interface NumberSettingsOptions<T extends { [K in keyof T]: number }> {
  /** Each setting with its allowed range. */
  fields: readonly { key: keyof T & string; min: number; max: number }[];
  get: (signal: AbortSignal | undefined) => Promise<T>;
  set: (change: Partial<T>) => Promise<T>;
  /** What the settings are called in messages, like "build settings". */
  noun: string;
  /** The toast once saved: its title and description. */
  saved: [title: string, description: string];
}

export class NumberSettingsForm<T extends { [K in keyof T]: number }> {
  readonly settings: Resource<T | null>;
  readonly busy = new Busy();
  /** What the settings are called in messages, like "build settings". */
  readonly noun: string;
  values = $state<Record<keyof T & string, string>>({} as Record<keyof T & string, string>);
  #errors = $state<Partial<Record<keyof T & string, string>>>({});
  readonly #options: NumberSettingsOptions<T>;

  constructor(options: NumberSettingsOptions<T>) {
    this.#options = options;
    this.noun = options.noun;
    this.settings = new Resource<T | null>(null, options.get, { failure: `Could not load the ${options.noun}.` });
    this.values = Object.fromEntries(options.fields.map((f) => [f.key, ""])) as Record<keyof T & string, string>;
  }

  get errors(): Partial<Record<keyof T & string, string>> {
    return this.#errors;
  }

  get dirty(): boolean {
    const saved = this.settings.value;
    return !!saved && this.#options.fields.some((f) => this.values[f.key] !== String(saved[f.key]));
  }

  async load(): Promise<void> {
    if (await this.settings.load()) this.reset();
  }

  reset(): void {
    const saved = this.settings.value;
    if (saved)
      this.values = Object.fromEntries(this.#options.fields.map((f) => [f.key, String(saved[f.key])])) as Record<keyof T & string, string>;
    this.#errors = {};
  }

  async save(): Promise<void> {
    const saved = this.settings.value;
    if (!saved || this.busy.running) return;
    const errors: Partial<Record<keyof T & string, string>> = {};
    const change: Partial<T> = {};
    for (const f of this.#options.fields) {
      const raw = this.values[f.key]?.trim() ?? "";
      const n = Number(raw);
      if (raw === "" || !Number.isInteger(n) || n < f.min || n > f.max) errors[f.key] = `A whole number from ${f.min} to ${f.max}.`;
      else if (n !== saved[f.key]) change[f.key] = n as T[keyof T & string];
    }
    this.#errors = errors;
    if (Object.keys(errors).length || Object.keys(change).length === 0) return;
    const next = await this.busy.run(() => this.#options.set(change), {
      title: `Couldn't save the ${this.#options.noun}`,
      onError: (error) => {
        if (!(error instanceof ApiError && error.code === "validation_failed")) return false;
        this.#errors = error.fieldErrors() as Partial<Record<keyof T & string, string>>;
        return true;
      },
    });
    if (!next) return;
    this.settings.value = next;
    this.reset();
    toasts.success(...this.#options.saved);
  }
}
