/**
 * Panel events, typed by the contract, from the one shared stream to the states that follow them.
 * `ROUTES` names every event type the server publishes: a type added to the contract does not
 * compile until it is decided here whether screens follow it.
 */
import { EVENT_TYPES, type EventHandlers, type EventOf, type EventType, type PanelEvent } from "#lib/api/types.ts";
import { connection, RECONNECTED } from "./connection.svelte.ts";

/** A state that follows some events, and refetches what it shows after the stream came back. */
export type Follower = Partial<EventHandlers> & { reconnected?: () => void };

const followers = new Set<Follower>();

function deliver<T extends EventType>(type: T): (event: EventOf<T>) => void {
  return (event) => {
    for (const follower of followers) {
      const handler = follower[type] as ((event: EventOf<T>) => void) | undefined;
      try {
        handler?.(event);
      } catch (error) {
        console.error(`Event handler for "${type}" failed`, error);
      }
    }
  };
}

const ignore = () => {};

export const ROUTES: EventHandlers = {
  "job.created": deliver("job.created"),
  "job.updated": deliver("job.updated"),
  // A job's steps and lines come on its own log stream (JobLog), in order with its output.
  "job.step": ignore,
  "job.log": ignore,
  "app.created": deliver("app.created"),
  "app.updated": deliver("app.updated"),
  "app.deleted": deliver("app.deleted"),
  "slot.updated": deliver("slot.updated"),
  "release.updated": deliver("release.updated"),
  "webhook.delivery": deliver("webhook.delivery"),
  "panel.updated": deliver("panel.updated"),
  metric: deliver("metric"),
  "backup.failed": deliver("backup.failed"),
  "database.updated": deliver("database.updated"),
  "domain.updated": deliver("domain.updated"),
  "certificate.updated": deliver("certificate.updated"),
  "alert.updated": deliver("alert.updated"),
  "notification.delivery": deliver("notification.delivery"),
};

const KNOWN = new Set<string>(EVENT_TYPES);

function isPanelEvent(type: string, data: unknown): data is PanelEvent {
  return KNOWN.has(type) && typeof data === "object" && data !== null && (data as { type?: unknown }).type === type;
}

let attached: (() => void) | null = null;

/** Starts following (the shared stream opens with `connection.listen()`). Returns the cleanup. */
export function follow(follower: Follower): () => void {
  followers.add(follower);
  if (!attached) {
    const offAll = connection.on("*", (data, type) => {
      if (!isPanelEvent(type, data)) return;
      (ROUTES[data.type] as (event: PanelEvent) => void)(data);
    });
    const offReconnect = connection.on(RECONNECTED, () => {
      for (const f of followers) f.reconnected?.();
    });
    attached = () => {
      offAll();
      offReconnect();
    };
  }
  return () => {
    followers.delete(follower);
    if (followers.size === 0 && attached) {
      attached();
      attached = null;
    }
  };
}
