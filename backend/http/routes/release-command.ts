import type { ReleaseCommandInfo } from "../../contract/api.ts";
import { releaseCommandInfo } from "../../db/queries/release-command.ts";
import { audit } from "../audit.ts";
import { conflict } from "../errors.ts";
import type { Router } from "../router.ts";
import { jobJson } from "../shapes.ts";
import { loadApp } from "./apps.ts";

/** An app's release command: the last run (a deploy's step or a run again), and running it again as a job. */
export function releaseCommandRoutes(r: Router): void {
  r.get("/api/v1/apps/:app/release-command", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { command, lastRun } = await releaseCommandInfo(c.services.db, app);
    return Response.json({ command, lastRun } satisfies ReleaseCommandInfo);
  });

  r.post("/api/v1/apps/:app/release-command", { auth: "deployer" }, async (c) => {
    const app = await loadApp(c);
    const { command, live } = await releaseCommandInfo(c.services.db, app);
    if (!live) throw conflict("no_live_release", `${app.name} has no live release to run the release command in; deploy it first.`);
    if (!command) {
      throw conflict(
        "no_release_command",
        `${app.name} has no release command: set releaseCommand in its settings, or add a release: line to its Procfile and deploy.`,
      );
    }
    const job = await c.services.orchestrator.enqueue({
      kind: "release-command",
      appId: app.id,
      createdBy: c.auth?.user.id,
      trigger: c.auth?.user.email,
    });
    await audit(c, "app.release_command", `app:${app.name}`, { jobId: job.id, releaseId: live.id });
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });
}
