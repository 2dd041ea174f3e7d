/**
 * Pure decisions about cron jobs: which schedules and time zones are accepted, when a job is next
 * due, and the same schedule as a systemd timer's OnCalendar= (server mode runs jobs by timers).
 *
 * A schedule has five fields (minute hour day-of-month month day-of-week), six with seconds first,
 * or a nickname (@hourly, @daily, …). Only schedules a systemd timer can express are accepted, in
 * both modes, so an app's cron jobs mean the same on a laptop and on a server.
 */
import { Cron } from "croner";
import { z } from "zod";
import { CRON_OVERLAP_POLICIES } from "../contract/api.ts";

export const MAX_CRON_JOBS_PER_APP = 50;
export const MAX_CRON_TIMEOUT_SEC = 86_400;
/** The output a run keeps: its last 64 KiB. */
export const CRON_OUTPUT_LIMIT = 64 * 1024;

const NICKNAMES: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const SYSTEMD_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

export type ScheduleCheck = { ok: true; schedule: string; onCalendar: string } | { ok: false; message: string };

/** Six fields (seconds first) of a schedule, from five, six or a nickname. */
function sixFields(schedule: string): string[] {
  const expanded = NICKNAMES[schedule.toLowerCase()] ?? schedule;
  const fields = expanded.split(" ");
  return fields.length === 5 ? ["0", ...fields] : fields;
}

class Unexpressible extends Error {}

interface FieldRange {
  min: number;
  max: number;
  names?: string[];
}

const FIELD_RANGES: FieldRange[] = [
  { min: 0, max: 59 },
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTHS },
  { min: 0, max: 7, names: DAYS },
];

/** The values a cron field matches, or null for every value (`*`, `?`). */
function fieldValues(field: string, range: FieldRange): number[] | null {
  if (field === "*" || field === "?") return null;
  const values = new Set<number>();
  const value = (text: string): number => {
    const named = range.names?.indexOf(text.toLowerCase()) ?? -1;
    if (named >= 0) return named + (range.names === MONTHS ? 1 : 0);
    if (!/^\d+$/.test(text)) throw new Unexpressible(`"${text}" has no systemd timer equivalent`);
    return Number(text);
  };
  for (const part of field.split(",")) {
    const [span = "", stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Unexpressible(`"${part}" has no systemd timer equivalent`);
    let from: number;
    let to: number;
    if (span === "*") [from, to] = [range.min, range.max];
    else if (span.includes("-")) {
      const [a = "", b = ""] = span.split("-");
      [from, to] = [value(a), value(b)];
    } else {
      from = value(span);
      to = stepText === undefined ? from : range.max;
    }
    for (let v = from; v <= to; v += step) values.add(range === FIELD_RANGES[5] && v === 7 ? 0 : v);
  }
  return [...values].sort((a, b) => a - b);
}

/** Values as systemd writes them: runs of three or more become `a..b`. */
function compact(values: number[], pad: boolean): string {
  const show = (v: number) => (pad ? String(v).padStart(2, "0") : String(v));
  const parts: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === (values[j] ?? 0) + 1) j++;
    const a = values[i] ?? 0;
    const b = values[j] ?? 0;
    if (j - i >= 2) parts.push(`${show(a)}..${show(b)}`);
    else for (let k = i; k <= j; k++) parts.push(show(values[k] ?? 0));
    i = j + 1;
  }
  return parts.join(",");
}

/**
 * The schedule as systemd's OnCalendar= (`[DOW] *-MM-DD hh:mm:ss TZ`). Throws Unexpressible for
 * what a timer cannot say: `L`, `W`, `#`, and a day-of-month together with a day-of-week (cron
 * runs when either matches; a timer only when both do).
 */
function toOnCalendar(schedule: string, timezone: string): string {
  const [sec = "", min = "", hour = "", dom = "", month = "", dow = ""] = sixFields(schedule);
  const at = (field: string, i: number, pad: boolean) => {
    // `*/n` is systemd's own repetition (`00/2`), shorter than the list it stands for.
    const every = /^\*\/(\d+)$/.exec(field);
    const range = FIELD_RANGES[i] as FieldRange;
    if (every && i !== 5) return `${String(range.min).padStart(2, "0")}/${every[1]}`;
    const values = fieldValues(field, FIELD_RANGES[i] as FieldRange);
    return values === null ? "*" : compact(values, pad);
  };
  const days = fieldValues(dow, FIELD_RANGES[5] as FieldRange);
  const daysOfMonth = fieldValues(dom, FIELD_RANGES[3] as FieldRange);
  if (days !== null && daysOfMonth !== null && days.length < 7) {
    throw new Unexpressible("a day of the month together with a day of the week cannot run as a systemd timer; use one of them");
  }
  const weekday = days === null || days.length === 7 ? "" : `${days.map((d) => SYSTEMD_DAYS[d]).join(",")} `;
  const date = `*-${at(month, 4, true)}-${at(dom, 3, true)}`;
  const time = `${at(hour, 2, true)}:${at(min, 1, true)}:${at(sec, 0, true)}`;
  return `${weekday}${date} ${time}${timezone === "UTC" ? " UTC" : ` ${timezone}`}`;
}

/** Whether the name is a time zone this machine knows. */
export function isTimezone(name: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(name)) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** A schedule, checked by croner and translated for systemd; the reason in words when refused. */
export function checkSchedule(input: string, timezone = "UTC"): ScheduleCheck {
  const schedule = input.trim().replace(/\s+/g, " ");
  if (!schedule) return { ok: false, message: "must be a cron expression such as */15 * * * * (every 15 minutes)" };
  const fields = (NICKNAMES[schedule.toLowerCase()] ?? schedule).split(" ").length;
  if (!schedule.startsWith("@") && fields !== 5 && fields !== 6) {
    return { ok: false, message: `has ${fields} fields; a cron expression has 5 (minute hour day month weekday), or 6 with seconds first` };
  }
  try {
    const job = new Cron(schedule, { timezone, paused: true, mode: "5-or-6-parts" });
    const next = job.nextRun(new Date());
    job.stop();
    if (!next) return { ok: false, message: "never matches a date" };
  } catch (error) {
    return { ok: false, message: `is not a valid cron expression: ${(error as Error).message.replace(/^CronPattern: /, "")}` };
  }
  try {
    return { ok: true, schedule, onCalendar: toOnCalendar(schedule, timezone) };
  } catch (error) {
    if (error instanceof Unexpressible) return { ok: false, message: `is not supported: ${error.message}` };
    throw error;
  }
}

/** The next `count` times the schedule is due after `after`. */
export function nextRuns(schedule: string, timezone: string, after: Date, count = 1): Date[] {
  try {
    const job = new Cron(schedule, { timezone, paused: true, mode: "5-or-6-parts" });
    const runs = job.nextRuns(count, after);
    job.stop();
    return runs;
  } catch {
    return [];
  }
}

/** The schedule's OnCalendar= (for a schedule checkSchedule accepted). */
export function onCalendar(schedule: string, timezone: string): string {
  const check = checkSchedule(schedule, timezone);
  if (!check.ok) throw new Error(`schedule ${schedule} ${check.message}`);
  return check.onCalendar;
}

const command = z
  .string({ error: "must be a shell command" })
  .trim()
  .min(1, "must not be empty")
  .max(4000, "must be at most 4000 characters")
  .refine((c) => !/[\r\n\0]/.test(c), "must be one line (put longer scripts in a file of the app and run that)");

const fields = {
  name: z
    .string({ error: "must be a name" })
    .trim()
    .min(1, "must not be empty")
    .max(100, "must be at most 100 characters")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
    .refine((n) => !/[\u0000-\u001f]/.test(n), "must not contain control characters"),
  schedule: z.string({ error: "must be a cron expression" }).max(200, "must be at most 200 characters"),
  command,
  timezone: z
    .string({ error: "must be a time zone" })
    .refine(isTimezone, "is not a known time zone (use an IANA name such as Europe/Berlin)"),
  overlap: z.enum(CRON_OVERLAP_POLICIES, { error: "must be skip or queue" }),
  timeoutSec: z
    .number({ error: "must be a number of seconds" })
    .int("must be a whole number of seconds")
    .min(1, "must be at least 1 second")
    .max(MAX_CRON_TIMEOUT_SEC, "must be at most 86400 seconds (a day)"),
  enabled: z.boolean({ error: "must be true or false" }),
};

/** The schedule in its time zone; the issue names `schedule` with croner's or systemd's reason. */
function refineSchedule(value: { schedule?: string | undefined; timezone?: string | undefined }, ctx: z.RefinementCtx): void {
  // A bad time zone is named on its own; the schedule is judged once there is a zone to read it in.
  if (value.schedule === undefined || (value.timezone !== undefined && !isTimezone(value.timezone))) return;
  const check = checkSchedule(value.schedule, value.timezone ?? "UTC");
  if (!check.ok) ctx.addIssue({ code: "custom", path: ["schedule"], message: check.message });
}

export const cronJobInputSchema = z
  .strictObject({
    name: fields.name,
    schedule: fields.schedule,
    command: fields.command,
    timezone: fields.timezone.default("UTC"),
    overlap: fields.overlap.default("skip"),
    timeoutSec: fields.timeoutSec.default(3600),
    enabled: fields.enabled.default(true),
  })
  .superRefine(refineSchedule)
  .transform((v) => ({ ...v, schedule: v.schedule.trim().replace(/\s+/g, " ") }));

/** A PATCH: any of the fields; the schedule is checked against the time zone it will have. */
export const cronJobPatchSchema = z.strictObject({
  name: fields.name.optional(),
  schedule: fields.schedule.optional(),
  command: fields.command.optional(),
  timezone: fields.timezone.optional(),
  overlap: fields.overlap.optional(),
  timeoutSec: fields.timeoutSec.optional(),
  enabled: fields.enabled.optional(),
});

export type CronJobInputValues = z.output<typeof cronJobInputSchema>;
export type CronJobPatch = z.output<typeof cronJobPatchSchema>;

/** The job's fields after a PATCH, or the reason the new schedule/time zone pair is refused. */
export function applyPatch<T extends CronJobInputValues>(
  job: T,
  patch: CronJobPatch,
): { ok: true; job: T } | { ok: false; message: string } {
  const next = { ...job };
  for (const [key, value] of Object.entries(patch)) if (value !== undefined) (next as Record<string, unknown>)[key] = value;
  const check = checkSchedule(next.schedule, next.timezone);
  if (!check.ok) return { ok: false, message: check.message };
  return { ok: true, job: { ...next, schedule: check.schedule } };
}

/** The tail of a run's output: at most CRON_OUTPUT_LIMIT bytes, cut at a line start. */
export function outputTail(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= CRON_OUTPUT_LIMIT) return text;
  const tail = bytes.subarray(bytes.length - CRON_OUTPUT_LIMIT).toString("utf8");
  const newline = tail.indexOf("\n");
  return newline >= 0 ? tail.slice(newline + 1) : tail;
}

/** The 8 hex digits of a cron job's id that name its systemd units. */
export function cronUnitId(jobId: string): string {
  return jobId.replace(/-/g, "").slice(0, 8).toLowerCase();
}
