/**
 * The activity feed: recent jobs of every app (deploys, rollbacks, failures), from `GET /jobs`,
 * kept live by `job.created` / `job.updated` events. An event updates the list at once; a
 * debounced refetch then brings the details the event does not carry (result, error, timings).
 */

import { listJobs } from "#lib/api/client.ts";
import type { EventOf, Job } from "#lib/api/types.ts";
import { follow } from "./events.svelte.ts";
import { RefreshQueue, Resource } from "./resource.svelte.ts";

export type { Phase as ActivityPhase } from "./resource.svelte.ts";

const LIMIT = 30;

class Activity {
  readonly #list = new Resource<Job[]>([], () => this.#fetch(), { failure: "Could not load recent activity." });
  /** App names the events told us, for jobs of apps the list does not know (yet). */
  #names = new Map<string, string>();

  get items(): readonly Job[] {
    return this.#list.value;
  }

  get phase() {
    return this.#list.phase;
  }

  get loading(): boolean {
    return this.#list.loading;
  }

  get error() {
    return this.#list.error;
  }

  /** The app name an event gave for this job, if any. */
  appName(jobId: string): string | undefined {
    return this.#names.get(jobId);
  }

  /** Resolves false when the list could not be fetched (the error is in `error`). */
  load(): Promise<boolean> {
    return this.#list.load();
  }

  listen(): () => void {
    const queue = new RefreshQueue(400);
    const onJob = (event: EventOf<"job.created" | "job.updated">) => {
      if (event.app) this.#names.set(event.jobId, event.app);
      this.#apply(event);
      queue.add(this.#list);
    };
    const off = follow({
      "job.created": onJob,
      "job.updated": onJob,
      reconnected: () => {
        queue.add(this.#list);
        queue.flush();
      },
    });
    return () => {
      queue.dispose();
      off();
    };
  }

  #apply({ jobId, appId, kind, status }: EventOf<"job.created" | "job.updated">): void {
    const now = new Date().toISOString();
    const items = this.#list.value;
    const finished = status === "succeeded" || status === "failed" || status === "cancelled";
    const current = items.find((j) => j.id === jobId);
    if (!current) {
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
      this.#list.value = [job, ...items].slice(0, LIMIT);
      return;
    }
    if (current.status === status) return;
    const next: Job = {
      ...current,
      status,
      startedAt: current.startedAt ?? (status === "running" ? now : null),
      finishedAt: finished ? (current.finishedAt ?? now) : null,
    };
    this.#list.value = items.map((j) => (j === current ? next : j));
  }

  async #fetch(): Promise<Job[]> {
    const fresh = await listJobs(LIMIT);
    // Keep jobs an event announced that the answer (sent a moment earlier) does not have yet.
    const known = new Set(fresh.map((j) => j.id));
    const newer = this.#list.value.filter((j) => !known.has(j.id) && Date.parse(j.createdAt) > Date.now() - 10_000);
    return [...newer, ...fresh].slice(0, LIMIT);
  }
}

export const activity = new Activity();
