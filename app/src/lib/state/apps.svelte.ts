/**
 * The app list shown on the dashboard and in the sidebar. Events patch it at once (a status, a
 * slot's state) so badges change without waiting, then a debounced refetch brings the rest
 * (release, commit) from `GET /apps`: one request for every app, never one per card.
 */

import { untrack } from "svelte";
import { ApiError, listApps } from "#lib/api/client.ts";
import type { App, AppStatus, PanelEvent } from "#lib/api/types.ts";
import { handleError } from "#lib/errors.ts";
import { connection, RECONNECTED } from "./connection.svelte.ts";

export type AppsPhase = "idle" | "loading" | "ready" | "error";

const REFETCH_ON = /^(app|slot|release)\.|^job\.(created|updated)$/;

class Apps {
  #items = $state<App[]>([]);
  #phase = $state<AppsPhase>("idle");
  #error = $state<ApiError | null>(null);
  #counts = $derived.by(() => ({
    total: this.#items.length,
    live: this.#items.filter((a) => a.status === "live").length,
    deploying: this.#items.filter((a) => a.status === "building").length,
    failed: this.#items.filter((a) => a.status === "failed").length,
  }));
  #byId = $derived(new Map(this.#items.filter((a) => a.id).map((a) => [a.id as string, a])));
  #inflight: Promise<void> | null = null;
  #again = false;

  get items(): readonly App[] {
    return this.#items;
  }

  get phase(): AppsPhase {
    return this.#phase;
  }

  /** True until the first answer arrives (show skeletons, not an empty state). */
  get loading(): boolean {
    return this.#phase === "idle" || this.#phase === "loading";
  }

  get error(): ApiError | null {
    return this.#error;
  }

  get counts(): { total: number; live: number; deploying: number; failed: number } {
    return this.#counts;
  }

  /** The app with this id (jobs name their app by id). */
  byId(id: string | null | undefined): App | undefined {
    return id ? this.#byId.get(id) : undefined;
  }

  find(name: string): App | undefined {
    return this.#items.find((a) => a.name === name);
  }

  /** Fetches the list; the first call shows the loading state, later ones refresh in place. */
  load(): Promise<void> {
    return untrack(() => this.#load());
  }

  #load(): Promise<void> {
    if (this.#inflight) {
      // Something changed while a fetch was on its way: fetch once more after it.
      this.#again = true;
      return this.#inflight;
    }
    this.#inflight = this.#fetch().finally(() => {
      this.#inflight = null;
      if (this.#again) {
        this.#again = false;
        void this.load().catch(() => {});
      }
    });
    return this.#inflight;
  }

  /** Puts a freshly created or changed app in the list without waiting for the refetch. */
  upsert(app: App): void {
    const i = this.#items.findIndex((a) => a.name === app.name);
    if (i === -1) this.#items = [...this.#items, app].sort((a, b) => a.name.localeCompare(b.name));
    else this.#items[i] = app;
  }

  remove(name: string): void {
    this.#items = this.#items.filter((a) => a.name !== name);
  }

  /** Patches on events, then refetches (debounced) on app/slot/release/job events and after a reconnect. */
  listen(): () => void {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const soon = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        this.load().catch((error: unknown) => {
          // A background refresh stays quiet, unless the session has ended.
          if (error instanceof ApiError && error.status === 401) handleError(error);
        });
      }, 250);
    };
    const offAll = connection.on("*", (data, type) => {
      if (!REFETCH_ON.test(type)) return;
      this.#patch(data as PanelEvent | null, type);
      soon();
    });
    const offReconnect = connection.on(RECONNECTED, soon);
    return () => {
      if (timer) clearTimeout(timer);
      offAll();
      offReconnect();
    };
  }

  #patch(event: PanelEvent | null, type: string): void {
    if (!event || typeof event !== "object") return;
    if (type === "app.deleted" && "app" in event && event.app) {
      this.remove(event.app);
      return;
    }
    const target =
      "app" in event && event.app ? this.find(event.app) : "appId" in event && event.appId ? this.byId(event.appId) : undefined;
    if (!target) return;
    if (type === "app.updated" && "status" in event && event.status) target.status = event.status as AppStatus;
    if (type === "job.created" && event.type === "job.created" && event.kind === "deploy" && target.status !== "building") {
      // Queued: the app shows as deploying from the click on, not from when a worker picks it up.
      target.status = "building";
    }
    if (event.type === "slot.updated" && target.slots) {
      const slot = target.slots.find((s) => s.color === event.color);
      if (slot) {
        slot.state = event.state;
        slot.releaseId = event.releaseId;
      }
      if (event.state === "live") target.liveColor = event.color;
    }
  }

  async #fetch(): Promise<void> {
    if (this.#phase !== "ready") this.#phase = "loading";
    try {
      this.#items = await listApps();
      this.#error = null;
      this.#phase = "ready";
    } catch (error) {
      this.#error = error instanceof ApiError ? error : new ApiError(0, "unknown", "Could not load apps.");
      if (this.#phase !== "ready") this.#phase = "error";
      throw error;
    }
  }
}

export const apps = new Apps();
