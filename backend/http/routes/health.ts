import { REVISION, VERSION } from "../../config.ts";
import { pingDatabase } from "../../db/queries/health.ts";
import type { Router } from "../router.ts";

export function healthRoutes(r: Router): void {
  r.get("/api/v1/health", { auth: "public" }, async (c) => {
    const database = c.services.database.kind;
    try {
      await pingDatabase(c.services.db);
    } catch (error) {
      c.services.log.error("health check: database unreachable", { error });
      return Response.json({ status: "error", version: VERSION, database, message: "Database unreachable." }, { status: 503 });
    }
    return Response.json({ status: "ok", version: VERSION, revision: REVISION, slot: c.services.config.panel.slot, database });
  });
}
