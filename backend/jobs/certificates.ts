/**
 * Starting certificate work: the issue-certificate job (HTTP-01, DNS-01, or an upload) and the
 * daily renewal (certificate-renewal.ts).
 *
 * Certificate jobs carry the app they were asked for (appId), so they show among its jobs; the
 * price is that they queue behind that app's running deploy, like any of its jobs, which costs a
 * deploy's time at most and keeps one job per app at a time. Renewals take the app of a domain the
 * certificate covers (none when it covers no app's domain any more).
 */
import { activeCertificateJob, domainsCoveredBy, findCertificateByName, upsertCertificate } from "../db/queries/certificates.ts";
import type { App, CertificateRow, DnsProviderRow, Job } from "../db/schema/index.ts";
import { nameCovers, parseCertificate } from "../domain/certificates.ts";
import { encryptSecret } from "../domain/vault.ts";
import type { Services } from "../services.ts";

export interface CertificateRequest {
  app: App;
  /** The app's domain the request was made for. */
  domain: string;
  mode: "http-01" | "dns-01" | "custom";
  /** dns-01: the provider (already looked up by the route). */
  provider: DnsProviderRow | null;
  /** dns-01: issue `*.<parent>` and `<parent>` instead of the domain alone. */
  wildcard: boolean;
  /** custom: already validated with validateCustomCertificate. */
  pem?: string;
  key?: string;
  force: boolean;
  trigger: string;
  userId: string | null;
}

/** Another kind of work on the same certificate is under way (an upload while certbot runs, say): a 409. */
export class CertificateConflict extends Error {
  override name = "CertificateConflict";
  constructor(
    message: string,
    readonly job: Job,
  ) {
    super(message);
  }
}

/** The uploaded key travels to the job encrypted in its params, bound to the certificate. */
export const uploadAad = (certificateId: string) => `certificate-upload:${certificateId}`;

/**
 * The names a request issues: the domain; with a wildcard, `*.<parent>` and `<parent>` where the
 * parent is the domain without its first label (a two-label domain is its own parent).
 */
export function requestedNames(domain: string, wildcard: boolean): string[] {
  if (!wildcard) return [domain];
  const parent = domain.split(".").length > 2 ? domain.slice(domain.indexOf(".") + 1) : domain;
  return [`*.${parent}`, parent];
}

/**
 * Creates (or reuses) the certificate row and queues its issue-certificate job; a job already
 * queued or running for that certificate is returned instead of a second one.
 */
export async function requestCertificate(
  services: Services,
  request: CertificateRequest,
): Promise<{ job: Job; certificate: CertificateRow }> {
  const { db } = services;
  let names: string[];
  if (request.mode === "custom") {
    if (!request.pem || !request.key) throw new Error("requestCertificate: a custom certificate needs its PEM and key");
    const parsed = parseCertificate(request.pem);
    // Named after the certificate's own name that covers the domain (its wildcard, for one).
    const covering = parsed.names.find((n) => n === request.domain) ?? parsed.names.find((n) => nameCovers(n, request.domain));
    names = [covering ?? request.domain, ...parsed.names.filter((n) => n !== covering)];
  } else {
    names = requestedNames(request.domain, request.mode === "dns-01" && request.wildcard);
  }
  const name = names[0] as string;

  const existing = await findCertificateByName(db, name);
  if (existing) {
    const active = await activeCertificateJob(db, existing.id);
    if (active) {
      const activeMode = (active.params as { mode?: string }).mode;
      if (activeMode === request.mode && request.mode !== "custom") return { job: active, certificate: existing };
      throw new CertificateConflict(
        `${name} is being ${activeMode === "custom" ? "installed from an upload" : "issued"} (job ${active.id}); try again once it has finished.`,
        active,
      );
    }
  }
  const certificate = await upsertCertificate(db, {
    name,
    names,
    mode: request.mode,
    providerId: request.mode === "dns-01" ? (request.provider?.id ?? null) : null,
    autoRenew: request.mode !== "custom",
  });
  const params: Record<string, unknown> = {
    certificate: certificate.name,
    names,
    mode: request.mode,
    domain: request.domain,
    force: request.force,
    ...(request.mode === "dns-01" ? { provider: request.provider?.name ?? null } : {}),
  };
  if (request.mode === "custom") {
    params.pem = request.pem;
    params.keySecret = encryptSecret(services.masterKey, request.key as string, uploadAad(certificate.id));
  }
  let job: Job;
  try {
    job = await services.orchestrator.enqueue({
      kind: "issue-certificate",
      appId: request.app.id,
      certificateId: certificate.id,
      params,
      createdBy: request.userId,
      trigger: request.trigger,
    });
  } catch (error) {
    // Two requests raced: the other one's job is the answer.
    const active = await activeCertificateJob(db, certificate.id);
    if (active) return { job: active, certificate };
    throw error;
  }
  await services.events.publish({
    type: "certificate.updated",
    certificateId: certificate.id,
    name: certificate.name,
    status: certificate.state,
  });
  return { job, certificate };
}

/** The app a renewal's job belongs to: one whose domain the certificate covers, if any. */
export async function renewalApp(services: Pick<Services, "db">, certificate: CertificateRow): Promise<string | null> {
  const [first] = await domainsCoveredBy(services.db, certificate.names);
  return first?.appId ?? null;
}
