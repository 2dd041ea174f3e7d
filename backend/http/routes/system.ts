import { z } from "zod";
import { requestUpdate, UpdateDeclined, updateStatus } from "../../jobs/system-update.ts";
import { readJson, readQuery } from "../context.ts";
import { HttpError } from "../errors.ts";
import type { Router } from "../router.ts";
import { jobJson, selfUpdateJson } from "../shapes.ts";

const updateBody = z.object({
  revision: z
    .string()
    .regex(/^[0-9a-f]{7,40}$/, "must be a git revision (7 to 40 hex characters)")
    .optional(),
});

/** The panel's own version and its self-update (owner only). */
export function systemRoutes(r: Router): void {
  r.get("/api/v1/system/update", { auth: "owner" }, async (c) => {
    const { refresh } = readQuery(c, z.object({ refresh: z.enum(["0", "1"]).optional() }));
    return Response.json({ update: selfUpdateJson(await updateStatus(c.services, refresh === "1")) });
  });

  r.post("/api/v1/system/update", { auth: "owner" }, async (c) => {
    const body = await readJson(c, updateBody);
    try {
      const job = await requestUpdate(c.services, body.revision ?? null, {
        userId: c.auth?.user.id ?? null,
        label: c.auth?.user.email ?? "api",
      });
      return Response.json({ job: jobJson(job) }, { status: 202 });
    } catch (error) {
      if (error instanceof UpdateDeclined) throw new HttpError(error.status, error.code, error.message, error.details);
      throw error;
    }
  });
}
