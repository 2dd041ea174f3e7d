/**
 * The app settings form: the values being edited, what the server has, and the field errors
 * (checked here first, then as the server refuses them). Saving goes through the app's state.
 */
import type { ApiError } from "#lib/api/client.ts";
import type { App, AppSettings, PackageManager, Runtime } from "#lib/api/types.ts";
import type { AppDetail } from "./app-detail.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

/** The form's fields: the settings a user may change here (host names have their own tab, volumes their own card). */
export type Key = Exclude<keyof AppSettings, "domains" | "volumes">;
export type FormValues = Record<Key, string | boolean>;

export const NUMBERS: { key: Key; label: string; hint: string; min: number; max: number; unit: string }[] = [
  {
    key: "healthTimeoutSec",
    label: "Health timeout",
    hint: "How long a new release may take to answer before the deploy fails.",
    min: 1,
    max: 3600,
    unit: "s",
  },
  { key: "healthIntervalMs", label: "Health check interval", hint: "Time between checks while waiting.", min: 100, max: 60000, unit: "ms" },
  {
    key: "healthSuccesses",
    label: "Consecutive successes",
    hint: "Good answers in a row needed before the switch.",
    min: 1,
    max: 20,
    unit: "",
  },
  { key: "drainSeconds", label: "Drain", hint: "Time the old slot gets to finish in-flight requests.", min: 0, max: 600, unit: "s" },
  {
    key: "watchSeconds",
    label: "Watch",
    hint: "After the switch, errors in this window roll back automatically. 0 turns it off.",
    min: 0,
    max: 3600,
    unit: "s",
  },
  {
    key: "standbyTimeoutMin",
    label: "Standby timeout",
    hint: "The warm standby is stopped after this long. 0 keeps it running.",
    min: 0,
    max: 10080,
    unit: "min",
  },
  { key: "buildTimeoutSec", label: "Build timeout", hint: "Install and build must finish within this.", min: 10, max: 86400, unit: "s" },
];

/** The watch's thresholds: decimals, and the latency factor may be left empty (not judged). */
export const WATCH = {
  watchErrorRate: {
    label: "Watch: 5xx threshold",
    unit: "%",
    hint: "Rolls back when the new release answers this many more percent of requests with 5xx than the old one.",
    min: 0,
    max: 100,
  },
  watchLatencyFactor: {
    label: "Watch: p95 regression",
    unit: "×",
    hint: "Rolls back when its p95 latency is this many times the old release's (1.1 to 100). Empty: latency is not judged.",
    min: 1.1,
    max: 100,
  },
} as const;

/** Text settings where empty means "not set" (detected, or no limit). */
const OPTIONAL_TEXT: Key[] = [
  "installCommand",
  "buildCommand",
  "startCommand",
  "releaseCommand",
  "memoryMax",
  "cpuQuota",
  "rootDir",
  "outputDir",
  "bunVersion",
  "nodeVersion",
];

/** A version or range as npm takes it (`1.2`, `^1.1.30`, `>=20`): the server checks the same. */
const VERSION = /^(?:[~^]|>=|<=|>|<|=)?\d+(?:\.(?:\d+|x|\*)){0,2}(?:-[0-9A-Za-z.-]+)?$/;

/** 0.1 → "10"; 0.005 → "0.5". */
function percent(share: number): string {
  return String(Math.round(share * 100 * 100) / 100);
}

function valuesOf(app: App): FormValues {
  return {
    repoUrl: app.repoUrl,
    branch: app.branch,
    runtime: app.runtime ?? "",
    installCommand: app.installCommand ?? "",
    buildCommand: app.buildCommand ?? "",
    startCommand: app.startCommand ?? "",
    releaseCommand: app.releaseCommand ?? "",
    healthPath: app.healthPath ?? "/",
    healthTimeoutSec: String(app.healthTimeoutSec ?? 60),
    buildTimeoutSec: String(app.buildTimeoutSec ?? 900),
    healthIntervalMs: String(app.healthIntervalMs ?? 250),
    healthSuccesses: String(app.healthSuccesses ?? 1),
    drainSeconds: String(app.drainSeconds ?? 10),
    watchSeconds: String(app.watchSeconds ?? 60),
    watchErrorRate: percent(app.watchErrorRate ?? 0.1),
    watchLatencyFactor: app.watchLatencyFactor === null || app.watchLatencyFactor === undefined ? "" : String(app.watchLatencyFactor),
    standbyTimeoutMin: String(app.standbyTimeoutMin ?? 60),
    autoDeploy: app.autoDeploy ?? true,
    memoryMax: app.memoryMax ?? "",
    cpuQuota: app.cpuQuota ?? "",
    ioWeight: app.ioWeight === null || app.ioWeight === undefined ? "" : String(app.ioWeight),
    rootDir: app.rootDir ?? "",
    outputDir: app.outputDir ?? "",
    spaFallback: app.spaFallback ?? false,
    packageManager: app.packageManager ?? "",
    bunVersion: app.bunVersion ?? "",
    nodeVersion: app.nodeVersion ?? "",
  };
}

export class SettingsForm {
  readonly #detail: AppDetail;
  /** What the inputs show; bound by the form. */
  values = $state<FormValues>() as FormValues;
  #original = $state<FormValues>() as FormValues;
  #errors = $state<Partial<Record<Key, string>>>({});
  #formError = $state<string | null>(null);
  #dirty = $derived((Object.keys(this.values) as Key[]).some((k) => this.values[k] !== this.#original[k]));

  constructor(detail: AppDetail, app: App) {
    this.#detail = detail;
    this.values = valuesOf(app);
    this.#original = valuesOf(app);
  }

  get errors(): Partial<Record<Key, string>> {
    return this.#errors;
  }

  get formError(): string | null {
    return this.#formError;
  }

  get dirty(): boolean {
    return this.#dirty;
  }

  get saving(): boolean {
    return this.#detail.busy.is("settings");
  }

  str(key: Key): string {
    return String(this.values[key]);
  }

  /** Takes the server's values when they change underneath, unless the user is editing. */
  sync(app: App): void {
    const fresh = valuesOf(app);
    if (JSON.stringify(fresh) !== JSON.stringify(this.#original) && !this.#dirtyKeys().length) {
      this.values = fresh;
      this.#original = fresh;
    }
  }

  async save(): Promise<void> {
    if (this.saving || !this.#dirty) return;
    this.#errors = this.#validate();
    if (Object.keys(this.#errors).length > 0) {
      this.#formError = "Check the highlighted fields.";
      return;
    }
    this.#formError = null;
    const updated = await this.#detail.save(this.#patchBody(), (error) => this.#refused(error));
    if (!updated) return;
    this.values = valuesOf(updated);
    this.#original = valuesOf(updated);
    toasts.success("Settings saved", "They apply to the next deploy.");
  }

  reset(): void {
    this.values = { ...this.#original };
    this.#errors = {};
    this.#formError = null;
  }

  #refused(error: ApiError): boolean {
    if (error.code !== "validation_failed") return false;
    this.#errors = error.fieldErrors() as Partial<Record<Key, string>>;
    this.#formError = Object.keys(this.#errors).length ? "The server refused some values; they are highlighted." : error.message;
    return true;
  }

  #dirtyKeys(): Key[] {
    return (Object.keys(this.values) as Key[]).filter((k) => this.values[k] !== this.#original[k]);
  }

  #validate(): Partial<Record<Key, string>> {
    const out: Partial<Record<Key, string>> = {};
    const url = String(this.values.repoUrl).trim();
    if (!/^(https?|file):\/\/\S+$/.test(url)) out.repoUrl = "Use an https://, http:// or file:// address.";
    else if (/^https?:\/\/[^/]*@/.test(url)) out.repoUrl = "Leave credentials out of the address.";
    if (!String(this.values.branch).trim()) out.branch = "Enter a branch.";
    if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/.test(String(this.values.healthPath))) out.healthPath = "A path starting with /, no spaces.";
    for (const n of NUMBERS) {
      const raw = String(this.values[n.key]).trim();
      const num = Number(raw);
      if (raw === "" || !Number.isInteger(num) || num < n.min || num > n.max) out[n.key] = `A whole number from ${n.min} to ${n.max}.`;
    }
    const rate = String(this.values.watchErrorRate).trim();
    const rateNum = Number(rate);
    if (rate === "" || !Number.isFinite(rateNum) || rateNum < WATCH.watchErrorRate.min || rateNum > WATCH.watchErrorRate.max) {
      out.watchErrorRate = "A percentage from 0 to 100.";
    }
    const factor = String(this.values.watchLatencyFactor).trim();
    const factorNum = Number(factor);
    if (
      factor !== "" &&
      (!Number.isFinite(factorNum) || factorNum < WATCH.watchLatencyFactor.min || factorNum > WATCH.watchLatencyFactor.max)
    ) {
      out.watchLatencyFactor = "A factor from 1.1 to 100, or empty to not judge latency.";
    }
    if (this.values.memoryMax && !/^\d+[KMGT]?$/.test(String(this.values.memoryMax).trim())) out.memoryMax = "A size like 512M or 2G.";
    if (this.values.cpuQuota && !/^\d{1,4}%$/.test(String(this.values.cpuQuota).trim())) out.cpuQuota = "A percentage like 50% or 200%.";
    const io = String(this.values.ioWeight).trim();
    if (io !== "" && (!/^\d+$/.test(io) || Number(io) < 1 || Number(io) > 10000))
      out.ioWeight = "A whole number from 1 to 10000, or empty for the default.";
    for (const key of ["rootDir", "outputDir"] as const) {
      const dir = String(this.values[key]).trim();
      if (dir.startsWith("/") || dir.split("/").includes(".."))
        out[key] = "A path inside the repository, like apps/web (no leading /, no ..).";
    }
    for (const key of ["bunVersion", "nodeVersion"] as const) {
      const version = String(this.values[key])
        .trim()
        .replace(/^v(?=\d)/, "");
      if (version !== "" && !VERSION.test(version))
        out[key] = `A version or range, like ${key === "bunVersion" ? "1.2 or ^1.1.30" : "22 or >=20.10"}.`;
    }
    return out;
  }

  #patchBody(): Partial<AppSettings> {
    const body: Record<string, unknown> = {};
    for (const key of this.#dirtyKeys()) {
      const value = this.values[key];
      if (typeof value === "boolean") body[key] = value;
      else if (NUMBERS.some((n) => n.key === key)) body[key] = Number(value);
      else if (key === "watchErrorRate") body[key] = Number(value) / 100;
      else if (key === "watchLatencyFactor") body[key] = value.trim() === "" ? null : Number(value);
      else if (key === "runtime") body[key] = value === "" ? null : (value as Runtime);
      else if (key === "packageManager") body[key] = value === "" ? null : (value as PackageManager);
      else if (key === "ioWeight") body[key] = value.trim() === "" ? null : Number(value);
      else if (OPTIONAL_TEXT.includes(key)) body[key] = value.trim() === "" ? null : value.trim();
      else body[key] = value.trim();
    }
    return body as Partial<AppSettings>;
  }
}
