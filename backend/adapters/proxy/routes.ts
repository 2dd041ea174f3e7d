/**
 * The router's files: `<data>/routes/<host>/` (what nginx answers a custom host name with) and
 * `<data>/tls/<certificate>/` (the files its TLS handshakes load). nginx reads them on every
 * request and handshake, so every change here is live from the next one, with no reload; each
 * change is one rename or one link replacement, so nginx never sees half of one.
 */
import { randomUUID } from "node:crypto";
import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { assertApp, assertHostname, NginxConfigError } from "../../commands/nginx.ts";
import { certificateFileName, certificateNameOfFile } from "../../domain/certificates.ts";
import { replaceSymlink, writeFileAtomic } from "../files.ts";
import type { AppProxy, HostRoute, ProxyPaths } from "./common.ts";

const MARKERS = ["https", "hsts", "canonical-www", "canonical-apex"] as const;
type Marker = (typeof MARKERS)[number];

/** A host name a route may have: an exact name (wildcards are certificates, not routes). */
function assertRouteHost(host: string): string {
  if (host.startsWith("*")) throw new NginxConfigError(`"${host}" is a wildcard: routes are exact host names`);
  return assertHostname(host);
}

function certificateDir(name: string): string {
  return certificateFileName(assertHostname(name));
}

function linkTarget(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/** A file beside `path` holding `text`, flushed, with `mode` whatever the umask: renamed over it by the caller. */
function writeTemp(path: string, text: string, mode: number): string {
  const tmp = join(dirname(path), `.${randomUUID()}.tmp`);
  const fd = openSync(tmp, "w", mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** A directory's entries that are not in-progress temporaries (which start with a dot). */
function entries(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => !n.startsWith("."))
      .sort();
  } catch {
    return [];
  }
}

/** Moves a directory out of sight in one rename, then deletes it. */
function removeDir(parent: string, name: string): boolean {
  const dir = join(parent, name);
  if (!existsSync(dir)) return false;
  const gone = join(parent, `.${name}.${randomUUID()}.gone`);
  renameSync(dir, gone);
  rmSync(gone, { recursive: true, force: true });
  return true;
}

export interface RouteFilesOptions {
  dataDir: string;
  paths: ProxyPaths;
  /**
   * Server mode: nginx's workers (another user) write the apps' access logs through the routes'
   * links, so a log the panel creates is writable by its group (the log dir's, www-data).
   */
  sharedLogs: boolean;
  /** For publicUrl: the proxy's ports and the app's own address. */
  port: number;
  tlsPort: number;
  appUrl(app: string): string;
}

export type RouteFiles = Pick<
  AppProxy,
  | "acmeWebroot"
  | "setRoute"
  | "removeRoute"
  | "routedHosts"
  | "readRoute"
  | "installCertificate"
  | "removeCertificate"
  | "installedCertificates"
  | "publicUrl"
> & {
  routesDir: string;
  tlsDir: string;
  /** Creates the directories nginx's configuration names (the router needs them to exist). */
  prepare(): void;
  /** Creates an app's access log when missing, writable by nginx's workers. */
  ensureAccessLog(app: string): void;
  /** Removes the routes to an app (it is being deleted): its names answer as unknown hosts. */
  removeAppRoutes(app: string): void;
};

export function routeFiles(o: RouteFilesOptions): RouteFiles {
  const routesDir = join(o.dataDir, "routes");
  const tlsDir = join(o.dataDir, "tls");
  const acmeWebroot = join(o.dataDir, "acme");

  const ensureAccessLog = (app: string) => {
    const path = o.paths.accessLog(assertApp(app));
    if (existsSync(path)) return;
    mkdirSync(dirname(path), { recursive: true });
    const mode = o.sharedLogs ? 0o664 : 0o644;
    const fd = openSync(path, "a", mode);
    try {
      fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
  };

  const desired = (route: HostRoute) => {
    const app = assertApp(route.app);
    const links: Record<string, string> = {
      "upstream.sock": o.paths.liveSocket(app),
      "access.log": o.paths.accessLog(app),
      // The app's static-site dir: nginx serves its live link's files when the app is a static site.
      static: o.paths.staticDir(app),
    };
    if (route.certificate) links.tls = join(tlsDir, certificateDir(route.certificate));
    const markers = new Set<Marker>();
    if (route.certificate && route.httpsRedirect) markers.add("https");
    if (route.certificate && route.hsts) markers.add("hsts");
    if (route.canonical === "www") markers.add("canonical-www");
    if (route.canonical === "apex") markers.add("canonical-apex");
    return { links, markers };
  };

  const readRoute = (host: string): HostRoute | null => {
    const dir = join(routesDir, assertRouteHost(host));
    const upstream = linkTarget(join(dir, "upstream.sock"));
    if (!upstream) return null;
    const app = basename(upstream).replace(/\.sock$/, "");
    // A route written before static sites were served has no `static` link: read as none, so the next sync writes it whole.
    if (linkTarget(join(dir, "static")) !== o.paths.staticDir(app)) return null;
    const tls = linkTarget(join(dir, "tls"));
    const has = (m: Marker) => existsSync(join(dir, m));
    return {
      app,
      certificate: tls ? certificateNameOfFile(basename(tls)) : null,
      httpsRedirect: has("https"),
      hsts: has("hsts"),
      canonical: has("canonical-www") ? "www" : has("canonical-apex") ? "apex" : "none",
    };
  };

  const hasCertificate = (host: string) => {
    if (!/^[a-z0-9][a-z0-9.-]{0,252}$/.test(host)) return false;
    return existsSync(join(routesDir, host, "tls", "fullchain.pem"));
  };

  return {
    routesDir,
    tlsDir,
    acmeWebroot,
    prepare() {
      mkdirSync(routesDir, { recursive: true, mode: 0o755 });
      mkdirSync(tlsDir, { recursive: true, mode: 0o750 });
      mkdirSync(acmeWebroot, { recursive: true, mode: 0o755 });
    },
    ensureAccessLog,

    setRoute(host, route) {
      const name = assertRouteHost(host);
      const want = desired(route);
      ensureAccessLog(route.app);
      mkdirSync(routesDir, { recursive: true });
      const dir = join(routesDir, name);
      if (!existsSync(dir)) {
        // A new route appears whole: built under a temporary name, then renamed into place.
        const tmp = join(routesDir, `.${name}.${randomUUID()}.new`);
        mkdirSync(tmp, { mode: 0o755 });
        for (const [entry, target] of Object.entries(want.links)) symlinkSync(target, join(tmp, entry));
        for (const marker of want.markers) writeFileAtomic(join(tmp, marker), "");
        try {
          renameSync(tmp, dir);
          return;
        } catch {
          // Another panel wrote it meanwhile: replace its entries below.
          rmSync(tmp, { recursive: true, force: true });
        }
      }
      // In an order that never redirects to https without a certificate: markers that go first,
      // then the links (a new certificate's included), then new markers, then a dropped certificate.
      for (const marker of MARKERS) if (!want.markers.has(marker)) rmSync(join(dir, marker), { force: true });
      for (const [entry, target] of Object.entries(want.links)) {
        if (linkTarget(join(dir, entry)) !== target) replaceSymlink(join(dir, entry), target);
      }
      for (const marker of want.markers) if (!existsSync(join(dir, marker))) writeFileAtomic(join(dir, marker), "");
      if (!want.links.tls) rmSync(join(dir, "tls"), { force: true });
    },

    removeRoute(host) {
      removeDir(routesDir, assertRouteHost(host));
    },

    routedHosts: () => entries(routesDir),
    removeAppRoutes(app) {
      for (const host of entries(routesDir)) {
        const upstream = linkTarget(join(routesDir, host, "upstream.sock"));
        if (upstream && basename(upstream) === `${app}.sock`) removeDir(routesDir, host);
      }
    },
    readRoute,

    installCertificate(name, pem, key) {
      const dir = join(tlsDir, certificateDir(name));
      const fullchain = join(dir, "fullchain.pem");
      const privkey = join(dir, "privkey.pem");
      if (readText(fullchain) === pem && readText(privkey) === key) return false;
      mkdirSync(tlsDir, { recursive: true, mode: 0o750 });
      // Inside a setgid tls dir (server mode) the new dir and its files take its group, nginx's.
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      const keyTmp = writeTemp(privkey, key, 0o640);
      const pemTmp = writeTemp(fullchain, pem, 0o644);
      // Both written and flushed first, then renamed back to back: a handshake that opens the
      // certificate and then its key cannot fall between two slow writes.
      renameSync(keyTmp, privkey);
      renameSync(pemTmp, fullchain);
      return true;
    },

    removeCertificate(name) {
      removeDir(tlsDir, certificateDir(name));
    },

    installedCertificates: () => entries(tlsDir).map(certificateNameOfFile),

    publicUrl(app, domains) {
      const secure = domains.find(hasCertificate);
      if (secure) return `https://${secure}${o.tlsPort === 443 ? "" : `:${o.tlsPort}`}`;
      const first = domains[0];
      if (first) return `http://${first}${o.port === 80 ? "" : `:${o.port}`}`;
      return o.appUrl(app);
    },
  };
}
