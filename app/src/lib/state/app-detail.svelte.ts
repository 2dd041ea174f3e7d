/**
 * Everything the app page shows about one app: the app, its slots (with processes), releases
 * and jobs. Each part loads on its own (tabs ask for what they show) and is refetched, debounced,
 * when the event stream says something about this app changed.
 */

import { untrack } from "svelte";
import { ApiError, deployApp, getApp, listAppJobs, listReleases, listSlots, rollbackApp } from "#lib/api/client.ts";
import type { App, Job, PanelEvent, Release, SlotDetail } from "#lib/api/types.ts";
import { handleError } from "#lib/errors.ts";
import { apps } from "./apps.svelte.ts";
import { connection, RECONNECTED } from "./connection.svelte.ts";

export type Phase = "idle" | "loading" | "ready" | "error";

class Resource<T> {
  value = $state.raw<T>() as T;
  phase = $state<Phase>("idle");
  error = $state<ApiError | null>(null);
  #inflight: Promise<void> | null = null;
  #again = false;
  readonly #fetch: (signal: AbortSignal) => Promise<T>;
  readonly #signal: AbortSignal;

  constructor(initial: T, fetch: (signal: AbortSignal) => Promise<T>, signal: AbortSignal) {
    this.value = initial;
    this.#fetch = fetch;
    this.#signal = signal;
  }

  get loading(): boolean {
    return this.phase === "idle" || this.phase === "loading";
  }

  get requested(): boolean {
    return this.phase !== "idle";
  }

  /** Fetches (again). Untracked: calling it from an effect does not make the effect depend on it. */
  load(): Promise<void> {
    return untrack(() => this.#load());
  }

  #load(): Promise<void> {
    if (this.#inflight) {
      this.#again = true;
      return this.#inflight;
    }
    if (this.phase !== "ready") this.phase = "loading";
    this.#inflight = this.#fetch(this.#signal)
      .then((value) => {
        this.value = value;
        this.error = null;
        this.phase = "ready";
      })
      .catch((error: unknown) => {
        if (this.#signal.aborted) return;
        if (error instanceof ApiError && error.status === 401) handleError(error);
        this.error = error instanceof ApiError ? error : new ApiError(0, "unknown", "Could not load this.");
        if (this.phase !== "ready") this.phase = "error";
      })
      .finally(() => {
        this.#inflight = null;
        if (this.#again && !this.#signal.aborted) {
          this.#again = false;
          void this.load();
        }
      });
    return this.#inflight;
  }

  /** Loads once; later calls do nothing (events keep it fresh). */
  ensure(): void {
    untrack(() => {
      if (this.phase === "idle") void this.load();
    });
  }
}

export class AppDetail {
  readonly name: string;
  readonly #controller = new AbortController();
  readonly app: Resource<App | null>;
  readonly slots: Resource<SlotDetail[]>;
  readonly releases: Resource<Release[]>;
  readonly jobs: Resource<Job[]>;

  constructor(name: string) {
    this.name = name;
    const signal = this.#controller.signal;
    this.app = new Resource<App | null>(apps.find(name) ?? null, (s) => getApp(name, { signal: s }), signal);
    this.slots = new Resource<SlotDetail[]>([], (s) => listSlots(name, { signal: s }), signal);
    this.releases = new Resource<Release[]>([], (s) => listReleases(name, { signal: s }), signal);
    this.jobs = new Resource<Job[]>([], (s) => listAppJobs(name, 30, { signal: s }), signal);
  }

  /** The newest job of the app (queued, running or finished), if loaded. */
  get latestJob(): Job | null {
    return this.jobs.value[0] ?? null;
  }

  /** The running or queued job, if any. */
  get activeJob(): Job | null {
    return this.jobs.value.find((j) => j.status === "running" || j.status === "queued") ?? null;
  }

  /** Starts a deploy; returns the job (null when it failed, after telling the user). */
  async deploy(): Promise<Job | null> {
    try {
      const job = await deployApp(this.name);
      this.#addJob(job);
      return job;
    } catch (error) {
      handleError(error, { title: `Couldn't deploy ${this.name}` });
      return null;
    }
  }

  async rollback(release: Release): Promise<Job | null> {
    try {
      const job = await rollbackApp(this.name, release.id);
      this.#addJob(job);
      return job;
    } catch (error) {
      handleError(error, { title: `Couldn't roll back to v${release.number}` });
      if (error instanceof ApiError && error.status === 422) void this.releases.load();
      return null;
    }
  }

  #addJob(job: Job): void {
    if (!this.jobs.value.some((j) => j.id === job.id)) this.jobs.value = [job, ...this.jobs.value];
  }

  /** Refetches what changed when events about this app arrive. Returns the cleanup. */
  listen(): () => void {
    const due = new Set<Resource<unknown>>();
    let timer: ReturnType<typeof setTimeout> | null = null;
    const refresh = (...parts: Resource<unknown>[]) => {
      for (const p of parts) if (p.requested) due.add(p);
      timer ??= setTimeout(() => {
        timer = null;
        for (const p of due) void p.load();
        due.clear();
      }, 300);
    };
    const all = () => [this.app, this.slots, this.releases, this.jobs] as Resource<unknown>[];
    const off = connection.on("*", (data, type) => {
      const event = data as PanelEvent | null;
      if (!event || typeof event !== "object") return;
      const appId = this.app.value?.id;
      const mine = ("app" in event && event.app === this.name) || ("appId" in event && appId && event.appId === appId);
      if (!mine) return;
      if (type === "app.deleted") return;
      if (event.type === "job.created" || event.type === "job.updated") {
        if (event.type === "job.created") this.#addPlaceholder(event.jobId, event.kind, event.appId);
        else this.jobs.value = this.jobs.value.map((j) => (j.id === event.jobId ? { ...j, status: event.status } : j));
        refresh(this.jobs, this.app);
        if (event.status !== "queued" && event.status !== "running") refresh(this.releases, this.slots);
      } else if (type === "slot.updated") refresh(this.slots, this.app);
      else if (type === "release.updated") refresh(this.releases, this.app, this.slots);
      else if (type === "app.updated" || type === "app.created") refresh(this.app);
    });
    const offReconnect = connection.on(RECONNECTED, () => refresh(...all()));
    return () => {
      if (timer) clearTimeout(timer);
      off();
      offReconnect();
    };
  }

  #addPlaceholder(jobId: string, kind: string, appId: string | null): void {
    if (this.jobs.value.some((j) => j.id === jobId)) return;
    const now = new Date().toISOString();
    this.#addJob({
      id: jobId,
      kind,
      appId,
      status: "queued",
      params: {},
      result: null,
      error: null,
      trigger: "",
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
    });
  }

  dispose(): void {
    this.#controller.abort();
  }
}
