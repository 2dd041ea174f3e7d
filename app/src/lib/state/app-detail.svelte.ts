/**
 * Everything the app page shows about one app: the app, its slots (with processes), releases,
 * jobs and webhook deliveries. Each part loads on its own (tabs ask for what they show) and is
 * refetched, debounced, when the event stream says something about this app changed.
 */

import {
  ApiError,
  cancelJob,
  deleteApp,
  deployApp,
  getApp,
  getReleaseCommand,
  listAppJobs,
  listDeliveries,
  listReleases,
  listSlots,
  redeliver,
  restartApp,
  rollbackApp,
  runReleaseCommand,
  slotLogs,
  startApp,
  stopApp,
  updateApp,
  webhookHealth,
} from "#lib/api/client.ts";
import { getProcesses, type ProcessAction, type ProcessesChange, processAction, putFormation } from "#lib/api/processes.ts";
import type {
  App,
  AppSettings,
  FormationInput,
  Job,
  JobKind,
  ProcessesResponse,
  Release,
  ReleaseCommandInfo,
  SlotColor,
  SlotDetail,
  WebhookDelivery,
  WebhookHealth,
} from "#lib/api/types.ts";
import { apps } from "./apps.svelte.ts";
import { follow } from "./events.svelte.ts";
import { Busy, RefreshQueue, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export type { Phase } from "./resource.svelte.ts";

const SLOT_LINES = 500;

/** A slot's own output (not a job's), read on demand. */
class SlotOutput {
  #color = $state<SlotColor>("blue");
  #lines = $state.raw<Array<{ line: string }>>([]);
  #version = $state(0);
  #loading = $state(false);
  #error = $state<unknown>(null);
  readonly #app: string;

  constructor(app: string) {
    this.#app = app;
  }

  get color(): SlotColor {
    return this.#color;
  }

  get lines(): ReadonlyArray<{ line: string }> {
    return this.#lines;
  }

  /** Bumped whenever `lines` was replaced. */
  get version(): number {
    return this.#version;
  }

  get loading(): boolean {
    return this.#loading;
  }

  get error(): unknown {
    return this.#error;
  }

  async load(color: SlotColor = this.#color): Promise<void> {
    this.#color = color;
    this.#loading = true;
    this.#error = null;
    try {
      const lines = await slotLogs(this.#app, color, SLOT_LINES);
      if (color !== this.#color) return;
      this.#lines = lines.map((line) => ({ line }));
      this.#version += 1;
    } catch (error) {
      this.#error = error;
    } finally {
      this.#loading = false;
    }
  }
}

export class AppDetail {
  readonly name: string;
  readonly #controller = new AbortController();
  readonly app: Resource<App | null>;
  readonly slots: Resource<SlotDetail[]>;
  readonly releases: Resource<Release[]>;
  readonly jobs: Resource<Job[]>;
  readonly webhook: Resource<WebhookHealth | null>;
  readonly deliveries: Resource<WebhookDelivery[]>;
  readonly releaseCommand: Resource<ReleaseCommandInfo | null>;
  /** Process types with their instances, and the resource limits beside them (the Processes tab). */
  readonly processes: Resource<ProcessesResponse | null>;
  readonly output: SlotOutput;
  /** Changes in flight: "deploy", "cancel", "settings", "domains", "delete", or a delivery's id. */
  readonly busy = new Busy<string>();

  constructor(name: string) {
    this.name = name;
    const signal = this.#controller.signal;
    this.app = new Resource<App | null>(apps.find(name) ?? null, (s) => getApp(name, { signal: s }), { signal });
    this.slots = new Resource<SlotDetail[]>([], (s) => listSlots(name, { signal: s }), { signal });
    this.releases = new Resource<Release[]>([], (s) => listReleases(name, { signal: s }), { signal });
    this.jobs = new Resource<Job[]>([], (s) => listAppJobs(name, 30, { signal: s }), { signal });
    this.webhook = new Resource<WebhookHealth | null>(null, (s) => webhookHealth(name, { signal: s }), { signal });
    this.deliveries = new Resource<WebhookDelivery[]>([], (s) => listDeliveries(name, { signal: s }), { signal });
    this.releaseCommand = new Resource<ReleaseCommandInfo | null>(null, (s) => getReleaseCommand(name, { signal: s }), { signal });
    this.processes = new Resource<ProcessesResponse | null>(null, (s) => getProcesses(name, { signal: s }), { signal });
    this.output = new SlotOutput(name);
  }

  /** The newest job of the app (queued, running or finished), if loaded. */
  get latestJob(): Job | null {
    return this.jobs.value[0] ?? null;
  }

  /** The running or queued job, if any. */
  get activeJob(): Job | null {
    return this.jobs.value.find((j) => j.status === "running" || j.status === "queued") ?? null;
  }

  /**
   * Starts a deploy of the app's branch, or of `ref` (a branch, tag or commit); returns the job
   * (null when it failed, after telling the user unless `onInvalid` took the error).
   */
  async deploy(ref?: string, onInvalid?: (error: ApiError) => boolean): Promise<Job | null> {
    const job = await this.busy.run(() => deployApp(this.name, ref), {
      title: ref ? `Couldn't deploy ${ref}` : `Couldn't deploy ${this.name}`,
      key: "deploy",
      onError: (error) => !!onInvalid && error instanceof ApiError && onInvalid(error),
    });
    if (job) this.#addJob(job);
    return job;
  }

  async restart(): Promise<Job | null> {
    const job = await this.busy.run(() => restartApp(this.name), { title: `Couldn't restart ${this.name}`, key: "restart" });
    if (job) this.#addJob(job);
    return job;
  }

  /** Starts a stopped app from the release that was live last. */
  async start(): Promise<Job | null> {
    const job = await this.busy.run(() => startApp(this.name), { title: `Couldn't start ${this.name}`, key: "start" });
    if (job) this.#addJob(job);
    return job;
  }

  /**
   * New instance counts: the change as saved, with the job applying it (a web change restarts the
   * live release), or null when refused. A refusal by field goes to `onInvalid`.
   */
  async setFormation(formation: FormationInput, onInvalid: (error: ApiError) => boolean): Promise<ProcessesChange | null> {
    const result = await this.busy.run(() => putFormation(this.name, formation), {
      title: "Couldn't change the instances",
      key: "formation",
      onError: (error) => error instanceof ApiError && onInvalid(error),
    });
    if (!result) return null;
    this.processes.value = { processes: result.processes, limits: result.limits };
    if (result.job) this.#addJob(result.job);
    return result;
  }

  /** Restarts, stops or starts one process type; the job doing it. */
  async processAction(type: string, action: ProcessAction): Promise<Job | null> {
    const verb = { restart: "restart", stop: "stop", start: "start" }[action];
    const job = await this.busy.run(() => processAction(this.name, type, action), {
      title: `Couldn't ${verb} ${type}`,
      key: `process:${type}`,
    });
    if (job) this.#addJob(job);
    void this.processes.load();
    return job ?? null;
  }

  /** Runs the live release's release command again. */
  async rerunReleaseCommand(): Promise<Job | null> {
    const job = await this.busy.run(() => runReleaseCommand(this.name), {
      title: "Couldn't run the release command",
      key: "release-command",
    });
    if (job) this.#addJob(job);
    return job;
  }

  async stop(): Promise<Job | null> {
    const job = await this.busy.run(() => stopApp(this.name), { title: `Couldn't stop ${this.name}`, key: "stop" });
    if (job) this.#addJob(job);
    return job;
  }

  async rollback(release: Release): Promise<Job | null> {
    const job = await this.busy.run(() => rollbackApp(this.name, release.id), {
      title: `Couldn't roll back to v${release.number}`,
      key: "rollback",
      onError: (error) => {
        if (error instanceof ApiError && error.status === 422) void this.releases.load();
        return false;
      },
    });
    if (job) this.#addJob(job);
    return job;
  }

  async cancel(job: Job): Promise<void> {
    const done = await this.busy.run(() => cancelJob(job.id), { title: "Couldn't cancel the job", key: "cancel" });
    if (done) toasts.info("Cancelling", "The job stops and undoes its current step; the live slot keeps serving.");
  }

  /**
   * Saves changed settings; the app as saved, or null. A refusal by field goes to `onInvalid`
   * (the form shows it) instead of a toast.
   */
  async save(patch: Partial<AppSettings>, onInvalid: (error: ApiError) => boolean): Promise<App | null> {
    const result = await this.busy.run(() => updateApp(this.name, patch), {
      title: "Couldn't save the settings",
      key: "settings",
      onError: (error) => error instanceof ApiError && onInvalid(error),
    });
    if (result) this.#saved(result.app);
    return result?.app ?? null;
  }

  /** New host names; the nginx job that applies them, if one was started. */
  async saveDomains(domains: string[], onInvalid: (error: ApiError) => boolean): Promise<{ app: App; job: Job | null } | null> {
    const result = await this.busy.run(() => updateApp(this.name, { domains }), {
      title: "Couldn't save the domains",
      key: "domains",
      onError: (error) => error instanceof ApiError && onInvalid(error),
    });
    if (result) this.#saved(result.app);
    return result;
  }

  /** Deletes the app; true when it is gone. */
  async remove(): Promise<boolean> {
    const ok = await this.busy.run(
      async () => {
        await deleteApp(this.name);
        return true;
      },
      { title: `Couldn't delete ${this.name}`, key: "delete" },
    );
    if (ok) apps.remove(this.name);
    return ok === true;
  }

  /** Runs a received webhook delivery again. */
  async redeliver(delivery: WebhookDelivery): Promise<void> {
    const result = await this.busy.run(() => redeliver(delivery.id), { title: "Couldn't run the delivery again", key: delivery.id });
    if (!result) return;
    toasts.success("Delivery run again", `Outcome: ${result.outcome}.`);
    await Promise.all([this.webhook.load(), this.deliveries.load()]);
  }

  #saved(app: App): void {
    this.app.value = app;
    apps.upsert(app);
  }

  #addJob(job: Job): void {
    if (!this.jobs.value.some((j) => j.id === job.id)) this.jobs.value = [job, ...this.jobs.value];
  }

  #mine(appId: string | null, name?: string | null): boolean {
    return name === this.name || (appId !== null && appId === this.app.value?.id);
  }

  /** Refetches what changed when events about this app arrive. Returns the cleanup. */
  listen(): () => void {
    const queue = new RefreshQueue(300);
    const off = follow({
      "job.created": (e) => {
        if (!this.#mine(e.appId, e.app)) return;
        this.#addPlaceholder(e.jobId, e.kind, e.appId);
        queue.add(this.jobs, this.app);
      },
      "job.updated": (e) => {
        if (!this.#mine(e.appId, e.app)) return;
        this.jobs.value = this.jobs.value.map((j) => (j.id === e.jobId ? { ...j, status: e.status } : j));
        queue.add(this.jobs, this.app);
        if (e.status !== "queued" && e.status !== "running") queue.add(this.releases, this.slots);
        queue.add(this.processes);
        if (e.kind === "deploy" || e.kind === "release-command") queue.add(this.releaseCommand);
      },
      "app.created": (e) => {
        if (this.#mine(e.appId, e.app)) queue.add(this.app);
      },
      "app.updated": (e) => {
        if (this.#mine(e.appId, e.app)) queue.add(this.app);
      },
      "slot.updated": (e) => {
        if (this.#mine(e.appId, e.app)) queue.add(this.slots, this.app, this.processes);
      },
      "release.updated": (e) => {
        if (this.#mine(e.appId, e.app)) queue.add(this.releases, this.app, this.slots);
      },
      "webhook.delivery": (e) => {
        if (!this.#mine(e.appId)) return;
        queue.add(this.webhook, this.deliveries);
        if (e.jobId) queue.add(this.jobs);
      },
      reconnected: () =>
        queue.add(this.app, this.slots, this.releases, this.jobs, this.webhook, this.deliveries, this.releaseCommand, this.processes),
    });
    return () => {
      queue.dispose();
      off();
    };
  }

  #addPlaceholder(jobId: string, kind: JobKind, appId: string | null): void {
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
