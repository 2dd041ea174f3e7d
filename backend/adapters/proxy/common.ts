import { existsSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildAppConfig } from "../../commands/nginx.ts";
import { controlSocketPath } from "../../commands/systemd.ts";
import type { CanonicalHost } from "../../contract/api.ts";
import { run } from "../exec.ts";
import { replaceSymlink, writeFileAtomic } from "../files.ts";
import type { Color } from "../runtime/types.ts";
import type { StaticSites } from "./static.ts";

export class NginxError extends Error {
  override name = "NginxError";
}

export interface ProxyPaths {
  /** The symlink nginx's upstream uses; the switch replaces it. */
  liveSocket(app: string): string;
  slotSocket(app: string, color: Color): string;
  accessLog(app: string): string;
  /** A static site's links and marker (see static.ts): served by nginx itself while its live link exists. */
  staticDir(app: string): string;
}

/**
 * How nginx answers one of an app's custom host names. Written as a small directory of links and
 * marker files (`<data>/routes/<host>/`) that nginx reads on every request and every TLS handshake,
 * so adding, changing or removing a route, or a certificate, needs no reload.
 */
export interface HostRoute {
  app: string;
  /** The certificate (its name, as installCertificate wrote it) that serves https for the host; null: http only. */
  certificate: string | null;
  /** http → https (only with a certificate). */
  httpsRedirect: boolean;
  /** Strict-Transport-Security on https answers (only with a certificate). */
  hsts: boolean;
  /** www: the host redirects to `www.<host>`; apex: `www.<x>` redirects to `<x>`. */
  canonical: CanonicalHost;
}

export interface AppProxy {
  readonly enabled: boolean;
  /** Where apps are served on https (the router's TLS listener). */
  readonly tlsPort: number;
  /** Served at /.well-known/acme-challenge/ for every host on http: certbot's HTTP-01 webroot. */
  readonly acmeWebroot: string;
  /** Why it is disabled, in words for the user (e.g. nginx is not installed). */
  readonly problem: string | null;
  readonly paths: ProxyPaths;
  /** The static sites nginx serves from releases' output directories, by their slots' links. */
  readonly staticSites: StaticSites;
  /** Starts (or adopts) the proxy; the system nginx is only checked. */
  start(): Promise<void>;
  /**
   * Stops the panel's private nginx (`switchyard stop`, tests). The panel's own stop does not
   * call it: apps stay reachable while the panel restarts. The system nginx is never stopped.
   */
  stop(): Promise<void>;
  /**
   * Writes the app's file (`<app>.localhost`, its previews and the switch's confirmation host;
   * `serverNames` adds others, though custom domains are routes), tests the whole config, reloads;
   * on any failure the previous file is put back. An unchanged file is neither written nor reloaded.
   */
  configureApp(app: string, options: { serverNames: string[]; preview: boolean }): Promise<void>;
  /** Removes the app's file (reloading nginx), its live socket link and its slots' sockets (and their control sockets). */
  removeApp(app: string): Promise<void>;
  /** Writes or replaces a host's route (each file replaced atomically); nginx is not reloaded. */
  setRoute(host: string, route: HostRoute): void;
  /** Removes a host's route: nginx answers it as an unknown host from the next request. */
  removeRoute(host: string): void;
  /** The hosts that have a route. */
  routedHosts(): string[];
  /** The route written for a host, read back from its files; null: none. */
  readRoute(host: string): HostRoute | null;
  /**
   * Writes a certificate's files (`<data>/tls/<name>/fullchain.pem` and `privkey.pem`, each
   * replaced atomically, the key readable only by the panel and nginx's workers): the next TLS
   * handshake of every host routed to it uses them. False when they already held these.
   */
  installCertificate(name: string, pem: string, key: string): boolean;
  removeCertificate(name: string): void;
  /** The names of the installed certificates. */
  installedCertificates(): string[];
  /**
   * Moves the app's traffic to a slot: one atomic symlink replacement, no reload. A slot with a
   * static site takes its static link live; a slot without one takes the site off static serving
   * after its socket is live, so nothing falls between.
   */
  switchTo(app: string, color: Color): void;
  liveColor(app: string): Color | null;
  /** The app's address on this machine (`http://<app>.localhost:<port>`), which health checks and the switch's confirmation use. */
  appUrl(app: string): string;
  /**
   * Where people reach the app: the first of its domains with a certificate on https, else its
   * first domain on http, else appUrl. Ports other than 80/443 are written out.
   */
  publicUrl(app: string, domains: string[]): string;
  previewUrl(app: string, color: Color): string;
  /**
   * Local mode: renames each access log past maxBytes to `.1` (shifting older ones, keeping `keep`)
   * and has nginx reopen its logs. Returns the logs rotated.
   */
  rotateLogs?(options: { maxBytes: number; keep: number }): Promise<string[]>;
}

export function findNginx(): string | null {
  for (const candidate of [process.env.SWITCHYARD_NGINX, Bun.which("nginx"), "/usr/sbin/nginx"]) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  return null;
}

export const NO_NGINX =
  "nginx is not installed, so apps are only reachable on their slot ports. Install it (apt-get install nginx) and restart the panel.";

export function proxyPaths(dataDir: string, logDir: string): ProxyPaths {
  // Unix socket paths are limited to 107 bytes; a short directory keeps room for long app names.
  const sockets = join(dataDir, "sock");
  return {
    liveSocket: (app) => join(sockets, `${app}.sock`),
    slotSocket: (app, color) => join(sockets, `${app}-${color}.sock`),
    accessLog: (app) => join(logDir, `${app}.access.log`),
    staticDir: (app) => join(dataDir, "static", app),
  };
}

/** The text of one app's nginx file, as both proxies write it. */
export function appConfigText(
  app: string,
  options: { serverNames: string[]; preview: boolean },
  o: { host: string; port: number; paths: ProxyPaths },
): string {
  return buildAppConfig({
    app,
    listenHost: o.host,
    port: o.port,
    serverNames: [`${app}.localhost`, ...options.serverNames],
    previewNames: options.preview ? { blue: `${app}--blue.localhost`, green: `${app}--green.localhost` } : null,
    liveSocket: o.paths.liveSocket(app),
    slotSockets: { blue: o.paths.slotSocket(app, "blue"), green: o.paths.slotSocket(app, "green") },
    accessLog: o.paths.accessLog(app),
    staticDir: o.paths.staticDir(app),
  });
}

/** A name no real site has (.invalid is reserved), for the reload marker. */
const GENERATION_HOST = "generation.switchyard.invalid";

/**
 * Runs nginx actions and confirms reloads. `nginx -s reload` returns once the signal is sent,
 * and a reload that fails (a port already in use) still returns 0 and keeps the old config. So
 * each reload carries a new generation number in a marker server, and we wait until nginx
 * answers with it.
 */
export function createReloader(o: {
  argv(action: "start" | "test" | "reload" | "quit"): string[];
  confDir: string;
  host: string;
  port: number;
  /** The error log to quote when a reload is not taken (the private nginx's). */
  errorLog: string | null;
  /** Replaced by "<nginx>" in messages. */
  hide?: string;
}) {
  const probeHost = o.host === "0.0.0.0" ? "127.0.0.1" : o.host;
  let generation = 0;
  let errorMark = 0;
  const exec = async (action: "start" | "test" | "reload" | "quit") => {
    const result = await run(o.argv(action), { capture: true, timeoutMs: 15_000 });
    if (result.code !== 0) {
      const said = (result.stderr || result.stdout).trim();
      throw new NginxError(`nginx ${action} failed: ${o.hide ? said.replaceAll(o.hide, "<nginx>") : said}`);
    }
  };
  const writeGeneration = () => {
    generation = Date.now();
    errorMark = o.errorLog ? sizeOf(o.errorLog) : 0;
    writeFileAtomic(
      join(o.confDir, "00-generation.conf"),
      `server {\n    listen ${o.host}:${o.port};\n    server_name ${GENERATION_HOST};\n    access_log off;\n    return 200 "${generation}";\n}\n`,
    );
  };
  const confirm = async (what: string) => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`http://${probeHost}:${o.port}/`, {
          headers: { host: GENERATION_HOST },
          signal: AbortSignal.timeout(1000),
        });
        if ((await res.text()) === String(generation)) return;
      } catch {}
      await Bun.sleep(25);
    }
    const errors = o.errorLog ? readErrorsSince(o.errorLog, errorMark) : null;
    throw new NginxError(`nginx did not take the new configuration after ${what}${errors ? `: ${errors}` : ""}`);
  };
  return {
    exec,
    async reload() {
      writeGeneration();
      await exec("reload");
      await confirm("reload");
    },
    async start() {
      writeGeneration();
      await exec("start");
      await confirm("start");
    },
  };
}

function sizeOf(path: string): number {
  try {
    return Bun.file(path).size;
  } catch {
    return 0;
  }
}

function readErrorsSince(path: string, offset: number): string | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8").slice(offset);
  } catch {
    return null;
  }
  const lines = text.split("\n").filter((l) => /\[(emerg|alert|crit)\]/.test(l));
  return lines.length ? lines.map((l) => l.replace(/^.*?\[(emerg|alert|crit)\] \d+#\d+: /, "")).join("; ") : null;
}

/** The switch's symlinks, the same for both proxies. */
export function socketLinks(
  paths: ProxyPaths,
  sites: StaticSites,
): Pick<AppProxy, "switchTo" | "liveColor"> & { removeSockets(app: string): void } {
  return {
    switchTo(app, color) {
      // The socket link moves too, so the live color reads the same for both kinds of release.
      if (sites.slot(app, color)) {
        sites.switchTo(app, color);
        replaceSymlink(paths.liveSocket(app), paths.slotSocket(app, color));
      } else {
        replaceSymlink(paths.liveSocket(app), paths.slotSocket(app, color));
        sites.switchTo(app, color);
      }
    },
    liveColor(app) {
      try {
        const target = readlinkSync(paths.liveSocket(app));
        return target.endsWith("-blue.sock") ? "blue" : target.endsWith("-green.sock") ? "green" : null;
      } catch {
        return null;
      }
    },
    removeSockets(app) {
      const slots = [paths.slotSocket(app, "blue"), paths.slotSocket(app, "green")];
      for (const path of [paths.liveSocket(app), ...slots, ...slots.map(controlSocketPath)]) rmSync(path, { force: true });
      sites.remove(app);
    },
  };
}

/**
 * Writes an app's file, tests the whole configuration and reloads; when nginx refuses, the
 * previous text is put back (or the new file removed) and nginx reloaded onto it, when it runs.
 */
export async function installAppFile(
  file: string,
  text: string,
  previous: string | null,
  nginx: { exec(action: "test"): Promise<void>; reload(): Promise<void> },
  running: () => boolean,
): Promise<void> {
  writeFileAtomic(file, text);
  try {
    await nginx.exec("test");
    await nginx.reload();
  } catch (error) {
    if (previous === null) rmSync(file, { force: true });
    else writeFileAtomic(file, previous);
    if (running()) await nginx.reload().catch(() => {});
    throw error;
  }
}
