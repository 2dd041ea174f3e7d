/** The server this panel talks to: its health, version and database, shared by the sidebar and settings. */
import { health } from "#lib/api/client.ts";
import type { Health } from "#lib/api/types.ts";
import { Resource } from "./resource.svelte.ts";

class PanelHealth {
  readonly health = new Resource<Health | null>(null, (signal) => health(signal ? { signal } : undefined), { failure: "Unavailable" });

  get version(): string | null {
    return this.health.value?.version ?? null;
  }
}

export const panelHealth = new PanelHealth();
