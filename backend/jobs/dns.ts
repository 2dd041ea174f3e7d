/**
 * DNS checks of domains against this server's public addresses: the resolver's answers
 * (adapters/dns.ts) compared by the pure check (domain/dns-check.ts), the result kept on the
 * domain's row.
 */
import { detectPublicAddresses, lookupDomain } from "../adapters/dns.ts";
import type { DomainDnsCheck, NetworkSettings } from "../contract/api.ts";
import { getPublicAddresses, setDomainDns, setPublicAddresses } from "../db/queries/domains.ts";
import { checkDnsAnswers } from "../domain/dns-check.ts";
import type { Services } from "../services.ts";

/** This server's public addresses: the ones set in settings, else those found on its interfaces. */
export async function effectiveAddresses(services: Pick<Services, "db" | "config">): Promise<string[]> {
  const set = await getPublicAddresses(services.db);
  return set.length > 0 ? set : detectPublicAddresses();
}

/** Resolves a name (A, AAAA, CNAME, and the ownership TXT) and compares it with this server's addresses. */
export async function checkDomainDns(
  services: Pick<Services, "db" | "config">,
  domain: { name: string; verifyToken: string },
): Promise<DomainDnsCheck> {
  const [ours, answers] = await Promise.all([effectiveAddresses(services), lookupDomain(services.config.dnsResolvers, domain.name)]);
  const check = checkDnsAnswers(answers, ours, domain.verifyToken);
  await setDomainDns(services.db, domain.name, check);
  return check;
}

/** The addresses set, those detected, the ones in use, and where apps are served. */
export async function networkSettings(services: Pick<Services, "db" | "config">): Promise<NetworkSettings> {
  const publicAddresses = await getPublicAddresses(services.db);
  const detected = detectPublicAddresses();
  return {
    publicAddresses,
    detected,
    effective: publicAddresses.length > 0 ? publicAddresses : detected,
    httpPort: services.config.proxyPort,
    httpsPort: services.config.proxyTlsPort,
  };
}

/** Sets the addresses domains must point at (empty: the detected ones again). */
export async function setNetworkAddresses(services: Pick<Services, "db" | "config">, addresses: string[]): Promise<NetworkSettings> {
  await setPublicAddresses(services.db, addresses);
  return networkSettings(services);
}
