/**
 * The panel's domains and certificates, as nginx's routes: the database is the truth, the files
 * under <data>/routes and <data>/tls are written from it. Nothing here reloads nginx: it reads
 * those files on every request and TLS handshake.
 */
import type { HostRoute } from "../adapters/proxy/index.ts";
import { certificateKey } from "../db/queries/certificates.ts";
import { routedDomains, servableCertificates } from "../db/queries/routes.ts";
import { coveringCertificate } from "../domain/certificates.ts";
import type { Services } from "../services.ts";

export interface RouteChanges {
  /** Hosts whose route was written or changed. */
  routed: string[];
  /** Hosts whose route was removed (no app has the name any more). */
  unrouted: string[];
  /** Certificates whose files were written (new, renewed or replaced). */
  installed: string[];
  /** Certificate directories removed (no longer stored). */
  uninstalled: string[];
  /** What could not be applied, in words (the rest was). */
  problems: string[];
}

/** A route as written, for comparison: the markers a route without a certificate cannot have. */
function normalized(route: HostRoute): HostRoute {
  return {
    ...route,
    httpsRedirect: route.certificate !== null && route.httpsRedirect,
    hsts: route.certificate !== null && route.hsts,
  };
}

function sameRoute(a: HostRoute | null, b: HostRoute): boolean {
  if (!a) return false;
  const x = normalized(a);
  const y = normalized(b);
  return (
    x.app === y.app &&
    x.certificate === y.certificate &&
    x.httpsRedirect === y.httpsRedirect &&
    x.hsts === y.hsts &&
    x.canonical === y.canonical
  );
}

/**
 * Makes the proxy's routes and certificate files match the database: every certificate with a
 * PEM installed (its key decrypted), every app domain routed to its app with the certificate that
 * covers it (if any) and its redirect/HSTS/canonical settings; routes of names no app has removed;
 * certificates no longer stored removed. Idempotent (unchanged files are not rewritten), so two
 * panels running it at once write the same files.
 */
export async function syncRoutes(services: Pick<Services, "db" | "proxy" | "masterKey" | "log">): Promise<RouteChanges> {
  const { db, proxy, masterKey, log } = services;
  const [domains, certificates] = await Promise.all([routedDomains(db), servableCertificates(db)]);
  const changes: RouteChanges = { routed: [], unrouted: [], installed: [], uninstalled: [], problems: [] };

  // Certificates first: a route is pointed only at files that are there.
  const installed = certificates.filter((cert) => {
    try {
      const key = certificateKey(masterKey, cert) ?? "";
      if (proxy.installCertificate(cert.name, cert.certificatePem, key)) changes.installed.push(cert.name);
      return true;
    } catch (error) {
      changes.problems.push(`the certificate ${cert.name} could not be installed: ${(error as Error).message}`);
      return false;
    }
  });

  const names = new Set<string>();
  for (const domain of domains) {
    names.add(domain.name);
    const want: HostRoute = {
      app: domain.app,
      certificate: coveringCertificate(installed, domain.name)?.name ?? null,
      httpsRedirect: domain.httpsRedirect,
      hsts: domain.hsts,
      canonical: domain.canonical,
    };
    try {
      if (sameRoute(proxy.readRoute(domain.name), want)) continue;
      proxy.setRoute(domain.name, want);
      changes.routed.push(domain.name);
    } catch (error) {
      changes.problems.push(`${domain.name} could not be routed to ${domain.app}: ${(error as Error).message}`);
    }
  }
  for (const host of proxy.routedHosts()) {
    if (names.has(host)) continue;
    proxy.removeRoute(host);
    changes.unrouted.push(host);
  }
  const stored = new Set(installed.map((c) => c.name));
  for (const name of proxy.installedCertificates()) {
    if (stored.has(name) || certificates.some((c) => c.name === name)) continue;
    proxy.removeCertificate(name);
    changes.uninstalled.push(name);
  }

  const { problems, ...changed } = changes;
  if (Object.values(changed).some((list) => list.length > 0)) log.info("routes updated", { ...changed });
  for (const problem of problems) log.warn(problem);
  return changes;
}
