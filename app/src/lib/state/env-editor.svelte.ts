/**
 * The environment variables of one app as they are being edited: rows, what the server has,
 * checks per row, saving (with the server's refusals put on their rows) and bulk paste.
 * Stored secrets are never sent to the browser: such a row is kept (`keep`) until replaced.
 */
import { ApiError, getEnv, putEnv } from "#lib/api/client.ts";
import type { EnvChange, EnvVar, EnvVarInput } from "#lib/api/types.ts";
import { ENV_KEY, parseDotenv } from "#lib/dotenv.ts";
import { handleError } from "#lib/errors.ts";
import type { AppDetail } from "./app-detail.svelte.ts";
import { Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export const MASK = "••••••••";

export interface EnvRow {
  id: number;
  key: string;
  value: string;
  secret: boolean;
  /** A stored secret the client never saw: sent back as `keep`. */
  keep: boolean;
  /** Shown in clear (only for values typed in this session). */
  reveal: boolean;
  serverError: string | null;
}

export type RowProblems = Record<number, { key?: string; value?: string }>;

function snapshot(list: EnvRow[]): string {
  return JSON.stringify(list.filter((r) => r.key || r.value).map((r) => [r.key, r.keep ? MASK : r.value, r.secret]));
}

export class EnvEditor {
  readonly #detail: AppDetail;
  readonly #vars: Resource<EnvVar[]>;
  /** The rows the form shows and binds. */
  rows = $state<EnvRow[]>([]);
  #baseline = $state("");
  #saving = $state(false);
  #formError = $state<string | null>(null);
  #saved = $state<EnvChange | null>(null);
  #nextId = 1;

  #dirty = $derived.by(() => this.#vars.ready && snapshot(this.rows) !== this.#baseline);
  #problems = $derived.by(() => {
    const out: RowProblems = {};
    const seen = new Map<string, number>();
    for (const row of this.rows) {
      const key = row.key.trim();
      if (!key && !row.value && !row.keep) continue; // an untouched new row is ignored
      const p: { key?: string; value?: string } = {};
      if (!key) p.key = "Enter a name.";
      else if (!ENV_KEY.test(key)) p.key = "Use letters, digits and _ only, not starting with a digit.";
      else if (key.length > 256) p.key = "Use at most 256 characters.";
      else if (key === "PORT" || key === "HOST") p.key = `${key} is set by Switchyard for each slot.`;
      else if (key === "__proto__") p.key = "This name cannot be used.";
      else if (seen.has(key)) p.key = `${key} is already set above.`;
      if (key) seen.set(key, row.id);
      if (row.value.includes("\0")) p.value = "Values cannot contain NUL bytes.";
      else if (new TextEncoder().encode(row.value).length > 64 * 1024) p.value = "Values can be at most 64 KiB.";
      if (row.serverError && !p.key) p.key = row.serverError;
      if (p.key || p.value) out[row.id] = p;
    }
    return out;
  });

  constructor(detail: AppDetail) {
    this.#detail = detail;
    this.#vars = new Resource<EnvVar[]>([], () => getEnv(detail.name), { failure: "Could not load the variables." });
  }

  get phase(): "loading" | "ready" | "error" {
    return this.#vars.phase === "error" ? "error" : this.#vars.phase === "ready" ? "ready" : "loading";
  }

  get loadError(): ApiError | null {
    return this.#vars.error;
  }

  get dirty(): boolean {
    return this.#dirty;
  }

  get problems(): RowProblems {
    return this.#problems;
  }

  get problemCount(): number {
    return Object.keys(this.#problems).length;
  }

  get saving(): boolean {
    return this.#saving;
  }

  get deploying(): boolean {
    return this.#detail.busy.is("deploy");
  }

  get formError(): string | null {
    return this.#formError;
  }

  /** What the last save changed, until the next edit: "deploy to apply". */
  get saved(): EnvChange | null {
    return this.#saved;
  }

  /** (Re)loads the stored variables, dropping unsaved edits. */
  async load(): Promise<void> {
    if (await this.#vars.retry()) this.#reset(this.#vars.value);
  }

  /** Adds an empty row; its id, to focus. */
  addRow(): number {
    const row: EnvRow = { id: this.#nextId++, key: "", value: "", secret: false, keep: false, reveal: false, serverError: null };
    this.rows.push(row);
    this.#saved = null;
    return row.id;
  }

  /** Removes a row; the id of the row that takes its place, to focus (null: none left). */
  removeRow(id: number): number | null {
    const i = this.rows.findIndex((r) => r.id === id);
    if (i === -1) return null;
    this.rows.splice(i, 1);
    this.#saved = null;
    return this.rows[Math.min(i, this.rows.length - 1)]?.id ?? null;
  }

  /** Secret ↔ plain; true when the value must be typed again (focus it). */
  toggleSecret(row: EnvRow): boolean {
    this.#saved = null;
    if (row.secret && row.keep) {
      // We never saw the stored value; making it plain means typing it again.
      row.keep = false;
      row.value = "";
      row.secret = false;
      toasts.info(
        `Enter ${row.key || "the"} value again`,
        "Secret values are never sent to the browser, so it can't be shown in plain text.",
      );
      return true;
    }
    row.secret = !row.secret;
    if (row.secret) row.reveal = false;
    return false;
  }

  replaceSecret(row: EnvRow): void {
    row.keep = false;
    row.value = "";
    row.reveal = false;
    this.#saved = null;
  }

  edited(row: EnvRow): void {
    row.serverError = null;
    this.#saved = null;
    this.#formError = null;
  }

  /** Adds or updates the pasted variables. */
  applyParsed(vars: { key: string; value: string }[], secret: boolean): void {
    let added = 0;
    let updated = 0;
    for (const v of vars) {
      const existing = this.rows.find((r) => r.key.trim() === v.key);
      if (existing) {
        existing.value = v.value;
        existing.keep = false;
        existing.secret = existing.secret || secret;
        existing.serverError = null;
        updated += 1;
      } else {
        this.rows.push({ id: this.#nextId++, key: v.key, value: v.value, secret, keep: false, reveal: false, serverError: null });
        added += 1;
      }
    }
    // Drop empty rows left over from "Add variable".
    this.rows = this.rows.filter((r) => r.key || r.value || r.keep);
    this.#saved = null;
    toasts.success(
      `${added + updated} variable${added + updated === 1 ? "" : "s"} pasted`,
      `${added} added, ${updated} updated. Review, then save.`,
    );
  }

  /**
   * A paste into a row's name field: one KEY=value splits into the row, several lines become
   * rows. False when it was plain text, to paste as usual.
   */
  pasteIntoKey(text: string, row: EnvRow): boolean {
    if (!text.includes("=") || !/\n|^export\s/.test(text.trim())) {
      const one = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(text.trim());
      if (!one || text.includes("\n")) return false;
      const v = parseDotenv(text).vars[0];
      if (v) {
        row.key = v.key;
        row.value = v.value;
        this.edited(row);
      }
      return true;
    }
    const result = parseDotenv(text);
    if (result.vars.length === 0) {
      toasts.warning("Nothing to paste", result.problems[0] ?? "No KEY=value lines found.");
      return true;
    }
    if (!row.key && !row.value) this.rows = this.rows.filter((r) => r.id !== row.id);
    this.applyParsed(result.vars, false);
    if (result.problems.length) toasts.warning(`${result.problems.length} line(s) skipped`, result.problems.slice(0, 3).join("; "));
    return true;
  }

  /** Saves every row; the id of the first row to fix when it could not, else null. */
  async save(): Promise<number | null> {
    if (this.#saving) return null;
    if (this.problemCount > 0) {
      const count = this.problemCount;
      this.#formError = `Fix the ${count === 1 ? "highlighted row" : `${count} highlighted rows`} first.`;
      return this.rows.find((r) => this.#problems[r.id])?.id ?? null;
    }
    const sent = this.rows.filter((r) => r.key.trim() || r.value || r.keep);
    const body: EnvVarInput[] = sent.map((r) =>
      r.keep ? { key: r.key.trim(), secret: true, keep: true } : { key: r.key.trim(), value: r.value, secret: r.secret },
    );
    this.#saving = true;
    this.#formError = null;
    try {
      const result = await putEnv(this.#detail.name, body);
      // Values typed this session stay revealable until the page is left; everything else is as the server says.
      const typed = new Map(sent.filter((r) => !r.keep).map((r) => [r.key.trim(), r.value]));
      this.rows = result.vars.map((v) => ({
        id: this.#nextId++,
        key: v.key,
        value: v.secret ? (typed.get(v.key) ?? "") : v.value,
        secret: v.secret,
        keep: v.secret && !typed.has(v.key),
        reveal: false,
        serverError: null,
      }));
      this.#baseline = snapshot(this.rows);
      this.#saved = result.change;
      if (!result.deployNeeded) toasts.info("Nothing changed", "The variables were already like this.");
      return null;
    } catch (error) {
      if (error instanceof ApiError && error.code === "validation_failed" && error.issues.length > 0) {
        for (const issue of error.issues) {
          const m = /^vars\.(\d+)\.(key|value)$/.exec(issue.path);
          const row = m ? sent[Number(m[1])] : undefined;
          if (row) row.serverError = issue.message.replace(/^./, (c) => c.toUpperCase());
        }
        this.#formError = "The server refused some rows; they are highlighted.";
        return this.rows.find((r) => r.serverError)?.id ?? null;
      }
      handleError(error, { title: "Couldn't save the variables" });
      return null;
    } finally {
      this.#saving = false;
    }
  }

  /** Deploys to apply what was saved; the job's id, or null. */
  async deploy(): Promise<string | null> {
    const job = await this.#detail.deploy();
    if (!job) return null;
    this.#saved = null;
    return job.id;
  }

  #reset(vars: EnvVar[]): void {
    this.rows = vars.map((v) => ({
      id: this.#nextId++,
      key: v.key,
      value: v.secret ? "" : v.value,
      secret: v.secret,
      keep: v.secret,
      reveal: false,
      serverError: null,
    }));
    this.#baseline = snapshot(this.rows);
  }
}
