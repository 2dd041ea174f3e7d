/**
 * A static site's blue and green slots: no process, only a link nginx serves the release's output
 * directory through. Start publishes the idle slot's link, the probe looks for its index.html, the
 * switch replaces the live link (no reload), and the old slot's link stays as the standby, an
 * instant rollback. Rows, the switch's confirmation, the watch and retention are an app's.
 */
import { join } from "node:path";
import { probeHttp } from "../../adapters/probe.ts";
import { confirmHostname } from "../../commands/nginx.ts";
import type { App, Release } from "../../db/schema/index.ts";
import type { Services } from "../../services.ts";
import { JobFailed } from "../orchestrator.ts";
import * as store from "../store.ts";
import { appTarget } from "./app.ts";
import type { Probe, SlotTarget } from "./types.ts";

/**
 * The output directory of a static release, relative to its files: recorded at release, or, for
 * a release made when a Bun process served static sites, the directory its start command named.
 */
export function staticDirOf(release: Pick<Release, "details" | "startCommand">): string | null {
  const recorded = release.details?.staticDir;
  if (typeof recorded === "string" && recorded) return recorded;
  const [, script, dir] = release.startCommand;
  return script?.endsWith("static-server.ts") && dir ? dir : null;
}

export function staticTarget(services: Services, app: App, release: Release): SlotTarget {
  const base = appTarget(services, app, release);
  const { proxy } = services;
  return {
    ...base,
    // Files either are there or are not: one look is enough, and it takes no time.
    health: { timeoutMs: Math.max(1_000, app.healthTimeoutSec * 1000), intervalMs: 100, successes: 1 },

    async start(ctx, g) {
      if (!proxy.enabled) throw new JobFailed(`Static sites are served by nginx, which is not available: ${proxy.problem ?? ""}`.trim());
      const dir = staticDirOf(release);
      if (!dir) throw new JobFailed(`v${release.number} records no output directory to serve; deploy again.`);
      // Whatever ran in that slot before (an earlier release's process, the standby) makes way.
      await services.runtime.stop(app.name, g.to, { graceMs: 5_000 });
      await store.moveSlot(services, app, g.to, "start", { releaseId: release.id });
      let published: { dir: string; skippedLinks: string[] };
      try {
        published = proxy.staticSites.publish(app.name, g.to, { id: release.id, dir: release.dir, outputDir: dir });
      } catch (error) {
        throw new JobFailed((error as Error).message);
      }
      for (const link of published.skippedLinks)
        ctx.log(`${join(dir, link)} is a symbolic link: not served, a static site serves its own files only.`, "stderr");
      proxy.staticSites.setFallback(app.name, app.spaFallback);
      ctx.log(
        `Serving v${release.number} from ${dir === "." ? "the repository's root" : `${dir}/`} in the ${g.to} slot (nginx, no process${app.spaFallback ? "; single-page fallback on" : ""}).`,
      );
    },

    async probe(_ctx, g): Promise<Probe> {
      const slot = proxy.staticSites.slot(app.name, g.to);
      if (!slot) return { ok: false, problem: `the ${g.to} slot has no site`, dead: `The ${g.to} slot's link is gone.` };
      if (!slot.hasIndex) {
        return {
          ok: false,
          problem: "no index.html",
          dead: `The output directory ${staticDirOf(release)}/ has no index.html: the site has no home page. Check the build's output directory (the app's outputDir setting).`,
        };
      }
      return { ok: true, detail: `index.html is there (${g.to} slot)` };
    },

    async confirm() {
      if (!proxy.enabled) return null;
      const url = new URL(proxy.appUrl(app.name));
      const answer = await probeHttp(`http://127.0.0.1:${url.port || 80}/`, { host: confirmHostname(app.name), timeoutMs: 5_000 });
      if ("error" in answer) return `Through nginx, ${url.href} did not answer (${answer.message})`;
      if (answer.status !== 200) return `Through nginx, ${url.href} answered ${answer.status}`;
      return null;
    },
  };
}
