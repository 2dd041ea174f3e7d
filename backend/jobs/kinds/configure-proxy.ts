import { updateApp } from "../../db/queries/apps.ts";
import { JobFailed, type JobHandler } from "../orchestrator.ts";
import { runSteps, type Step } from "../runner.ts";
import { requireApp } from "./app-job.ts";

const proxyStep: Step<null> = {
  name: "proxy",
  async run(ctx) {
    const app = requireApp(ctx);
    const { proxy, events } = ctx.services;
    if (!proxy.enabled) {
      ctx.log(`No nginx to configure (${proxy.problem ?? "the proxy is off"}); the domains apply once it runs.`);
      return;
    }
    const names = app.domains.length ? app.domains.join(", ") : "no extra domains";
    try {
      await proxy.configureApp(app.name, { serverNames: app.domains, preview: true });
    } catch (error) {
      const previous = Array.isArray(ctx.job.params.previousDomains) ? (ctx.job.params.previousDomains as string[]) : [];
      await updateApp(ctx.services.db, app.id, { domains: previous });
      await events.publish({ type: "app.updated", appId: app.id, app: app.name });
      throw new JobFailed(
        `nginx refused the configuration for ${names}, so the previous configuration keeps serving and the domains were put back to ${previous.length ? previous.join(", ") : "none"}: ${(error as Error).message}`,
      );
    }
    ctx.log(`nginx routes ${names} to ${app.name} (and ${app.name}.localhost).`);
  },
};

/**
 * Applies the app's domains to nginx: a validated file write, `nginx -t`, a reload confirmed by
 * a request. When nginx refuses, the previous file keeps serving and the domains are put back.
 */
export const configureProxyHandler: JobHandler = {
  steps: () => [proxyStep.name],
  async run(ctx) {
    await runSteps(ctx, [proxyStep], null);
    return { domains: requireApp(ctx).domains };
  },
};
