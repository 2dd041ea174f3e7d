/** The audit log (the activity feed), newest first, a page at a time, optionally filtered. */
import { type AuditFilter, listAudit } from "#lib/api/client.ts";
import type { AuditEntry } from "#lib/api/types.ts";
import { Resource } from "./resource.svelte.ts";

const PAGE = 25;

export class AuditLog {
  readonly list = new Resource<AuditEntry[]>([], () => this.#page(), { failure: "Could not load the audit log." });
  #more = $state(false);
  #before: number | undefined;
  /** By app, kind (an action or its group) and user; a change shows the first page again. */
  filter = $state<AuditFilter>({});

  /** Older entries exist. */
  get more(): boolean {
    return this.#more;
  }

  load(): Promise<boolean> {
    this.#before = undefined;
    return this.list.load();
  }

  /** Appends the next older page. */
  older(): Promise<boolean> {
    this.#before = this.list.value.at(-1)?.id;
    return this.list.load();
  }

  async #page(): Promise<AuditEntry[]> {
    const before = this.#before;
    const page = await listAudit(before, PAGE, undefined, $state.snapshot(this.filter));
    this.#more = page.length === PAGE;
    return before ? [...this.list.value, ...page] : page;
  }
}
