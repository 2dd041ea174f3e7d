/**
 * The one load / in-flight / error pattern: something fetched from the API, shown while it loads,
 * refetched in place, with the error kept for the view. Every state class builds on it.
 */

import { untrack } from "svelte";
import { ApiError } from "#lib/api/client.ts";
import { handleError } from "#lib/errors.ts";

export type Phase = "idle" | "loading" | "ready" | "error";

export interface ResourceOptions {
  /** Aborts the fetch (and ignores its answer) when the owner goes away. */
  signal?: AbortSignal;
  /** The error's message when the failure is not an ApiError. */
  failure?: string;
}

export class Resource<T> {
  #value = $state.raw<T>() as T;
  #phase = $state<Phase>("idle");
  #error = $state<ApiError | null>(null);
  #fetching = $state(false);
  #inflight: Promise<boolean> | null = null;
  #again = false;
  readonly #fetch: (signal: AbortSignal | undefined) => Promise<T>;
  readonly #signal: AbortSignal | undefined;
  readonly #failure: string;

  constructor(initial: T, fetch: (signal: AbortSignal | undefined) => Promise<T>, options: ResourceOptions = {}) {
    this.#value = initial;
    this.#fetch = fetch;
    this.#signal = options.signal;
    this.#failure = options.failure ?? "Could not load this.";
  }

  get value(): T {
    return this.#value;
  }

  /** A local change (an event, a mutation's answer) shown before the next fetch confirms it. */
  set value(next: T) {
    this.#value = next;
  }

  get phase(): Phase {
    return this.#phase;
  }

  get error(): ApiError | null {
    return this.#error;
  }

  /** True until the first answer arrives (show skeletons, not an empty state). */
  get loading(): boolean {
    return this.#phase === "idle" || this.#phase === "loading";
  }

  get ready(): boolean {
    return this.#phase === "ready";
  }

  /** A fetch is on its way (a first load, or a refresh in place). */
  get fetching(): boolean {
    return this.#fetching;
  }

  /** Something asked for it: events should keep it fresh. */
  get requested(): boolean {
    return this.#phase !== "idle";
  }

  /**
   * Fetches (again); a call while a fetch is on its way fetches once more after it. Resolves true
   * when the value is fresh; never rejects. Untracked: calling it from an effect adds no dependency.
   */
  load(): Promise<boolean> {
    return untrack(() => this.#load());
  }

  /** Loads once; later calls do nothing (events keep it fresh). */
  ensure(): void {
    untrack(() => {
      if (this.#phase === "idle") void this.#load();
    });
  }

  /** Shows the loading state again, then fetches: "Try again" after an error. */
  retry(): Promise<boolean> {
    return untrack(() => {
      if (this.#phase !== "ready") this.#phase = "loading";
      return this.#load();
    });
  }

  #load(): Promise<boolean> {
    if (this.#inflight) {
      this.#again = true;
      return this.#inflight;
    }
    if (this.#phase !== "ready") this.#phase = "loading";
    this.#fetching = true;
    this.#inflight = this.#fetch(this.#signal)
      .then((value) => {
        if (this.#signal?.aborted) return false;
        this.#value = value;
        this.#error = null;
        this.#phase = "ready";
        return true;
      })
      .catch((error: unknown) => {
        if (this.#signal?.aborted) return false;
        // A background refresh stays quiet, unless the session has ended or two-factor sign-in must be turned on first.
        if (error instanceof ApiError && (error.status === 401 || error.code === "two_factor_required")) handleError(error);
        this.#error = error instanceof ApiError ? error : new ApiError(0, "unknown", this.#failure);
        if (this.#phase !== "ready") this.#phase = "error";
        return false;
      })
      .finally(() => {
        this.#inflight = null;
        this.#fetching = false;
        if (this.#again && !this.#signal?.aborted) {
          this.#again = false;
          void this.#load();
        }
      });
    return this.#inflight;
  }
}

/**
 * A change sent to the API: in flight (for a spinner), and its failure told to the user once.
 * `run` resolves with the answer, or null when it failed (after the toast, unless `onError` took it).
 */
export class Busy<K = true> {
  #running = $state<K | null>(null);

  /** What is running (the key given to `run`), or null. */
  get current(): K | null {
    return this.#running;
  }

  get running(): boolean {
    return this.#running !== null;
  }

  is(key: K): boolean {
    return this.#running === key;
  }

  async run<T>(
    fn: () => Promise<T>,
    options: { title: string; key?: K; onError?: (error: unknown) => boolean; retry?: () => void },
  ): Promise<T | null> {
    this.#running = options.key ?? (true as K);
    try {
      return await fn();
    } catch (error) {
      if (!options.onError?.(error)) handleError(error, { title: options.title, ...(options.retry ? { retry: options.retry } : {}) });
      return null;
    } finally {
      this.#running = null;
    }
  }
}

interface Loadable {
  load(): unknown;
  readonly requested?: boolean;
}

/** Loads what events said changed, a moment later and once however many events came. */
export class RefreshQueue {
  #due = new Set<Loadable>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  readonly #delay: number;

  constructor(delay = 300) {
    this.#delay = delay;
  }

  /** Queues each part that was asked for at least once (a tab never opened is not fetched). */
  add(...parts: Loadable[]): void {
    for (const part of parts) if (part.requested !== false) this.#due.add(part);
    if (this.#due.size === 0) return;
    this.#timer ??= setTimeout(() => this.flush(), this.#delay);
  }

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const due = [...this.#due];
    this.#due.clear();
    for (const part of due) void part.load();
  }

  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#due.clear();
  }
}
