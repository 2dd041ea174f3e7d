/**
 * The panel's own updates: what runs, what could run next, the kept versions, and the latest
 * self-update job followed to its end through the panel switching over underneath the page.
 */
import { untrack } from "svelte";
import { ApiError, getUpdate, startUpdate } from "#lib/api/client.ts";
import type { EventOf, Job, JobStatus, SelfUpdate, SelfUpdateJob, SelfUpdateResult } from "#lib/api/types.ts";
import { handleError } from "#lib/errors.ts";
import { shortSha } from "#lib/format.ts";
import { updated } from "$app/state";
import { follow } from "./events.svelte.ts";
import { JobLog } from "./job-log.svelte.ts";
import { Busy, RefreshQueue, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

const FINAL = new Set<string>(["succeeded", "failed", "cancelled"]);

/** The panel revision this page was loaded with (the first one any card saw); `undefined` until known. */
let pageRevision: string | null | undefined;

export interface PendingUpdate {
  action: "update" | "rollback";
  revision: string;
  subject: string | null;
}

/** "abc1234", or "" for none. */
export function revisionLabel(revision: string | null | undefined): string {
  return revision ? shortSha(revision) : "";
}

function sameRevision(a: string, b: string | null): boolean {
  if (!b) return false;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x.startsWith(y) || y.startsWith(x);
}

/** A self-update job's params and result, read from the job the API returns. */
export function asSelfUpdateJob(job: Job): SelfUpdateJob {
  const params = job.params as { revision?: unknown; rollback?: unknown };
  const result = (job.result ?? null) as SelfUpdateResult | null;
  return {
    ...job,
    params: {
      ...(typeof params.revision === "string" ? { revision: params.revision } : {}),
      ...(params.rollback === true ? { rollback: true } : {}),
    },
    result,
  };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

export class SelfUpdateState {
  readonly #controller = new AbortController();
  readonly #info: Resource<SelfUpdate | null>;
  readonly #checking = new Busy();
  readonly #starting = new Busy();
  /** The job this page follows to its end (started here, or found queued or running). */
  #following = $state<string | null>(null);
  /** Bumped to open the job's log again after it could not be loaded. */
  #logAttempt = $state(0);
  #pending = $state<PendingUpdate | null>(null);
  #settling: string | null = null;
  /** The log is shown. */
  logOpen = $state(false);
  /** The confirmation dialog is open. */
  confirmOpen = $state(false);

  #job = $derived.by(() => {
    const job = this.#info.value?.job;
    return job ? asSelfUpdateJob(job) : null;
  });
  #log = $derived.by(() => {
    const id = this.#job?.id ?? null;
    void this.#logAttempt;
    return id ? untrack(() => new JobLog(id)) : null;
  });

  constructor() {
    const signal = this.#controller.signal;
    this.#info = new Resource<SelfUpdate | null>(
      null,
      async () => {
        const next = await getUpdate({ signal });
        this.#apply(next);
        return next;
      },
      { signal, failure: "Could not load update information." },
    );
  }

  get info(): SelfUpdate | null {
    return this.#info.value;
  }

  get phase(): "loading" | "ready" | "error" {
    return this.#info.ready ? "ready" : this.#info.phase === "error" ? "error" : "loading";
  }

  get loadError(): ApiError | null {
    return this.#info.error;
  }

  get checking(): boolean {
    return this.#checking.running;
  }

  get starting(): boolean {
    return this.#starting.running;
  }

  get pending(): PendingUpdate | null {
    return this.#pending;
  }

  get job(): SelfUpdateJob | null {
    return this.#job;
  }

  get log(): JobLog | null {
    return this.#log;
  }

  /** The job's status: the log stream's while it runs, the API's once it is over. */
  get status(): JobStatus | null {
    const job = this.#job;
    if (!job) return null;
    if (FINAL.has(job.status)) return job.status;
    return this.#log?.job?.status ?? job.status;
  }

  get active(): boolean {
    return this.status === "queued" || this.status === "running";
  }

  get jobTitle(): string {
    const job = this.#job;
    if (!job) return "";
    const target = revisionLabel(job.params.revision ?? job.result?.to ?? null);
    if (job.params.rollback) return target ? `Rollback to ${target}` : "Rollback";
    return target ? `Update to ${target}` : "Update to the newest version";
  }

  /** The result of an update that was switched back, or null. */
  get reverted(): SelfUpdateResult | null {
    const result = this.#job?.result;
    return result?.reverted === true ? result : null;
  }

  get revertedText(): string {
    const reverted = this.reverted;
    if (!reverted) return "";
    const to = revisionLabel(reverted.to ?? this.#job?.params.revision ?? null);
    const from = revisionLabel(reverted.from ?? null);
    return `The new version${to ? ` ${to}` : ""} was unhealthy${reverted.reason ? ` (${reverted.reason})` : ""} and Switchyard switched back to ${from || "the version that ran before"}. Its log below shows what went wrong.`;
  }

  /** A new version runs: this page's code is older than the server's. */
  get needsReload(): boolean {
    if (updated.current) return true;
    const job = this.#job;
    if (job?.status !== "succeeded" || job.result?.reverted) return false;
    const to = job.result?.to;
    return !!to && pageRevision !== undefined && !sameRevision(to, pageRevision);
  }

  /** Loads, follows self-update events, and opens the followed job's log. Returns the cleanup. */
  listen(): () => void {
    untrack(() => void this.#info.load());
    const queue = new RefreshQueue(400);
    const onJob = (event: EventOf<"job.created" | "job.updated">) => {
      if (event.kind !== "self-update") return;
      if (FINAL.has(event.status) && event.jobId === this.#following) void this.#settle(event.jobId);
      else if (event.jobId !== this.#job?.id || FINAL.has(event.status)) queue.add(this.#info);
    };
    const off = follow({
      "job.created": onJob,
      "job.updated": onJob,
      // Published by the panel that took over, or the one that switched back.
      "panel.updated": () => queue.add(this.#info),
      // Back after a drop (the panel may just have been replaced): what runs now?
      reconnected: () => {
        queue.add(this.#info);
        queue.flush();
      },
    });
    const offLog = $effect.root(() => {
      $effect(() => this.#log?.open());
      // The log stream ended: the job is over.
      $effect(() => {
        const id = this.#following;
        const log = this.#log;
        if (id && log?.jobId === id && log.finished) untrack(() => void this.#settle(id));
      });
      // The job could not be opened (the panel was switching over): try again while it runs.
      $effect(() => {
        if (this.#log?.phase !== "error" || !this.active) return;
        const timer = setTimeout(() => (this.#logAttempt += 1), 3_000);
        return () => clearTimeout(timer);
      });
    });
    return () => {
      this.#controller.abort();
      queue.dispose();
      off();
      offLog();
    };
  }

  retryLoad(): void {
    void this.#info.retry();
  }

  /** Opens the job's log again after it could not be loaded. */
  reopenLog(): void {
    this.#logAttempt += 1;
  }

  /** Fetches the source now rather than answer from the server's recent check. */
  async check(): Promise<void> {
    const next = await this.#checking.run(() => getUpdate({ signal: this.#controller.signal, refresh: true }), {
      title: "Couldn't check for updates",
      retry: () => void this.check(),
    });
    if (next) {
      this.#apply(next);
      this.#info.value = next;
    }
  }

  ask(action: PendingUpdate["action"], revision: string, subject: string | null = null): void {
    this.#pending = { action, revision, subject };
    this.confirmOpen = true;
  }

  async confirm(): Promise<void> {
    const target = this.#pending;
    if (!target || this.#starting.running) return;
    const title = target.action === "rollback" ? "Couldn't start the rollback" : "Couldn't start the update";
    const started = await this.#starting.run(() => startUpdate(target.revision), {
      title,
      onError: (error) => {
        // Already running, not supported, unknown or current revision: what the card shows is out of date.
        if (error instanceof ApiError && (error.status === 404 || error.status === 409 || error.status === 422)) {
          handleError(error, { title });
          this.confirmOpen = false;
          void this.#info.load();
          return true;
        }
        return false;
      },
    });
    if (!started) return;
    const info = this.#info.value;
    if (info) this.#info.value = { ...info, job: started };
    this.#following = started.id;
    this.logOpen = true;
    this.confirmOpen = false;
    toasts.info(
      target.action === "rollback" ? `Rolling back to ${revisionLabel(target.revision)}` : `Updating to ${revisionLabel(target.revision)}`,
      "Follow it below. Your apps keep serving; this page may reconnect for a moment.",
    );
  }

  #apply(next: SelfUpdate): void {
    if (pageRevision === undefined) pageRevision = next.current.revision;
    const job = next.job;
    if (job && !FINAL.has(job.status) && this.#following !== job.id) {
      this.#following = job.id;
      this.logOpen = true;
    }
    // A finished update may have brought new GUI files: SvelteKit compares its build version.
    if (job?.status === "succeeded") updated.check().catch(() => {});
  }

  /** The followed job ended: read the outcome, retrying while the new panel process comes up. */
  async #settle(id: string): Promise<void> {
    if (this.#settling === id) return;
    this.#settling = id;
    const signal = this.#controller.signal;
    for (let attempt = 0; attempt < 24 && !signal.aborted; attempt++) {
      const ok = await this.#info.load();
      const job = this.#info.value?.job;
      if (ok && job && (job.id !== id || FINAL.has(job.status))) break;
      await pause(attempt < 6 ? 2_000 : 5_000, signal);
    }
    this.#settling = null;
    if (signal.aborted || this.#following !== id) return;
    this.#following = null;
    this.#announce(this.#job, id);
  }

  #announce(job: SelfUpdateJob | null, id: string): void {
    if (!job || job.id !== id) return;
    const result = job.result ?? {};
    if (result.reverted) {
      toasts.warning(
        "Switched back",
        `The new version was unhealthy; ${revisionLabel(result.from) || "the previous version"} is running again.`,
      );
    } else if (job.status === "succeeded") {
      const to = revisionLabel(result.to ?? this.#info.value?.current.revision ?? null);
      toasts.success(job.params.rollback ? "Switchyard rolled back" : "Switchyard updated", to ? `Now running ${to}.` : undefined);
    } else if (job.status === "failed") {
      toasts.error(job.params.rollback ? "The rollback failed" : "The update failed", job.error ?? "See its log in Switchyard updates.");
    }
  }
}
