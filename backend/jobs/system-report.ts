/**
 * What the server page and a Prometheus scrape read: the system series from `resource_stats`,
 * the diagnostics (each check says what is wrong and how to fix it), and the panel's figures
 * for `/metrics`.
 */

import { HELPER_PATH, processPrivilege } from "../adapters/privilege.ts";
import { fileSizes } from "../adapters/sampler/disk-use.ts";
import { probeNginx, programVersion } from "../adapters/sampler/probes.ts";
import { createProcfs } from "../adapters/sampler/readers.ts";
import type { Diagnostic, Diagnostics, MetricStep, SystemMetricPoint, SystemMetrics } from "../contract/api.ts";
import { accessSource } from "../db/queries/request-stats.ts";
import {
  appNames,
  automaticRollbacks,
  checkpoints,
  databaseLatency,
  jobCounts,
  jobDurations,
  requestTotalsByApp,
  resourceRows,
  slotsToSample,
} from "../db/queries/resources.ts";
import { finerThan, floorTo, RESOLUTION_MS, type Resolution, resolutionFor, STEP_MS } from "../domain/metrics.ts";
import type { PanelFigures } from "../domain/prometheus.ts";
import { diskLevel, foldIntoSteps, formatBytes, type ResourceValues, systemPoint } from "../domain/resources.ts";
import type { Services } from "../services.ts";

// ── system series ─────────────────────────────────────────────────────────────────────────────

/**
 * Rows of one subject from `from` to `to` at the resolution the step reads, and, past the last
 * bucket rolled up so far, from the finer resolutions (the current hour is still in minutes).
 */
async function rowsAcross(services: Services, from: Date, to: Date, step: MetricStep, subject: "system") {
  const out: Array<{ bucket: Date; samples: number; values: ResourceValues }> = [];
  let resolution: Resolution | null = resolutionFor(step);
  let start = from;
  while (resolution && start < to) {
    const rows = await resourceRows(services.db, { resolution, subject, from: start, to });
    out.push(...rows);
    const last = rows.at(-1);
    if (last) start = new Date(last.bucket.getTime() + RESOLUTION_MS[resolution]);
    resolution = finerThan(resolution);
  }
  return out;
}

export async function systemMetrics(services: Services, range: { from: Date; to: Date; step: MetricStep }): Promise<SystemMetrics> {
  const stepMs = STEP_MS[range.step];
  const fromMs = floorTo(range.from.getTime(), stepMs);
  const rows = await rowsAcross(services, new Date(fromMs), range.to, range.step, "system");
  const steps = foldIntoSteps(rows, fromMs, stepMs);
  const series: SystemMetricPoint[] = [];
  for (let t = fromMs; t < range.to.getTime(); t += stepMs) series.push(systemPoint(t, steps.get(t)?.values ?? {}));
  const latest = services.sampler.latest();
  const disk = await services.sampler.diskUse();
  return {
    from: new Date(fromMs).toISOString(),
    to: range.to.toISOString(),
    step: range.step,
    series,
    now: latest?.system ?? null,
    cores: latest?.cores ?? navigator.hardwareConcurrency,
    disk: { apps: disk.apps, database: disk.database, databaseKind: services.database.kind },
  };
}

// ── diagnostics ───────────────────────────────────────────────────────────────────────────────

type Check = Omit<Diagnostic, "check">;

const ok = (summary: string): Check => ({ status: "ok", summary, fix: null });
const skipped = (summary: string): Check => ({ status: "skipped", summary, fix: null });

/** Over this much access log not yet read, ingestion is behind (a warning), and far behind (an error). */
const LAG_WARNING = 10 * 1024 * 1024;
const LAG_ERROR = 100 * 1024 * 1024;
/** The panel's resident memory worth a look: twice the idle figure it is built to keep. */
const MEMORY_WARNING = { pglite: 300 * 1024 * 1024, postgres: 160 * 1024 * 1024 } as const;

async function checkNginx(s: Services): Promise<Check> {
  const { config, proxy } = s;
  if (!proxy.enabled) {
    return {
      status: "error",
      summary: proxy.problem ?? "nginx is not in use, so apps are only reachable on their slot ports.",
      fix: "Install nginx (apt-get install nginx) and restart the panel.",
    };
  }
  const root = processPrivilege().root;
  const probe = await probeNginx({ mode: config.mode, dataDir: config.dataDir, port: config.proxyPort, root });
  const which = config.mode === "local" ? "The panel's nginx" : "The system's nginx";
  if (config.mode === "local" && probe.pid === null) {
    return {
      status: "error",
      summary: `${which} is not running: apps cannot be reached on port ${config.proxyPort}.`,
      fix: `Restart the panel (it starts its nginx); if it fails again, read ${config.dataDir}/nginx/logs/error.log.`,
    };
  }
  if (!probe.answers) {
    return {
      status: "error",
      summary: `Nothing answers HTTP on port ${config.proxyPort}, where apps are served.`,
      fix:
        config.mode === "local"
          ? `Read ${config.dataDir}/nginx/logs/error.log (another program may hold port ${config.proxyPort}); then restart the panel.`
          : "Start nginx (systemctl start nginx) and read `journalctl -u nginx` if it does not stay up.",
    };
  }
  if (probe.configValid === false) {
    return {
      status: "error",
      summary: `${which} answers, but its configuration does not pass nginx -t: ${probe.configError ?? "no detail"}. The next reload will fail.`,
      fix: "Correct or remove the file nginx names, then redeploy or reconfigure the app it belongs to.",
    };
  }
  const tested = probe.configValid === null ? " (the configuration test needs root: run `sudo nginx -t`)" : ", configuration valid";
  return ok(`${which} answers on port ${config.proxyPort}${tested}.`);
}

async function checkDatabase(s: Services): Promise<Check> {
  try {
    const ms = await databaseLatency(s.db);
    const size = (await s.sampler.diskUse()).database;
    const what = s.database.kind === "pglite" ? "The embedded database (PGlite)" : "PostgreSQL";
    const summary = `${what} answers in ${ms.toFixed(1)} ms${size !== null ? `; it holds ${formatBytes(size)}` : ""}.`;
    if (ms > 500) {
      return {
        status: "warning",
        summary,
        fix:
          s.database.kind === "pglite"
            ? "The embedded database is slow under this load; set DATABASE_URL to a PostgreSQL server and restart the panel."
            : "Check the PostgreSQL server's load and the network to it.",
      };
    }
    return ok(summary);
  } catch (error) {
    return {
      status: "error",
      summary: `The database does not answer: ${(error as Error).message}.`,
      fix:
        s.database.kind === "pglite"
          ? `Check that ${s.config.dataDir}/pg is on a disk with free space, then restart the panel.`
          : "Check that PostgreSQL runs and that DATABASE_URL points at it, then restart the panel.",
    };
  }
}

function checkDisk(): Check {
  const disks = createProcfs().system().disks;
  if (disks.length === 0) return skipped("No mounted filesystem could be read.");
  const levels = disks.map((d) => ({ ...d, level: diskLevel(d.used, d.size), free: (d.size - d.used) / d.size }));
  const describe = (d: (typeof levels)[number]) => `${d.mount} ${Math.round(d.free * 100)} % free (${formatBytes(d.size - d.used)})`;
  const worst = levels.find((d) => d.level === "error") ?? levels.find((d) => d.level === "warning");
  if (!worst) return ok(levels.map(describe).join("; "));
  const low = levels.filter((d) => d.level !== "ok");
  return {
    status: worst.level,
    summary: `Low on space: ${low.map(describe).join("; ")}.`,
    fix: `Free space on ${low.map((d) => d.mount).join(", ")}: keep fewer releases per app, shorten metric and log retention (Settings), remove unused apps, or grow the disk.`,
  };
}

async function checkCertbot(s: Services): Promise<Check> {
  if (s.config.mode === "local")
    return skipped("Local mode serves apps on *.localhost over HTTP; certificates are issued in server mode only.");
  const version = await programVersion("certbot");
  if (!version) {
    return {
      status: "warning",
      summary: "certbot is not installed, so apps with a domain cannot get an HTTPS certificate.",
      fix: "Install it (apt-get install certbot) and issue the certificate again from the app's Domains.",
    };
  }
  return ok(`${version} is installed.`);
}

async function checkHelper(s: Services): Promise<Check> {
  if (s.config.mode === "local") return skipped("Local mode runs everything as the panel's user; there is no root helper.");
  const privilege = processPrivilege();
  if (privilege.root) return ok("The panel runs as root and acts itself.");
  try {
    await privilege.helper(["list"]);
    return ok(`The root helper (${HELPER_PATH}) answers through sudo.`);
  } catch (error) {
    return {
      status: "error",
      summary: `The root helper does not answer: ${(error as Error).message}. Units, nginx files and certificates cannot be changed.`,
      fix: `Run install.sh again: it installs ${HELPER_PATH} and the sudoers rule /etc/sudoers.d/switchyard that lets the panel's user call it.`,
    };
  }
}

function checkMemory(s: Services): Check {
  const rss = process.memoryUsage().rss;
  const limit = MEMORY_WARNING[s.database.kind];
  const summary = `The panel uses ${formatBytes(rss)} of memory.`;
  if (rss < limit) return ok(summary);
  return {
    status: "warning",
    summary: `${summary} That is more than ${formatBytes(limit)}, twice what it needs when idle.`,
    fix:
      s.database.kind === "pglite"
        ? "Restart the panel; if it grows again, move the database to PostgreSQL (DATABASE_URL), which keeps the panel smaller."
        : "Restart the panel, and report it if it grows again.",
  };
}

async function checkIngestion(s: Services): Promise<Check> {
  if (!s.config.metrics.enabled) return skipped("Request metrics are off (SWITCHYARD_METRICS=off).");
  if (!s.proxy.enabled) return skipped("There is no nginx, so no access log to read.");
  const stored = new Map((await checkpoints(s.db)).map((c) => [c.source, c]));
  const behind: Array<{ app: string; bytes: number }> = [];
  let total = 0;
  for (const { name } of await appNames(s.db)) {
    const file = s.proxy.paths.accessLog(name);
    const sizes = await fileSizes([file, `${file}.1`]);
    const current = sizes.get(file) ?? null;
    const rotated = sizes.get(`${file}.1`) ?? null;
    const cp = stored.get(accessSource(name));
    let lag = current?.size ?? 0;
    if (cp && current?.ino === cp.ino) lag = Math.max(0, current.size - cp.offset);
    else if (cp && rotated?.ino === cp.ino) lag += Math.max(0, rotated.size - cp.offset);
    total += lag;
    if (lag > 0) behind.push({ app: name, bytes: lag });
  }
  const detail = behind
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 3)
    .map((b) => `${b.app} ${formatBytes(b.bytes)}`)
    .join(", ");
  const summary = `${formatBytes(total)} of access log not read yet${detail ? ` (${detail})` : ""}.`;
  if (total < LAG_WARNING) return ok(summary);
  return {
    status: total >= LAG_ERROR ? "error" : "warning",
    summary: `Request metrics are behind: ${summary}`,
    fix: "Look for 'ingest' warnings in the panel's log. A panel under heavy load catches up on its own; a database that refuses writes (a full disk) does not.",
  };
}

export async function diagnostics(services: Services): Promise<Diagnostics> {
  const run = async (check: string, fn: () => Check | Promise<Check>): Promise<Diagnostic> => {
    try {
      return { check, ...(await fn()) };
    } catch (error) {
      return {
        check,
        status: "error",
        summary: `The check itself failed: ${(error as Error).message}.`,
        fix: "Read the panel's log for details.",
      };
    }
  };
  const checks = await Promise.all([
    run("nginx", () => checkNginx(services)),
    run("database", () => checkDatabase(services)),
    run("disk", () => checkDisk()),
    run("certbot", () => checkCertbot(services)),
    run("helper", () => checkHelper(services)),
    run("memory", () => checkMemory(services)),
    run("ingestion", () => checkIngestion(services)),
  ]);
  return { checkedAt: new Date().toISOString(), checks };
}

// ── /metrics ──────────────────────────────────────────────────────────────────────────────────

export async function prometheusFigures(services: Services): Promise<PanelFigures> {
  const { db, sampler, runtime } = services;
  const latest = sampler.latest();
  let slots: PanelFigures["slots"];
  if (latest) {
    slots = latest.slots.map((s) => ({
      app: s.app,
      slot: s.color,
      up: s.up,
      live: s.live,
      cpu: s.cpu,
      memory: s.memory,
      restarts: s.restarts,
    }));
  } else {
    // Sampling is off: whether slots run still comes from the runtime.
    slots = [];
    for (const row of await slotsToSample(db)) {
      const status = await runtime.status(row.app, row.color).catch(() => null);
      slots.push({
        app: row.app,
        slot: row.color,
        up: status?.pid != null && status.state === "running",
        live: row.state === "live",
        cpu: null,
        memory: null,
        restarts: status?.restarts ?? 0,
      });
    }
  }
  const counts = await jobCounts(db);
  const finished = new Set(["succeeded", "failed", "cancelled"]);
  return {
    requests: (await requestTotalsByApp(db)).map(({ app, totals }) => ({ app, ...totals })),
    slots,
    deploys: counts.filter((c) => c.kind === "deploy" && finished.has(c.status)).map(({ app, status, count }) => ({ app, status, count })),
    rollbacks: [
      ...counts
        .filter((c) => c.kind === "rollback" && c.status === "succeeded")
        .map(({ app, count }) => ({ app, kind: "manual" as const, count })),
      ...(await automaticRollbacks(db)).map(({ app, count }) => ({ app, kind: "automatic" as const, count })),
    ],
    jobs: await jobDurations(db),
    system: latest
      ? {
          cpu: latest.system.cpu,
          load1: latest.system.load1,
          memoryUsed: latest.system.memoryUsed,
          memoryTotal: latest.system.memoryTotal,
          pressure: latest.system.pressure,
          disks: latest.system.disks,
        }
      : null,
    databaseBytes: latest?.dbBytes ?? null,
  };
}
