import type { Router } from "../router.ts";
import { sseResponse } from "../sse.ts";

/** Every panel event, live (job, app, slot, release); clients refetch what they show on reconnect. */
export function eventRoutes(r: Router): void {
  r.get("/api/v1/events", { auth: "viewer" }, (c) =>
    sseResponse(c, (sink) => {
      sink.send({ event: "ready", data: { at: new Date().toISOString() } });
      const unsubscribe = c.services.events.subscribe((event) => sink.send({ event: event.type, data: event }));
      sink.onClose(unsubscribe);
    }),
  );
}
