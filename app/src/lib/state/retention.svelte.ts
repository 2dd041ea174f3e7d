/** The retention settings form (owner): how long jobs, history, figures and runtime logs are kept. */
import { ApiError } from "#lib/api/client.ts";
import { getRetention, type Retention, setRetention } from "#lib/api/metrics.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export type RetentionKey = keyof Retention;

export const RETENTION_FIELDS: {
  group: string;
  fields: { key: RetentionKey; label: string; unit: string; max: number; hint: string }[];
}[] = [
  {
    group: "Jobs and history",
    fields: [
      { key: "jobDays", label: "Finished jobs", unit: "days", max: 3650, hint: "With their steps and logs." },
      { key: "jobsPerApp", label: "Jobs kept per app", unit: "jobs", max: 10_000, hint: "The latest are kept whatever their age." },
      {
        key: "deliveryDays",
        label: "Deliveries",
        unit: "days",
        max: 3650,
        hint: "Received pushes and sent notifications, with their outcome.",
      },
      { key: "auditDays", label: "Audit log", unit: "days", max: 3650, hint: "Who changed what." },
    ],
  },
  {
    group: "Figures and runtime logs",
    fields: [
      { key: "minuteDays", label: "Per-minute figures", unit: "days", max: 90, hint: "Requests and resources per minute." },
      { key: "hourDays", label: "Per-hour figures", unit: "days", max: 3650, hint: "Rolled up from the minutes." },
      { key: "dayDays", label: "Per-day figures", unit: "days", max: 3650, hint: "The daily summaries." },
      { key: "logDays", label: "Runtime logs", unit: "days", max: 3650, hint: "What the apps print." },
      { key: "logMaxMb", label: "Runtime logs per app", unit: "MB", max: 100_000, hint: "The oldest lines go beyond this." },
    ],
  },
];

const KEYS = RETENTION_FIELDS.flatMap((g) => g.fields.map((f) => f.key));
const text = (r: Retention) => Object.fromEntries(KEYS.map((k) => [k, String(r[k])])) as Record<RetentionKey, string>;

export class RetentionForm {
  readonly settings = new Resource<Retention | null>(null, (signal) => getRetention({ signal }), {
    failure: "Could not load the retention settings.",
  });
  readonly busy = new Busy();
  values = $state<Record<RetentionKey, string>>({} as Record<RetentionKey, string>);
  #errors = $state<Partial<Record<RetentionKey, string>>>({});

  get errors(): Partial<Record<RetentionKey, string>> {
    return this.#errors;
  }

  get dirty(): boolean {
    const saved = this.settings.value;
    return !!saved && KEYS.some((k) => this.values[k] !== String(saved[k]));
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
    const errors: Partial<Record<RetentionKey, string>> = {};
    const change: Partial<Retention> = {};
    for (const group of RETENTION_FIELDS) {
      for (const f of group.fields) {
        const raw = this.values[f.key]?.trim() ?? "";
        const n = Number(raw);
        if (!Number.isInteger(n) || n < 1 || n > f.max || raw === "") errors[f.key] = `A whole number from 1 to ${f.max}.`;
        else if (n !== saved[f.key]) change[f.key] = n;
      }
    }
    this.#errors = errors;
    if (Object.keys(errors).length || Object.keys(change).length === 0) return;
    const next = await this.busy.run(() => setRetention(change), {
      title: "Couldn't save the retention settings",
      onError: (error) => {
        if (!(error instanceof ApiError && error.code === "validation_failed")) return false;
        this.#errors = error.fieldErrors() as Partial<Record<RetentionKey, string>>;
        return true;
      },
    });
    if (!next) return;
    this.settings.value = next;
    this.reset();
    toasts.success("Retention saved", "The next prune applies it.");
  }
}
