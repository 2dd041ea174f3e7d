import { z } from "zod";
import { getRetention, RETENTION_LIMITS, setRetention } from "../../db/queries/retention.ts";
import { audit } from "../audit.ts";
import { readJson } from "../context.ts";
import { requireRole } from "../middleware/auth.ts";
import type { Router } from "../router.ts";

const days = (max: number) =>
  z.number({ error: "must be a number" }).int("must be a whole number").min(1, "must be at least 1").max(max, `must be at most ${max}`);
const retentionBody = z
  .strictObject({
    jobDays: days(RETENTION_LIMITS.jobDays),
    jobsPerApp: days(RETENTION_LIMITS.jobsPerApp),
    deliveryDays: days(RETENTION_LIMITS.deliveryDays),
    auditDays: days(RETENTION_LIMITS.auditDays),
  })
  .partial();

/** Panel-wide settings (owner only). */
export function settingsRoutes(r: Router): void {
  r.get("/api/v1/settings/retention", { auth: "owner" }, async (c) => {
    requireRole(c, "owner");
    return Response.json({ retention: await getRetention(c.services.db) });
  });

  r.put("/api/v1/settings/retention", { auth: "owner" }, async (c) => {
    requireRole(c, "owner");
    const body = await readJson(c, retentionBody);
    const retention = await setRetention(c.services.db, body);
    await audit(c, "settings.retention", "settings:retention", { ...body });
    return Response.json({ retention });
  });
}
