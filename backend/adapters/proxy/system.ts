import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { confirmHostname } from "../../commands/nginx.ts";
import type { Logger } from "../../log.ts";
import { HelperError, type Privilege } from "../privilege.ts";
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
import { routeFiles } from "./routes.ts";
import { staticSites } from "./static.ts";

export interface SystemProxyOptions {
  dataDir: string;
  port: number;
  /** Where the installer's router serves the apps' custom domains on https. */
  tlsPort: number;
  /** Apps answer on every address on a server (their domains point at it). */
  host?: string;
  binary?: string | null;
  log: Logger;
  /**
   * As root the files are written here and nginx is tested and reloaded directly; otherwise each
   * change is the helper's `nginx-install APP` / `nginx-remove APP`, which write, test, reload and
   * put the old file back when nginx refuses.
   */
  privilege: Privilege;
  /** /etc/nginx/conf.d/switchyard, included by the installer's switchyard.conf (which defines the log format). */
  confDir?: string;
  logDir?: string;
}

/** Server mode: the system's nginx, which the panel neither starts nor stops. */
export function createSystemProxy(o: SystemProxyOptions): AppProxy {
  const binary = o.binary === undefined ? findNginx() : o.binary;
  const confDir = o.confDir ?? "/etc/nginx/conf.d/switchyard";
  const logDir = o.logDir ?? "/var/log/switchyard";
  const host = o.host ?? "0.0.0.0";
  const paths = proxyPaths(o.dataDir, logDir);
  const sites = staticSites(o.dataDir);
  const links = socketLinks(paths, sites);
  const appUrl = (app: string) => `http://${app}.localhost:${o.port}`;
  // nginx's workers (www-data) write the apps' access logs through the routes' links.
  const routes = routeFiles({ dataDir: o.dataDir, paths, sharedLogs: true, port: o.port, tlsPort: o.tlsPort, appUrl });
  const nginx = createReloader({
    argv: (action) => {
      if (!binary) throw new NginxError(NO_NGINX);
      return [binary, ...(action === "test" ? ["-t", "-q"] : ["-s", action])];
    },
    confDir,
    host,
    port: o.port,
    errorLog: null,
  });
  const helper = async (args: string[], stdin?: string) => {
    try {
      await o.privilege.helper(args, stdin);
    } catch (error) {
      throw error instanceof HelperError ? new NginxError(error.message) : error;
    }
  };

  /**
   * The helper's reload returns before nginx's new workers run; until they do, the old ones send
   * a new app's names to the default server, the panel, which refuses host names it does not
   * answer to with 421. Waits until the app's confirmation host is answered otherwise.
   */
  const loaded = async (app: string) => {
    const probeHost = host === "0.0.0.0" ? "127.0.0.1" : host;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const res = await fetch(`http://${probeHost}:${o.port}/`, {
        headers: { host: confirmHostname(app) },
        keepalive: false,
        signal: AbortSignal.timeout(1_000),
      }).catch(() => null);
      await res?.body?.cancel();
      // Nothing answering at all leaves nothing to wait for; the switch's confirmation will say so.
      if (res?.status !== 421) return;
      await Bun.sleep(25);
    }
    throw new NginxError(`nginx did not load the configuration for ${app} within 10 s`);
  };

  return {
    ...routes,
    enabled: binary !== null,
    tlsPort: o.tlsPort,
    problem: binary ? null : NO_NGINX,
    paths,
    staticSites: sites,
    async start() {
      if (!binary) {
        o.log.warn(NO_NGINX);
        return;
      }
      mkdirSync(join(o.dataDir, "sock"), { recursive: true });
      // The installer creates them with nginx's group; this only fills in a missing one.
      routes.prepare();
      if (!o.privilege.root) {
        o.log.info("using the system nginx through the helper", { confDir, port: o.port });
        return;
      }
      await nginx.exec("test");
      await nginx.reload();
      o.log.info("using the system nginx", { confDir, port: o.port });
    },
    async stop() {},
    async configureApp(app, options) {
      const file = join(confDir, `${app}.conf`);
      const text = appConfigText(app, options, { host, port: o.port, paths });
      const previous = existsSync(file) ? readFileSync(file, "utf8") : null;
      if (previous === text) return;
      // Before nginx's master opens it (as root, unwritable to the workers that log through routes).
      routes.ensureAccessLog(app);
      if (!o.privilege.root) {
        await helper(["nginx-install", app], text);
        await loaded(app);
        return;
      }
      await installAppFile(file, text, previous, nginx, () => true);
    },
    async removeApp(app) {
      const file = join(confDir, `${app}.conf`);
      if (existsSync(file)) {
        if (o.privilege.root) {
          rmSync(file, { force: true });
          await nginx.reload();
        } else {
          await helper(["nginx-remove", app]);
        }
      }
      routes.removeAppRoutes(app);
      links.removeSockets(app);
    },
    switchTo: links.switchTo,
    liveColor: links.liveColor,
    appUrl,
    previewUrl: (app, color) => `http://${app}--${color}.localhost:${o.port}`,
  };
}
