import { chmodSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { closeEngines } from "./adapters/databases/engine.ts";
import { createGitHub } from "./adapters/github.ts";
import { type Privilege, processPrivilege } from "./adapters/privilege.ts";
import { createProxy } from "./adapters/proxy/index.ts";
import { withStaticSites } from "./adapters/proxy/static-runtime.ts";
import { createProcessRuntime } from "./adapters/runtime/process.ts";
import { createSystemdRuntime, directSystemdHost, helperSystemdHost } from "./adapters/runtime/systemd.ts";
import type { Runtime } from "./adapters/runtime/types.ts";
import { RateLimiter } from "./auth/rate-limit.ts";
import { ensureSetupCode, removeSetupCode, setupCodeFile } from "./auth/setup-code.ts";
import { type Config, REVISION, VERSION } from "./config.ts";
import { type Database, openDatabase } from "./db/client.ts";
import { countUsers } from "./db/queries/users.ts";
import { createHttpApp } from "./http/server.ts";
import { endEventStreams } from "./http/sse.ts";
import { startAlerts, stopAlerts } from "./jobs/alerts.ts";
import { startBackupScheduler, stopBackupScheduler } from "./jobs/backup-scheduler.ts";
import { startCertificateRenewal, stopCertificateRenewal } from "./jobs/certificate-renewal.ts";
import { startCronScheduler, stopCronScheduler } from "./jobs/cron-scheduler.ts";
import { ensureDatabasesRunning, startDatabasePolling, stopDatabasePolling } from "./jobs/database-stats.ts";
import { EventBus } from "./jobs/events.ts";
import { jobHandlers } from "./jobs/handlers.ts";
import { ingesterOf } from "./jobs/ingest.ts";
import { checkSlots } from "./jobs/monitor.ts";
import { startNotificationWorker, stopNotificationWorker } from "./jobs/notification-worker.ts";
import { Orchestrator, type OrchestratorOptions } from "./jobs/orchestrator.ts";
import { HOUSEKEEPING_MS, housekeeping } from "./jobs/prune.ts";
import { reconcileSlots } from "./jobs/reconcile.ts";
import { syncRoutes } from "./jobs/routes.ts";
import { Sampler } from "./jobs/sampler.ts";
import { createLogger } from "./log.ts";
import { loadSecretKey } from "./secret-key.ts";
import type { Services } from "./services.ts";

export const DEFAULT_GUI_DIR = join(import.meta.dir, "..", "app", "build");

export interface Panel {
  services: Services;
  server: Server<unknown>;
  url: string;
  stop(): Promise<void>;
}

export function openPanelDatabase(config: Config): Promise<Database> {
  return openDatabase({ url: config.databaseUrl, pgliteDir: join(config.dataDir, "pg") });
}

/**
 * Creating a PGlite cluster (initdb) leaves a few hundred MB resident in the process that did
 * it; doing it in a short-lived child keeps the long-running panel small from its first start.
 */
async function initPgliteInChild(config: Config): Promise<void> {
  if (config.databaseUrl || existsSync(join(config.dataDir, "pg", "PG_VERSION"))) return;
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "cli.ts"), "migrate"], {
    env: { ...process.env, SWITCHYARD_DATA_DIR: config.dataDir, DATABASE_URL: "" },
    stdout: "ignore",
    stderr: "pipe",
  });
  if ((await proc.exited) !== 0) {
    throw new Error(`Creating the embedded database in ${config.dataDir}/pg failed: ${(await new Response(proc.stderr).text()).trim()}`);
  }
}

export function createRuntime(config: Config, privilege: Privilege = processPrivilege()): Runtime {
  return config.mode === "server"
    ? createSystemdRuntime({
        user: "switchyard-apps",
        stateDir: join(config.dataDir, "apps"),
        toolsDir: join(config.dataDir, "bin"),
        // Root writes units itself; the installed panel (user switchyard) asks the helper.
        host: privilege.root ? directSystemdHost() : helperSystemdHost(privilege),
      })
    : createProcessRuntime({ dataDir: config.dataDir, appUser: config.appUser });
}

export function createServices(
  config: Config,
  database: Database,
  overrides: Partial<Services> = {},
  orchestratorOptions: OrchestratorOptions = {},
): Services {
  const log = overrides.log ?? createLogger(config.logLevel);
  const services = {
    config,
    database,
    db: database.db,
    log,
    limits: {
      loginByIp: new RateLimiter(30, 15 * 60_000),
      loginByAccount: new RateLimiter(10, 15 * 60_000),
    },
    guiDir: DEFAULT_GUI_DIR,
    masterKey: overrides.masterKey ?? loadSecretKey(config),
    events: new EventBus(database, log),
    runtime: overrides.runtime ?? createRuntime(config, processPrivilege()),
    github: createGitHub(config),
    proxy: overrides.proxy ?? createProxy(config, processPrivilege(), log),
    ...overrides,
  } as Services;
  // Static sites' slots are links nginx serves, not processes: the runtime answers for both.
  services.runtime = withStaticSites(services.runtime, services.proxy.staticSites);
  services.orchestrator ??= new Orchestrator(services, jobHandlers, {
    staleMs: config.jobStaleSeconds * 1000,
    heartbeatMs: Math.min(5_000, (config.jobStaleSeconds * 1000) / 3),
    ...orchestratorOptions,
  });
  services.sampler ??= new Sampler(services);
  return services;
}

/** Event bus, slot reconciliation, then the job workers: what runs behind the API. */
export async function startBackground(services: Services, options: { monitorMs?: number } = {}): Promise<void> {
  await services.proxy.start();
  // Custom domains and certificates, from the database (a restored or moved panel serves them again).
  await syncRoutes(services).catch((error: unknown) => services.log.warn("routes were not written", { error }));
  await services.events.start();
  // Jobs a dead panel left running: failed, and what they were changing finished or undone.
  services.orchestrator.onRecovered = async (recovered) => {
    const tally = await reconcileSlots(services, recovered);
    services.log.info("reconciled after interrupted jobs", { jobs: recovered.length, tally });
  };
  await services.orchestrator.recoverStale(services.database.kind === "pglite" ? 0 : undefined);
  const tally = await reconcileSlots(services);
  if (tally.adopted + tally.stopped + tally.removed + tally.rerouted > 0) services.log.info("slots reconciled", { ...tally });
  await services.orchestrator.start();
  if (services.config.metrics.enabled) services.sampler.start();
  standbyTimers.set(
    services,
    setInterval(() => {
      checkSlots(services).catch((error: unknown) => services.log.warn("slot check failed", { error }));
    }, options.monitorMs ?? 10_000),
  );
  if (services.config.metrics.enabled) ingesterOf(services).start();
  // Redis databases come back after a reboot; their start does not hold up the panel's.
  void ensureDatabasesRunning(services).catch((error: unknown) => services.log.warn("starting databases failed", { error }));
  startDatabasePolling(services);
  startBackupScheduler(services);
  startCertificateRenewal(services);
  startCronScheduler(services);
  await startNotificationWorker(services);
  await startAlerts(services);
  const tidy = () => void housekeeping(services).catch((error: unknown) => services.log.warn("housekeeping failed", { error }));
  // A minute after start as well, so a panel restarted more often than hourly still prunes.
  housekeepingTimers.set(services, [setTimeout(tidy, 60_000), setInterval(tidy, HOUSEKEEPING_MS)]);
}

const standbyTimers = new WeakMap<Services, ReturnType<typeof setInterval>>();
const housekeepingTimers = new WeakMap<Services, ReturnType<typeof setTimeout>[]>();

/**
 * The panel's own stop. nginx and the apps keep running, so apps stay reachable while the panel
 * restarts (the next start adopts them); `switchyard stop` stops them too.
 */
export async function stopBackground(services: Services): Promise<void> {
  clearInterval(standbyTimers.get(services));
  for (const timer of housekeepingTimers.get(services) ?? []) clearTimeout(timer);
  await services.sampler.stop();
  stopDatabasePolling(services);
  stopBackupScheduler(services);
  stopCertificateRenewal(services);
  await stopCronScheduler(services);
  await stopAlerts(services);
  await stopNotificationWorker(services);
  await ingesterOf(services).stop();
  await services.orchestrator.stop();
  await services.events.stop();
  await closeEngines(services);
}

/**
 * While no user exists, the console says where to set the panel up and with which one-time code;
 * once the owner exists, a code left over is removed.
 */
async function announceSetupCode(config: Config, database: Database, port: number | null, url: string): Promise<void> {
  if ((await countUsers(database.db)) > 0) {
    removeSetupCode(config.dataDir);
    return;
  }
  const code = ensureSetupCode(config.dataDir);
  const { publicUrl } = config;
  const publicPort = Number(publicUrl.port || (publicUrl.protocol === "https:" ? 443 : 80));
  // The public URL when it leads here (behind nginx, or on its port); else where this panel listens.
  const base = config.socket || publicPort === port ? publicUrl.origin : url;
  const command = config.mode === "server" ? "sudo switchyard setup-code" : "bun backend/cli.ts setup-code";
  console.log(
    `First run: open ${base}/setup and enter the setup code ${code} (kept in ${setupCodeFile(config.dataDir)} until the owner account exists; \`${command}\` prints it again).`,
  );
}

/** Wiring only: database, migrations, services, HTTP listener. */
export async function startPanel(config: Config, overrides: Partial<Services> = {}): Promise<Panel> {
  const masterKey = loadSecretKey(config);
  await initPgliteInChild(config);
  const database = await openPanelDatabase(config);
  await database.migrate();
  const services = createServices(config, database, { masterKey, ...overrides });
  await startBackground(services);
  const app = createHttpApp(services);
  const handlers = {
    // Webhook deliveries may be up to 25 MB; routes enforce their own smaller limits.
    maxRequestBodySize: 26 * 1024 * 1024,
    fetch: (req: Request, srv: Server<unknown>) => app.fetch(req, srv),
    error: (error: Error) => {
      services.log.error("server error", { error });
      return Response.json({ error: { code: "internal_error", message: "Something went wrong on the server." } }, { status: 500 });
    },
  };
  let server: Server<unknown>;
  let url: string;
  if (config.socket) {
    // A panel slot on a server: nginx reaches it through a symlink to this socket.
    rmSync(config.socket, { force: true });
    server = Bun.serve({ unix: config.socket, ...handlers });
    chmodSync(config.socket, 0o666);
    url = `unix:${config.socket}`;
  } else {
    server = Bun.serve({ port: config.port, hostname: config.host, ...handlers });
    url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  }
  services.log.info("panel started", {
    version: VERSION,
    revision: REVISION,
    slot: config.panel.slot,
    url,
    mode: config.mode,
    database: database.kind,
    dataDir: config.dataDir,
  });
  await announceSetupCode(config, database, server.port ?? null, url);
  let stopping: Promise<void> | null = null;
  return {
    services,
    server,
    url,
    stop: () => {
      stopping ??= (async () => {
        // Event streams end properly (clients reconnect to whichever panel serves then), and
        // in-flight requests finish, for a few seconds at most.
        endEventStreams(services);
        await Promise.race([server.stop(false), Bun.sleep(5_000)]);
        await server.stop(true);
        await stopBackground(services);
        await database.close();
        services.log.info("panel stopped");
      })();
      return stopping;
    },
  };
}
