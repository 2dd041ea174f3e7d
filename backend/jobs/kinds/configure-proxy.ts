import { JobFailed, type JobHandler } from "../orchestrator.ts";
import { syncRoutes } from "../routes.ts";
import { runSteps, type Step } from "../runner.ts";
import { requireApp } from "./app-job.ts";

const proxyStep: Step<null> = {
  name: "proxy",
  async run(ctx) {
    const app = requireApp(ctx);
    const { proxy } = ctx.services;
    if (!proxy.enabled) {
      ctx.log(`No nginx to configure (${proxy.problem ?? "the proxy is off"}); the domains apply once it runs.`);
      return;
    }
    const changes = await syncRoutes(ctx.services);
    for (const host of changes.routed) ctx.log(`Routed ${host}.`);
    for (const host of changes.unrouted) ctx.log(`Removed the route of ${host}.`);
    for (const name of changes.installed) ctx.log(`Installed the certificate ${name}.`);
    for (const name of changes.uninstalled) ctx.log(`Removed the certificate ${name}.`);
    if (changes.problems.length > 0) throw new JobFailed(changes.problems.join("; "));
    // The app's own file (<app>.localhost, previews) does not name custom domains: unchanged by a
    // domain change, it is neither written nor reloaded (a file from before routes is, once).
    await proxy.configureApp(app.name, { serverNames: [], preview: true });
    const names = app.domains.length ? app.domains.join(", ") : "no extra domains";
    ctx.log(`nginx routes ${names} to ${app.name} (and ${app.name}.localhost), with no reload.`);
  },
};

/**
 * Applies the app's domains to nginx: each is a route (a few links and marker files nginx reads
 * on every request), written from the database; nothing is reloaded.
 */
export const configureProxyHandler: JobHandler = {
  steps: () => [proxyStep.name],
  async run(ctx) {
    await runSteps(ctx, [proxyStep], null);
    return { domains: requireApp(ctx).domains };
  },
};
