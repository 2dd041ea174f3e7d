/** The retention settings form (owner): how long jobs, history, figures and runtime logs are kept. */
import { getRetention, type Retention, setRetention } from "#lib/api/metrics.ts";
import { NumberSettingsForm } from "./number-settings.svelte.ts";

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

/** The retention settings form (owner); see NumberSettingsForm. Every setting is at least 1. */
export class RetentionForm extends NumberSettingsForm<Retention> {
  constructor() {
    super({
      fields: RETENTION_FIELDS.flatMap((g) => g.fields.map((f) => ({ key: f.key, min: 1, max: f.max }))),
      get: (signal) => getRetention({ signal }),
      set: setRetention,
      noun: "retention settings",
      saved: ["Retention saved", "The next prune applies it."],
    });
  }
}
