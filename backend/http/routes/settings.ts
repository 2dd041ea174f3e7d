import { z } from "zod";
import { twoFactorState } from "../../auth/totp.ts";
import { getBuildSettings, setBuildSettings } from "../../db/queries/build-settings.ts";
import { getRetention, RETENTION_LIMITS, setRetention } from "../../db/queries/retention.ts";
import { getSecurity, setSecurity } from "../../db/queries/security.ts";
import { buildSettingsBody } from "../../domain/build-limits.ts";
import { audit } from "../audit.ts";
import { readJson } from "../context.ts";
import { badRequest } from "../errors.ts";
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
    minuteDays: days(RETENTION_LIMITS.minuteDays),
    hourDays: days(RETENTION_LIMITS.hourDays),
    dayDays: days(RETENTION_LIMITS.dayDays),
    logDays: days(RETENTION_LIMITS.logDays),
    logMaxMb: days(RETENTION_LIMITS.logMaxMb),
  })
  .partial();
const securityBody = z.strictObject({ requireTwoFactor: z.boolean({ error: "must be true or false" }) });

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

  // How many builds run at once and the memory each may use (BuildSettings).
  r.get("/api/v1/settings/builds", { auth: "owner" }, async (c) => {
    requireRole(c, "owner");
    return Response.json({ builds: await getBuildSettings(c.services.db) });
  });

  r.put("/api/v1/settings/builds", { auth: "owner" }, async (c) => {
    requireRole(c, "owner");
    const body = await readJson(c, buildSettingsBody);
    const builds = await setBuildSettings(c.services.db, body);
    await audit(c, "settings.builds", "settings:builds", { ...body });
    return Response.json({ builds });
  });

  r.get("/api/v1/settings/security", { auth: "owner" }, async (c) => {
    requireRole(c, "owner");
    return Response.json(await getSecurity(c.services.db));
  });

  r.put("/api/v1/settings/security", { auth: "owner" }, async (c) => {
    const auth = requireRole(c, "owner");
    const body = await readJson(c, securityBody);
    if (body.requireTwoFactor && !(await twoFactorState(c.services.db, auth.user.id)).enabledAt) {
      throw badRequest(
        "Turn on two-factor sign-in for your own account first (Account → Two-factor sign-in), so the requirement cannot lock you out.",
        {
          issues: [{ path: "requireTwoFactor", message: "needs two-factor sign-in on for your own account first" }],
        },
      );
    }
    const security = await setSecurity(c.services.db, body);
    await audit(c, "settings.require_two_factor", "settings:security", { requireTwoFactor: security.requireTwoFactor });
    return Response.json(security);
  });
}
