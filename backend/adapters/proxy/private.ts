import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildMainConfig, nginxArgv } from "../../commands/nginx.ts";
import type { Logger } from "../../log.ts";
import { run } from "../exec.ts";
import { writeFileAtomic } from "../files.ts";
import type { Privilege } from "../privilege.ts";
import {
  type AppProxy,
  appConfigText,
  createReloader,
  findNginx,
  installAppFile,
  NginxError,
  NO_NGINX,
  proxyPaths,
  socketLinks,
} from "./common.ts";
import { type RouteFiles, routeFiles } from "./routes.ts";
import { staticSites } from "./static.ts";

export interface PrivateProxyOptions {
  dataDir: string;
  port: number;
  /** The router's TLS listener: the apps' custom domains on https. */
  tlsPort: number;
  host?: string;
  /** The nginx binary; null: none (the proxy is disabled); undefined: look for it. */
  binary?: string | null;
  log: Logger;
  privilege: Pick<Privilege, "root">;
}

/** Where the private nginx of a data dir keeps its files. */
export function privatePrefix(dataDir: string): string {
  return join(dataDir, "nginx");
}

/** The pid of the private nginx of a data dir, when it runs. */
export function privateNginxPid(dataDir: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(join(privatePrefix(dataDir), "nginx.pid"), "utf8"), 10);
    if (!(pid > 0)) return null;
    process.kill(pid, 0);
    // A pid file left by an nginx that died may name another process by now.
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("nginx") ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Stops the private nginx of a data dir (graceful quit: in-flight requests finish), waiting up
 * to `timeoutMs` for it to exit. Resolves false when none was running.
 */
export async function stopPrivateNginx(dataDir: string, timeoutMs = 15_000): Promise<boolean> {
  const pid = privateNginxPid(dataDir);
  if (pid === null) return false;
  process.kill(pid, "SIGQUIT");
  const deadline = Date.now() + timeoutMs;
  while (privateNginxPid(dataDir) === pid) {
    if (Date.now() > deadline) {
      process.kill(pid, "SIGTERM");
      throw new NginxError(`nginx (pid ${pid}) did not quit within ${timeoutMs} ms; it was sent SIGTERM`);
    }
    await Bun.sleep(20);
  }
  return true;
}

/**
 * The panel's own nginx (local mode): a private prefix under the data dir, listening on
 * 127.0.0.1:<proxy port>, apps at http://<app>.localhost:<port>. It outlives the panel, which
 * adopts it by its pid file when it starts again; `switchyard stop` stops it.
 */
export function createPrivateProxy(o: PrivateProxyOptions): AppProxy & RouteFiles & { reopenLogs(): Promise<void> } {
  const binary = o.binary === undefined ? findNginx() : o.binary;
  const prefix = privatePrefix(o.dataDir);
  const confDir = join(prefix, "conf.d");
  const conf = join(prefix, "nginx.conf");
  const logDir = join(prefix, "logs");
  const host = o.host ?? "127.0.0.1";
  const paths = proxyPaths(o.dataDir, logDir);
  const sites = staticSites(o.dataDir);
  const links = socketLinks(paths, sites);
  const problem = binary ? null : NO_NGINX;
  const appUrl = (app: string) => `http://${app}.localhost:${o.port}`;
  // nginx's workers run as the panel's user (or root): the access logs need no group.
  const routes = routeFiles({ dataDir: o.dataDir, paths, sharedLogs: false, port: o.port, tlsPort: o.tlsPort, appUrl });
  const nginx = createReloader({
    argv: (action) => {
      if (!binary) throw new NginxError(NO_NGINX);
      return nginxArgv(binary, prefix, conf, action);
    },
    confDir,
    host,
    port: o.port,
    errorLog: join(logDir, "error.log"),
    hide: prefix,
  });
  const running = () => privateNginxPid(o.dataDir) !== null;

  /** nginx writes to the renamed file until told to reopen its logs by path. */
  async function reopenLogs(): Promise<void> {
    if (!binary || !running()) return;
    const result = await run(nginxArgv(binary, prefix, conf, "reopen"), { capture: true, timeoutMs: 15_000 });
    if (result.code !== 0) {
      throw new NginxError(`nginx reopen failed: ${(result.stderr || result.stdout).trim().replaceAll(prefix, "<nginx>")}`);
    }
  }

  return {
    ...routes,
    enabled: binary !== null,
    tlsPort: o.tlsPort,
    problem,
    paths,
    staticSites: sites,
    async start() {
      if (!binary) {
        o.log.warn(NO_NGINX);
        return;
      }
      for (const dir of [confDir, logDir, join(prefix, "tmp"), join(o.dataDir, "sock")]) mkdirSync(dir, { recursive: true });
      routes.prepare();
      writeFileAtomic(
        conf,
        buildMainConfig({
          prefix,
          confDir,
          listenHost: host,
          port: o.port,
          tlsPort: o.tlsPort,
          routesDir: routes.routesDir,
          acmeWebroot: routes.acmeWebroot,
          user: o.privilege.root ? "root" : null,
        }),
      );
      await nginx.exec("test");
      if (running()) {
        await nginx.reload();
        o.log.info("adopted the running nginx", { port: o.port });
      } else {
        await nginx.start();
        o.log.info("nginx started", { url: `http://${host}:${o.port}`, tlsPort: o.tlsPort });
      }
    },
    async stop() {
      if (await stopPrivateNginx(o.dataDir)) o.log.info("nginx stopped", { port: o.port });
    },
    async configureApp(app, options) {
      const file = join(confDir, `${app}.conf`);
      const text = appConfigText(app, options, { host, port: o.port, paths });
      const previous = existsSync(file) ? readFileSync(file, "utf8") : null;
      if (previous === text && running()) return;
      await installAppFile(file, text, previous, nginx, running);
    },
    async removeApp(app) {
      const file = join(confDir, `${app}.conf`);
      if (existsSync(file)) {
        rmSync(file, { force: true });
        if (running()) await nginx.reload();
      }
      routes.removeAppRoutes(app);
      links.removeSockets(app);
    },
    switchTo: links.switchTo,
    liveColor: links.liveColor,
    appUrl,
    previewUrl: (app, color) => `http://${app}--${color}.localhost:${o.port}`,
    reopenLogs,
    async rotateLogs({ maxBytes, keep }) {
      if (!existsSync(logDir)) return [];
      const rotated: string[] = [];
      for (const name of readdirSync(logDir)) {
        if (!name.endsWith(".access.log")) continue;
        const file = join(logDir, name);
        if (statSync(file).size <= maxBytes) continue;
        rmSync(`${file}.${keep}`, { force: true });
        for (let n = keep - 1; n >= 1; n--) if (existsSync(`${file}.${n}`)) renameSync(`${file}.${n}`, `${file}.${n + 1}`);
        renameSync(file, `${file}.1`);
        rotated.push(file);
      }
      if (rotated.length > 0) await reopenLogs();
      return rotated;
    },
  };
}
