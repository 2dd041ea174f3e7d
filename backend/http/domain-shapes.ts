import type * as contract from "../contract/api.ts";
import type { CertificateRow, DnsProviderRow, Domain } from "../db/schema/index.ts";
import { certificateStatus, coveringCertificate, daysLeft, nameCovers } from "../domain/certificates.ts";
import { expectedRecords, ownershipName, ownershipValue } from "../domain/dns-check.ts";

const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

/** What the domain answers look at besides the row: every certificate, this server's addresses and ports. */
export interface DomainContext {
  certificates: CertificateRow[];
  addresses: string[];
  httpPort: number;
  httpsPort: number;
  now?: Date;
}

export function certificateBrief(row: CertificateRow, now = new Date()): contract.CertificateBrief {
  return {
    id: row.id,
    name: row.name,
    status: certificateStatus(row, now),
    issuer: row.issuer,
    notAfter: isoOrNull(row.notAfter),
    error: row.error,
  };
}

/**
 * The certificate shown for a host: the one that serves it, else one that names it and is still
 * being issued or failed (an exact name before a wildcard, then the newest), so a pending
 * issuance shows from the moment it is asked for.
 */
export function certificateForHost(certificates: readonly CertificateRow[], host: string, now = new Date()): CertificateRow | null {
  const serving = coveringCertificate(certificates, host, now);
  if (serving) return serving;
  const naming = certificates
    .filter((c) => c.names.some((n) => nameCovers(n, host)))
    .sort((x, y) => Number(y.names.includes(host)) - Number(x.names.includes(host)) || y.updatedAt.getTime() - x.updatedAt.getTime());
  return naming[0] ?? null;
}

const withPort = (scheme: "http" | "https", host: string, port: number) =>
  `${scheme}://${host}${port === (scheme === "https" ? 443 : 80) ? "" : `:${port}`}`;

/** A check that has not run yet: not ok, with the records to create already known. */
function uncheckedDns(row: Domain, addresses: string[]): contract.DomainDnsCheck {
  return {
    ok: false,
    records: [],
    expected: expectedRecords(row.name, addresses),
    ownership: { record: { type: "TXT", name: ownershipName(row.name), value: ownershipValue(row.verifyToken) }, verified: false },
    problem: "Not checked yet.",
    checkedAt: null,
  };
}

export function domainJson(row: Domain, context: DomainContext): contract.AppDomain {
  const now = context.now ?? new Date();
  const serving = coveringCertificate(context.certificates, row.name, now);
  const shown = certificateForHost(context.certificates, row.name, now);
  return {
    name: row.name,
    wildcard: false,
    dns: row.dns ?? uncheckedDns(row, context.addresses),
    certificate: shown ? certificateBrief(shown, now) : null,
    redirect: row.httpsRedirect,
    hsts: row.hsts,
    canonical: row.canonical,
    url: serving ? withPort("https", row.name, context.httpsPort) : withPort("http", row.name, context.httpPort),
    createdAt: row.createdAt.toISOString(),
  };
}

export interface CertificateContext {
  providers: Map<string, DnsProviderRow>;
  domains: Array<{ name: string; app: string }>;
  jobs: Map<string, { id: string; status: contract.JobStatus }>;
  now?: Date;
}

export function certificateJson(row: CertificateRow, context: CertificateContext): contract.Certificate {
  const now = context.now ?? new Date();
  const provider = row.providerId ? context.providers.get(row.providerId) : undefined;
  return {
    ...certificateBrief(row, now),
    names: row.names,
    mode: row.mode,
    provider: provider ? { id: provider.id, name: provider.name } : null,
    notBefore: isoOrNull(row.notBefore),
    daysLeft: daysLeft(row.notAfter, now),
    autoRenew: row.autoRenew,
    issuedAt: isoOrNull(row.issuedAt),
    domains: context.domains.filter((d) => row.names.some((n) => nameCovers(n, d.name))).map((d) => ({ app: d.app, name: d.name })),
    job: context.jobs.get(row.id) ?? null,
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** The provider without its credentials: they are never answered back. */
export function dnsProviderJson(row: DnsProviderRow): contract.DnsProvider {
  return { id: row.id, name: row.name, kind: row.kind, summary: row.summary, createdAt: row.createdAt.toISOString() };
}
