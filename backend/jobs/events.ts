import type { Database } from "../db/client.ts";
import type { Logger } from "../log.ts";

/** Every event any panel instance publishes; small, because NOTIFY payloads are capped at 8000 bytes. */
export type PanelEvent =
  | { type: "job.created" | "job.updated"; jobId: string; appId: string | null; app?: string | null; kind: string; status: string }
  | { type: "job.step"; jobId: string; step: string; position: number; status: string }
  | { type: "job.log"; jobId: string; seq: number }
  | { type: "app.created" | "app.updated" | "app.deleted"; appId: string; app: string; status?: string }
  | { type: "slot.updated"; appId: string; app: string; color: string; state: string; releaseId: string | null }
  | { type: "release.updated"; appId: string; app: string; releaseId: string; status: string }
  | { type: "webhook.delivery"; appId: string | null; deliveryId: string; outcome: string; jobId: string | null }
  | { type: "panel.updated"; revision: string | null; slot: string; reverted: boolean; reason: string | null };

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
