/**
 * A rollback asked for through the API. To the warm standby it is instant: the job is started in
 * this panel at once (no queue, no poll) with its switch intent recorded, and traffic moves to
 * the standby before anything else of the job is written; the job then confirms, records, drains
 * and retains as usual. Any other rollback is queued like a deploy.
 */
import type { App, Job, Release } from "../db/schema/index.ts";
import type { Services } from "../services.ts";
import type { Actor } from "./apps.ts";
import { planGoLive } from "./targets/app.ts";

export async function requestRollback(services: Services, app: App, release: Release, actor: Actor): Promise<Job> {
  const input = {
    kind: "rollback" as const,
    appId: app.id,
    params: { releaseId: release.id },
    createdBy: actor.userId ?? null,
    trigger: actor.label ?? "api",
  };
  const g = await planGoLive(services, app, release);
  if (g.warm && services.proxy.enabled) {
    const job = await services.orchestrator.runNow(
      input,
      { step: "switch", appId: app.id, to: g.to, from: g.from, releaseId: release.id },
      async () => services.proxy.switchTo(app.name, g.to),
    );
    if (job) return job;
  }
  return services.orchestrator.enqueue(input);
}
