/**
 * The live connection to the panel's event stream. One EventSource is shared by every screen
 * (reference-counted through `listen()`); screens subscribe to event types with `on()`.
 */
import { API_BASE } from "#lib/api/client.ts";
import { type SseStatus, subscribe } from "#lib/api/sse.ts";

export type EventHandler = (data: unknown, type: string, id: string | null) => void;

/** Emitted (with no data) when the stream comes back after a drop: refetch what you show. */
export const RECONNECTED = "reconnected";

class Connection {
  #status = $state<SseStatus>("connecting");
  #everOpened = $state(false);
  #lastEventAt = $state<number | null>(null);
  #handlers = new Map<string, Set<EventHandler>>();
  #listeners = 0;
  #stop: (() => void) | null = null;

  get status(): SseStatus {
    return this.#status;
  }

  get online(): boolean {
    return this.#status === "open";
  }

  /** True once the stream has dropped: first connects read "connecting", later ones "reconnecting". */
  get reconnecting(): boolean {
    return this.#status === "offline" || (this.#status === "connecting" && this.#everOpened);
  }

  get lastEventAt(): number | null {
    return this.#lastEventAt;
  }

  get label(): string {
    if (this.#status === "open") return "Live";
    return this.reconnecting ? "Reconnecting…" : "Connecting…";
  }

  /** Subscribes to one event type, or "*" for all. Returns the unsubscribe. */
  on(type: string, handler: EventHandler): () => void {
    let set = this.#handlers.get(type);
    if (!set) {
      set = new Set();
      this.#handlers.set(type, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  /** Opens the stream (shared between callers). Returns the cleanup. */
  listen(url = `${API_BASE}/events`): () => void {
    this.#listeners += 1;
    if (!this.#stop) {
      let dropped = false;
      this.#stop = subscribe(url, {
        onEvent: (type, data, id) => {
          this.#lastEventAt = Date.now();
          this.#emit(type, data, id);
        },
        onStatus: (status) => {
          this.#status = status;
          if (status === "open") {
            if (dropped) this.#emit(RECONNECTED, null, null);
            this.#everOpened = true;
            dropped = false;
          } else if (status === "offline" && this.#everOpened) {
            dropped = true;
          }
        },
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#listeners -= 1;
      if (this.#listeners === 0 && this.#stop) {
        this.#stop();
        this.#stop = null;
        this.#status = "connecting";
        this.#everOpened = false;
      }
    };
  }

  #emit(type: string, data: unknown, id: string | null): void {
    for (const key of [type, "*"]) {
      for (const handler of this.#handlers.get(key) ?? []) {
        try {
          handler(data, type, id);
        } catch (error) {
          console.error(`Event handler for "${type}" failed`, error);
        }
      }
    }
  }
}

export const connection = new Connection();
