/**
 * The app list shown on the dashboard and in the sidebar. Events patch it at once (a status, a
 * slot's state) so badges change without waiting, then a debounced refetch brings the rest
 * (release, commit) from `GET /apps`: one request for every app, never one per card.
 */

import { createApp, deployApp, listApps } from "#lib/api/client.ts";
import type { App, CreateAppInput, EventOf, Job } from "#lib/api/types.ts";
import { follow } from "./events.svelte.ts";
import { Busy, RefreshQueue, Resource } from "./resource.svelte.ts";

export type { Phase as AppsPhase } from "./resource.svelte.ts";

class Apps {
  readonly #list = new Resource<App[]>([], () => listApps(), { failure: "Could not load apps." });
  #counts = $derived.by(() => {
    const items = this.#list.value;
    return {
      total: items.length,
      live: items.filter((a) => a.status === "live").length,
      deploying: items.filter((a) => a.status === "building").length,
      failed: items.filter((a) => a.status === "failed" || a.status === "crashed").length,
    };
  });
  #byId = $derived(new Map(this.#list.value.map((a) => [a.id, a])));
  readonly #deploying = new Busy<string>();

  get items(): readonly App[] {
    return this.#list.value;
  }

  get phase() {
    return this.#list.phase;
  }

  /** True until the first answer arrives (show skeletons, not an empty state). */
  get loading(): boolean {
    return this.#list.loading;
  }

  get error() {
    return this.#list.error;
  }

  get counts(): { total: number; live: number; deploying: number; failed: number } {
    return this.#counts;
  }

  /** The app with this id (jobs name their app by id). */
  byId(id: string | null | undefined): App | undefined {
    return id ? this.#byId.get(id) : undefined;
  }

  find(name: string): App | undefined {
    return this.#list.value.find((a) => a.name === name);
  }

  /** Fetches the list; the first call shows the loading state, later ones refresh in place. Resolves false on failure. */
  load(): Promise<boolean> {
    return this.#list.load();
  }

  /** A deploy of this app is being started from the list. */
  deploying(name: string): boolean {
    return this.#deploying.is(name);
  }

  /** Starts a deploy; the job, or null when it failed (after telling the user). */
  deploy(name: string): Promise<Job | null> {
    return this.#deploying.run(() => deployApp(name), { title: `Couldn't deploy ${name}`, key: name });
  }

  /** Creates an app (errors are the caller's: the form shows them by field). */
  async create(input: CreateAppInput): Promise<{ app: App; job: Job | null }> {
    const created = await createApp(input);
    this.upsert(created.app);
    return created;
  }

  /** Puts a freshly created or changed app in the list without waiting for the refetch. */
  upsert(app: App): void {
    const items = this.#list.value;
    this.#list.value = items.some((a) => a.name === app.name)
      ? items.map((a) => (a.name === app.name ? app : a))
      : [...items, app].sort((a, b) => a.name.localeCompare(b.name));
  }

  remove(name: string): void {
    this.#list.value = this.#list.value.filter((a) => a.name !== name);
  }

  /** Patches on events, then refetches (debounced) on app/slot/release/job events and after a reconnect. */
  listen(): () => void {
    const queue = new RefreshQueue(250);
    const soon = () => queue.add(this.#list);
    const off = follow({
      "job.created": (e) => {
        // Queued: the app shows as deploying from the click on, not from when a worker picks it up.
        if (e.kind === "deploy") this.#patch(e.appId, null, (a) => (a.status === "building" ? a : { ...a, status: "building" }));
        soon();
      },
      "job.updated": soon,
      "app.created": soon,
      "app.updated": (e) => {
        if (e.status) {
          const status = e.status;
          this.#patch(e.appId, e.app, (a) => ({ ...a, status }));
        }
        soon();
      },
      "app.deleted": (e) => {
        this.remove(e.app);
        soon();
      },
      "slot.updated": (e) => {
        this.#patch(e.appId, e.app, (a) => this.#withSlot(a, e));
        soon();
      },
      "release.updated": soon,
      reconnected: soon,
    });
    return () => {
      queue.dispose();
      off();
    };
  }

  #withSlot(app: App, e: EventOf<"slot.updated">): App {
    return {
      ...app,
      slots: app.slots.map((s) => (s.color === e.color ? { ...s, state: e.state, releaseId: e.releaseId } : s)),
      liveColor: e.state === "live" ? e.color : app.liveColor,
    };
  }

  #patch(appId: string | null, name: string | null, change: (app: App) => App): void {
    const target = (name ? this.find(name) : undefined) ?? this.byId(appId);
    if (!target) return;
    const next = change(target);
    if (next !== target) this.#list.value = this.#list.value.map((a) => (a === target ? next : a));
  }
}

export const apps = new Apps();
