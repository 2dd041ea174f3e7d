import { z } from "zod";
import { PROCESS_TYPE_PATTERN } from "../../contract/api.ts";
import { formationRows, setInstances, setStopped } from "../../db/queries/processes.ts";
import type { App } from "../../db/schema/index.ts";
import { checkFormation, formationChange, WEB } from "../../domain/formation.ts";
import {
  type Actor,
  enqueueRestart,
  enqueueScale,
  knownProcessTypes,
  liveRunningCounts,
  liveSlot,
  processesReport,
} from "../../jobs/formation.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams } from "../context.ts";
import { HttpError, notFound } from "../errors.ts";
import type { Router } from "../router.ts";
import { jobJson } from "../shapes.ts";
import { loadApp } from "./apps.ts";

const typeParam = z.object({
  app: z.string(),
  type: z.string().regex(PROCESS_TYPE_PATTERN, "is not a process type"),
});

const actor = (c: Context): Actor => ({ userId: c.auth?.user.id, trigger: c.auth?.user.email });

/** The type must be one the live release declares (or, before any is live, the newest release's). */
async function loadType(c: Context, app: App): Promise<string> {
  const { type } = readParams(c, typeParam);
  const known = (await knownProcessTypes(c.services, app)) ?? [WEB];
  if (!known.includes(type)) throw notFound(`Process type ${type} of ${app.name}`);
  return type;
}

export function processRoutes(r: Router): void {
  r.get("/api/v1/apps/:app/processes", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    return Response.json(await processesReport(c.services, app));
  });

  // Web changes go blue-green (the live release boots with the new count in the idle slot, every
  // instance is health-checked, then one switch); worker changes apply to the live slot in place.
  r.put("/api/v1/apps/:app/formation", { auth: "deployer" }, async (c) => {
    const app = await loadApp(c);
    const body = await readJson(c, z.record(z.string(), z.unknown(), { error: "must be an object of process type → instance count" }));
    const { slot, release } = await liveSlot(c.services, app);
    if (release?.runtime === "static") {
      throw new HttpError(400, "validation_failed", "web: a static site is served by nginx itself; it has no processes to scale.", {
        issues: [{ path: "web", message: "a static site has no processes to scale" }],
      });
    }
    const checked = checkFormation(body, { known: await knownProcessTypes(c.services, app) });
    if (!checked.ok) {
      const [first] = checked.issues;
      throw new HttpError(400, "validation_failed", `${first?.field}: ${first?.message}.`, {
        issues: checked.issues.map((i) => ({ path: i.field, message: i.message })),
      });
    }
    const before = await formationRows(c.services.db, app.id);
    // Against what the live slot runs as well as the saved rows: the same body sent again after
    // a restart or scale that failed applies it again.
    const change = formationChange(before, checked.counts, (await liveRunningCounts(c.services, app)) ?? undefined);
    await setInstances(c.services.db, app.id, checked.counts);
    let job = null;
    if (slot && change.web) job = await enqueueRestart(c.services, app, actor(c));
    else if (slot && change.workers.length > 0) job = await enqueueScale(c.services, app, { action: "apply" }, actor(c));
    await audit(c, "app.formation", `app:${app.name}`, { formation: checked.counts, ...(job ? { jobId: job.id } : {}) });
    // A web change restarts the whole release, workers included, so one job covers both.
    return Response.json({ job: job ? jobJson(job) : null, ...(await processesReport(c.services, app)) }, { status: job ? 202 : 200 });
  });

  r.post("/api/v1/apps/:app/processes/:type/restart", { auth: "deployer" }, async (c) => {
    const app = await loadApp(c);
    const type = await loadType(c, app);
    const { slot } = await liveSlot(c.services, app);
    if (!slot) throw new HttpError(409, "not_live", `${app.name} is not running; start it first (POST /api/v1/apps/${app.name}/start).`);
    if (type !== WEB) {
      const row = (await formationRows(c.services.db, app.id)).find((r) => r.type === type);
      if (row?.stopped) {
        throw new HttpError(
          409,
          "process_stopped",
          `${type} is stopped; start it instead (POST /api/v1/apps/${app.name}/processes/${type}/start).`,
        );
      }
      if (row && row.instances === 0) {
        throw new HttpError(
          409,
          "process_scaled_to_zero",
          `${type} runs no instances; scale it up instead (PUT /api/v1/apps/${app.name}/formation).`,
        );
      }
    }
    const job =
      type === WEB
        ? await enqueueRestart(c.services, app, actor(c))
        : await enqueueScale(c.services, app, { action: "restart", type }, actor(c));
    await audit(c, "app.process_restart", `app:${app.name}`, { type, jobId: job.id });
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });

  // Stopped workers stay stopped across deploys until started; web stops with the app.
  for (const action of ["stop", "start"] as const) {
    r.post(`/api/v1/apps/:app/processes/:type/${action}`, { auth: "deployer" }, async (c) => {
      const app = await loadApp(c);
      const type = await loadType(c, app);
      if (type === WEB) {
        throw new HttpError(
          400,
          "validation_failed",
          `type: web ${action}s with the app (POST /api/v1/apps/${app.name}/${action}); set its instances with PUT /api/v1/apps/${app.name}/formation.`,
          { issues: [{ path: "type", message: `web ${action}s with the app` }] },
        );
      }
      await setStopped(c.services.db, app.id, type, action === "stop");
      const { slot } = await liveSlot(c.services, app);
      const job = slot ? await enqueueScale(c.services, app, { action, type }, actor(c)) : null;
      await audit(c, `app.process_${action}`, `app:${app.name}`, { type, ...(job ? { jobId: job.id } : {}) });
      return Response.json({ job: job ? jobJson(job) : null, ...(await processesReport(c.services, app)) }, { status: job ? 202 : 200 });
    });
  }
}
