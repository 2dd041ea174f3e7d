import { and, eq, isNotNull } from "drizzle-orm";
import type { CanonicalHost } from "../../contract/api.ts";
import type { Db } from "../client.ts";
import { apps, certificates, domains } from "../schema/index.ts";

export interface RoutedDomain {
  name: string;
  app: string;
  httpsRedirect: boolean;
  hsts: boolean;
  canonical: CanonicalHost;
}

/** Every app's domain with the settings its route is written from. */
export function routedDomains(db: Db): Promise<RoutedDomain[]> {
  return db
    .select({
      name: domains.name,
      app: apps.name,
      httpsRedirect: domains.httpsRedirect,
      hsts: domains.hsts,
      canonical: domains.canonical,
    })
    .from(domains)
    .innerJoin(apps, eq(apps.id, domains.appId))
    .orderBy(domains.name);
}

export interface ServableCertificate {
  id: string;
  name: string;
  names: string[];
  state: "pending" | "valid" | "failed";
  notAfter: Date | null;
  certificatePem: string;
  keySecret: string;
}

/** The certificates that have files to serve: a PEM and its (encrypted) key. */
export async function servableCertificates(db: Db): Promise<ServableCertificate[]> {
  const rows = await db
    .select({
      id: certificates.id,
      name: certificates.name,
      names: certificates.names,
      state: certificates.state,
      notAfter: certificates.notAfter,
      certificatePem: certificates.certificatePem,
      keySecret: certificates.keySecret,
    })
    .from(certificates)
    .where(and(isNotNull(certificates.certificatePem), isNotNull(certificates.keySecret)))
    .orderBy(certificates.name);
  return rows.flatMap((r) => (r.certificatePem && r.keySecret ? [{ ...r, certificatePem: r.certificatePem, keySecret: r.keySecret }] : []));
}
