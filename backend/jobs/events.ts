import type { PanelEvent } from "../contract/events.ts";
import type { Database } from "../db/client.ts";
import type { Logger } from "../log.ts";

export type { PanelEvent };

export type Listener = (event: PanelEvent) => void;

const CHANNEL = "switchyard_events";

/**
 * Events travel through Postgres NOTIFY even inside one instance, so a second panel (during a
 * self-update) sees exactly what the first publishes, in the same order.
 */
export class EventBus {
  private readonly listeners = new Set<Listener>();
  private unlisten: (() => Promise<void>) | null = null;

  constructor(
    private readonly database: Database,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.database.listen(CHANNEL, (payload) => {
      let event: PanelEvent;
      try {
        event = JSON.parse(payload) as PanelEvent;
      } catch {
        return;
      }
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (error) {
          this.log.error("event listener failed", { error, type: event.type });
        }
      }
    });
  }

  async stop(): Promise<void> {
    await this.unlisten?.().catch(() => {});
    this.unlisten = null;
    this.listeners.clear();
  }

  async publish(event: PanelEvent): Promise<void> {
    try {
      await this.database.notify(CHANNEL, JSON.stringify(event));
    } catch (error) {
      // An event lost is a stale screen, not a lost deploy: never fail the caller for it.
      this.log.warn("event publish failed", { error, type: event.type });
    }
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
