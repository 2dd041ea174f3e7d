/**
 * A static site's slot runs nothing: nginx serves the release's files while the slot's link
 * exists. To the rest of the panel (reconciliation, the slot monitor, stop, the slots and
 * processes views) such a slot is one that runs, with no pid; stopping it removes its link. Every
 * other slot is the runtime's.
 */
import type { Color, ProcessStatus, Runtime, SlotStatus } from "../runtime/types.ts";
import type { StaticSites } from "./static.ts";

function staticStatus(base: SlotStatus, slot: { releaseId: string | null; since: Date }): SlotStatus {
  const instance = {
    index: 1,
    state: "running" as const,
    pid: null,
    port: null,
    restarts: 0,
    startedAt: slot.since,
    lastExit: null,
  };
  return {
    ...base,
    state: "running",
    pid: null,
    port: null,
    releaseId: slot.releaseId,
    startedAt: slot.since,
    restarts: 0,
    instances: [instance],
  };
}

export function withStaticSites(inner: Runtime, sites: StaticSites): Runtime {
  /** The slot's static site, when no process of the runtime's runs there. */
  const staticOf = async (app: string, color: Color) => {
    const slot = sites.slot(app, color);
    if (!slot) return null;
    const status = await inner.status(app, color);
    return status.state === "stopped" ? { slot, status } : null;
  };

  return {
    get kind() {
      return inner.kind;
    },
    get logReader() {
      return inner.logReader;
    },
    async start(spec) {
      // A process takes the slot: its old site's link goes (the slot is idle, never the live one).
      sites.unpublish(spec.app, spec.color);
      await inner.start(spec);
    },
    async stop(app, color, options) {
      await inner.stop(app, color, options);
      sites.unpublish(app, color);
    },
    async status(app, color) {
      const found = await staticOf(app, color);
      return found ? staticStatus(found.status, found.slot) : inner.status(app, color);
    },
    async drain(app, color, options) {
      // nginx finishes its own requests; nothing holds a connection to a file.
      return (await staticOf(app, color)) ? 0 : inner.drain(app, color, options);
    },
    logs: (app, color, options) => inner.logs(app, color, options),
    startWorkers: (spec) => inner.startWorkers(spec),
    stopWorkers: (app, color, options) => inner.stopWorkers(app, color, options),
    restartWorkers: (app, color, type) => inner.restartWorkers(app, color, type),
    async processes(app, color): Promise<ProcessStatus[]> {
      const found = await staticOf(app, color);
      if (!found) return inner.processes(app, color);
      const status = staticStatus(found.status, found.slot);
      return [{ type: "web", releaseId: status.releaseId, instances: status.instances ?? [] }];
    },
    async list() {
      const listed = await inner.list();
      const seen = new Set(listed.map((s) => `${s.app}/${s.color}`));
      for (const app of sites.apps()) {
        for (const color of ["blue", "green"] as const) {
          if (seen.has(`${app}/${color}`)) continue;
          const found = await staticOf(app, color).catch(() => null);
          if (found) listed.push({ app, color, status: staticStatus(found.status, found.slot) });
        }
      }
      return listed;
    },
    async remove(app) {
      await inner.remove(app);
      sites.remove(app);
    },
  };
}
