import { z } from "zod";
import { isVolumeName } from "../../domain/volumes.ts";
import { removeVolume, VolumeNotFound, volumeReport } from "../../jobs/volumes.ts";
import { audit } from "../audit.ts";
import { readParams, readQuery } from "../context.ts";
import { notFound } from "../errors.ts";
import type { Router } from "../router.ts";
import { loadApp } from "./apps.ts";

const nameParam = z.object({
  app: z.string(),
  name: z.string().refine(isVolumeName, "is not a volume name (see GET /apps/:app/volumes)"),
});

export function volumeRoutes(r: Router): void {
  r.get("/api/v1/apps/:app/volumes", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    return Response.json({ volumes: await volumeReport(c.services, app) });
  });

  // Out of the settings; its data stays unless `purge` is given (then deleted for good).
  r.delete("/api/v1/apps/:app/volumes/:name", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const { name } = readParams(c, nameParam);
    const { purge } = readQuery(
      c,
      z.object({
        purge: z
          .enum(["", "true", "false", "1", "0"], { error: "must be true or false" })
          .optional()
          .transform((v) => v === "" || v === "true" || v === "1"),
      }),
    );
    let saved: typeof app;
    try {
      saved = await removeVolume(c.services, app, name, { purge });
    } catch (error) {
      if (error instanceof VolumeNotFound) throw notFound(`Volume ${name} of ${app.name}`);
      throw error;
    }
    await audit(c, purge ? "app.volume_purged" : "app.volume_removed", `app:${app.name}`, { volume: name });
    return Response.json({ volumes: await volumeReport(c.services, saved) });
  });
}
