/**
 * The activity feed: recent jobs of every app (deploys, rollbacks, failures), from `GET /jobs`,
 * kept live by `job.created` / `job.updated` events. An event updates the list at once; a
 * debounced refetch then brings the details the event does not carry (result, error, timings).
 */

import { untrack } from "svelte";
import { ApiError, listJobs } from "#lib/api/client.ts";
import type { Job, JobStatus, PanelEvent } from "#lib/api/types.ts";
import { handleError } from "#lib/errors.ts";
import { connection, RECONNECTED } from "./connection.svelte.ts";

export type ActivityPhase = "idle" | "loading" | "ready" | "error";

const LIMIT = 30;

class Activity {
  #items = $state.raw<Job[]>([]);
  #phase = $state<ActivityPhase>("idle");
  #error = $state<ApiError | null>(null);
  /** App names the events told us, for jobs of apps the list does not know (yet). */
  #names = new Map<string, string>();
  #inflight: Promise<void> | null = null;

  get items(): readonly Job[] {
    return this.#items;
  }

  get phase(): ActivityPhase {
    return this.#phase;
  }

  get loading(): boolean {
    return this.#phase === "idle" || this.#phase === "loading";
  }

  get error(): ApiError | null {
    return this.#error;
  }

  /** The app name an event gave for this job, if any. */
  appName(jobId: string): string | undefined {
    return this.#names.get(jobId);
  }

  load(): Promise<void> {
    return untrack(() => {
      this.#inflight ??= this.#fetch().finally(() => {
        this.#inflight = null;
      });
      return this.#inflight;
    });
  }

  listen(): () => void {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const soon = (delay = 400) => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        this.load().catch((error: unknown) => {
          if (error instanceof ApiError && error.status === 401) handleError(error);
        });
      }, delay);
    };
    const onJob = (data: unknown) => {
      const event = data as PanelEvent | null;
      if (!event || (event.type !== "job.created" && event.type !== "job.updated")) return;
      if (event.app) this.#names.set(event.jobId, event.app);
      this.#apply(event.jobId, event.appId, event.kind, event.status);
      soon();
    };
    const offCreated = connection.on("job.created", onJob);
    const offUpdated = connection.on("job.updated", onJob);
    const offReconnect = connection.on(RECONNECTED, () => soon(0));
    return () => {
      if (timer) clearTimeout(timer);
      offCreated();
      offUpdated();
      offReconnect();
    };
  }

  #apply(jobId: string, appId: string | null, kind: string, status: JobStatus): void {
    const now = new Date().toISOString();
    const i = this.#items.findIndex((j) => j.id === jobId);
    const finished = status === "succeeded" || status === "failed" || status === "cancelled";
    if (i === -1) {
      const job: Job = {
        id: jobId,
        kind,
        appId,
        status,
        params: {},
        result: null,
        error: null,
        trigger: "",
        createdAt: now,
        startedAt: status === "running" ? now : null,
        finishedAt: finished ? now : null,
        durationMs: null,
      };
      this.#items = [job, ...this.#items].slice(0, LIMIT);
      return;
    }
    const current = this.#items[i] as Job;
    if (current.status === status) return;
    const next: Job = {
      ...current,
      status,
      startedAt: current.startedAt ?? (status === "running" ? now : null),
      finishedAt: finished ? (current.finishedAt ?? now) : null,
    };
    this.#items = this.#items.map((j, k) => (k === i ? next : j));
  }

  async #fetch(): Promise<void> {
    if (this.#phase !== "ready") this.#phase = "loading";
    try {
      const fresh = await listJobs(LIMIT);
      // Keep jobs an event announced that the answer (sent a moment earlier) does not have yet.
      const known = new Set(fresh.map((j) => j.id));
      const newer = this.#items.filter((j) => !known.has(j.id) && Date.parse(j.createdAt) > Date.now() - 10_000);
      this.#items = [...newer, ...fresh].slice(0, LIMIT);
      this.#error = null;
      this.#phase = "ready";
    } catch (error) {
      this.#error = error instanceof ApiError ? error : new ApiError(0, "unknown", "Could not load recent activity.");
      if (this.#phase !== "ready") this.#phase = "error";
      throw error;
    }
  }
}

export const activity = new Activity();
