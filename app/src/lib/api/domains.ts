/**
 * The domain endpoints: an app's domains with their DNS check and certificate, issuing or
 * uploading a certificate (a job), every certificate, DNS providers (their secrets are sent once
 * and never come back) and the network settings domains must point at. Through the one client.
 */
import { api, type RequestOptions } from "./client.ts";
import type {
  AddDomainInput,
  AppDomain,
  Certificate,
  CreateDnsProviderInput,
  DnsProvider,
  IssueCertificateInput,
  Job,
  NetworkSettings,
  UpdateDomainInput,
} from "./types.ts";

const domainsPath = (app: string) => `/apps/${encodeURIComponent(app)}/domains`;
const domainPath = (app: string, name: string) => `${domainsPath(app)}/${encodeURIComponent(name)}`;

/** The list itself, or the list under `key` (`{ domains: [...] }`). */
function listOf<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  const inner = (body as Record<string, unknown> | null | undefined)?.[key];
  return Array.isArray(inner) ? (inner as T[]) : [];
}

/** The object itself, or the object under `key` (`{ domain: {...} }`). */
function oneOf<T>(body: unknown, key: string): T {
  const inner = (body as Record<string, unknown> | null | undefined)?.[key];
  return (inner && typeof inner === "object" ? inner : body) as T;
}

export async function listDomains(app: string, options?: RequestOptions): Promise<AppDomain[]> {
  return listOf<AppDomain>(await api.get<unknown>(domainsPath(app), options), "domains");
}

export async function addDomain(app: string, input: AddDomainInput): Promise<AppDomain> {
  return oneOf<AppDomain>(await api.post<unknown>(domainsPath(app), input), "domain");
}

export async function updateDomain(app: string, name: string, patch: UpdateDomainInput): Promise<AppDomain> {
  return oneOf<AppDomain>(await api.patch<unknown>(domainPath(app, name), patch), "domain");
}

export async function removeDomain(app: string, name: string): Promise<void> {
  await api.delete<void>(domainPath(app, name));
}

/** Resolves the name again now; the domain with its fresh DNS check. */
export async function checkDomain(app: string, name: string): Promise<AppDomain> {
  return oneOf<AppDomain>(await api.post<unknown>(`${domainPath(app, name)}/check`), "domain");
}

/** Issue (HTTP-01, DNS-01, optionally the parent's wildcard) or upload a certificate: the job that does it. */
export type CertificateRequestInput = IssueCertificateInput & { wildcard?: boolean };

export async function requestCertificate(app: string, name: string, input: CertificateRequestInput): Promise<Job> {
  return (await api.post<{ job: Job }>(`${domainPath(app, name)}/certificate`, input)).job;
}

export async function listCertificates(options?: RequestOptions): Promise<Certificate[]> {
  return listOf<Certificate>(await api.get<unknown>("/certificates", options), "certificates");
}

export async function listDnsProviders(options?: RequestOptions): Promise<DnsProvider[]> {
  return listOf<DnsProvider>(await api.get<unknown>("/dns-providers", options), "providers");
}

export async function createDnsProvider(input: CreateDnsProviderInput): Promise<DnsProvider> {
  return oneOf<DnsProvider>(await api.post<unknown>("/dns-providers", input), "provider");
}

export async function deleteDnsProvider(id: string): Promise<void> {
  await api.delete<void>(`/dns-providers/${encodeURIComponent(id)}`);
}

export async function getNetwork(options?: RequestOptions): Promise<NetworkSettings> {
  return oneOf<NetworkSettings>(await api.get<unknown>("/settings/network", options), "network");
}

export async function putNetwork(input: { publicAddresses: string[] }): Promise<NetworkSettings> {
  return oneOf<NetworkSettings>(await api.put<unknown>("/settings/network", input), "network");
}
