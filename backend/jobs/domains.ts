/**
 * Adding, changing, checking and removing an app's domains. The database is the truth (the name in
 * `apps.domains`, its settings and last check on its `domains` row); nginx follows through
 * syncRoutes, which changes routes without a reload.
 */
import type { DomainDnsCheck } from "../contract/api.ts";
import { domainOwners } from "../db/queries/apps.ts";
import { activeCertificateJob, findCertificate, listCertificates } from "../db/queries/certificates.ts";
import {
  allAppDomains,
  appDomainRows,
  appendAppDomain,
  type DomainChanges,
  deleteCertificateRow,
  findAppDomainRow,
  removeAppDomain,
  updateDomainRow,
} from "../db/queries/domains.ts";
import type { App, Domain, Job } from "../db/schema/index.ts";
import { MAX_DOMAINS } from "../domain/app-settings.ts";
import { DomainTakenError } from "../domain/apps.ts";
import { coveringCertificate, nameCovers } from "../domain/certificates.ts";
import type { Services } from "../services.ts";
import type { Actor } from "./apps.ts";
import { requestCertificate } from "./certificates.ts";
import { checkDomainDns } from "./dns.ts";
import { syncRoutes } from "./routes.ts";

/** A refused change, with the field to name (the route turns it into a 4xx). */
export class DomainRefused extends Error {
  override name = "DomainRefused";
  constructor(
    readonly status: 400 | 404 | 409,
    readonly code: string,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface DomainResult {
  domain: Domain;
  /** The http-01 issuance started because DNS points here and nothing covers the name yet. */
  certificateJob: Job | null;
}

async function announce(services: Services, app: App, name: string): Promise<void> {
  await services.events.publish({ type: "domain.updated", appId: app.id, app: app.name, name });
  await services.events.publish({ type: "app.updated", appId: app.id, app: app.name });
}

/**
 * HTTPS by default: once a name points here and no certificate names it (none issued, being issued
 * or failed: a failure waits for the user to ask again), an HTTP-01 certificate is requested, when
 * the proxy serves the challenge and certbot is there to answer it.
 */
async function maybeRequestCertificate(
  services: Services,
  app: App,
  name: string,
  check: DomainDnsCheck,
  actor: Actor,
): Promise<Job | null> {
  if (!check.ok || !services.proxy.enabled || !Bun.which("certbot")) return null;
  const certificates = await listCertificates(services.db);
  if (certificates.some((c) => c.names.some((n) => nameCovers(n, name)))) return null;
  try {
    const { job } = await requestCertificate(services, {
      app,
      domain: name,
      mode: "http-01",
      provider: null,
      wildcard: false,
      force: false,
      trigger: `${actor.label ?? "api"} (automatic: ${name} points here)`,
      userId: actor.userId ?? null,
    });
    return job;
  } catch (error) {
    // The domain itself was added; the certificate can be asked for again from its page.
    services.log.warn("could not start the certificate of a new domain", { app: app.name, domain: name, error: (error as Error).message });
    return null;
  }
}

/**
 * Adds a name to the app (the trigger on apps creates its row), applies its settings, checks its
 * DNS, routes it, and starts its certificate when DNS already points here.
 */
export async function addDomain(services: Services, app: App, name: string, changes: DomainChanges, actor: Actor): Promise<DomainResult> {
  if (app.domains.includes(name)) throw new DomainRefused(409, "domain_exists", "name", `${name} is already a domain of ${app.name}.`);
  if (app.domains.length >= MAX_DOMAINS) {
    throw new DomainRefused(400, "too_many_domains", "name", `${app.name} already has ${MAX_DOMAINS} domains, the most an app may have.`);
  }
  const [taken] = await domainOwners(services.db, [name], app.id);
  if (taken) throw new DomainTakenError(`${name} already belongs to the app ${taken.app}.`);
  const updated = await appendAppDomain(services.db, app.id, name, MAX_DOMAINS);
  if (!updated) throw new DomainRefused(409, "domain_exists", "name", `${name} was added to ${app.name} at the same time by someone else.`);
  let domain = await updateDomainRow(services.db, app.id, name, changes);
  if (!domain) throw new Error(`the domains row of ${name} is missing after it was added`);
  const check = await checkDomainDns(services, domain);
  domain = { ...domain, dns: check };
  await syncRoutes(services);
  await announce(services, updated, name);
  const certificateJob = await maybeRequestCertificate(services, updated, name, check, actor);
  return { domain, certificateJob };
}

export async function changeDomain(services: Services, app: App, name: string, changes: DomainChanges): Promise<Domain> {
  const domain = await updateDomainRow(services.db, app.id, name, changes);
  if (!domain) throw new DomainRefused(404, "not_found", "name", `${name} is not a domain of ${app.name}.`);
  await syncRoutes(services);
  await announce(services, app, name);
  return domain;
}

/**
 * A fresh DNS check (kept on the row). With `mayIssue` (a caller allowed to ask for certificates),
 * it starts the certificate once DNS points here, as adding does.
 */
export async function recheckDomain(
  services: Services,
  app: App,
  name: string,
  actor: Actor,
  options: { mayIssue: boolean },
): Promise<DomainResult> {
  const found = await findAppDomainRow(services.db, app.id, name);
  if (!found) throw new DomainRefused(404, "not_found", "name", `${name} is not a domain of ${app.name}.`);
  const check = await checkDomainDns(services, found);
  await services.events.publish({ type: "domain.updated", appId: app.id, app: app.name, name });
  const certificateJob = options.mayIssue ? await maybeRequestCertificate(services, app, name, check, actor) : null;
  return { domain: { ...found, dns: check }, certificateJob };
}

/** Takes the name from the app; nginx stops answering it from the next request. Its certificate stays listed. */
export async function removeDomain(services: Services, app: App, name: string): Promise<void> {
  // A redirect to the name would send its visitors nowhere once it is gone.
  const rows = await appDomainRows(services.db, app.id, app.domains);
  const redirecting = rows.find(
    (r) => (r.canonical === "www" && `www.${r.name}` === name) || (r.canonical === "apex" && r.name === `www.${name}`),
  );
  if (redirecting) {
    throw new DomainRefused(
      409,
      "canonical_target",
      "name",
      `${redirecting.name} redirects to ${name}: set its canonical host to none before removing ${name}.`,
    );
  }
  const updated = await removeAppDomain(services.db, app.id, name);
  if (!updated) throw new DomainRefused(404, "not_found", "name", `${name} is not a domain of ${app.name}.`);
  await syncRoutes(services);
  await announce(services, updated, name);
}

/**
 * Deletes a certificate that serves no app domain (one that does would leave the name without
 * https, or on a certificate it was not asked for), and whose issuance is not under way.
 */
export async function deleteCertificate(services: Services, id: string): Promise<void> {
  const row = await findCertificate(services.db, id);
  if (!row) throw new DomainRefused(404, "not_found", "id", `Certificate ${id} not found.`);
  const job = await activeCertificateJob(services.db, id);
  if (job) {
    throw new DomainRefused(
      409,
      "certificate_busy",
      "id",
      `${row.name} is being issued (job ${job.id}); wait for it to end or cancel it first.`,
    );
  }
  const certificates = await listCertificates(services.db);
  const served = (await allAppDomains(services.db)).filter((d) => coveringCertificate(certificates, d.name)?.id === id);
  if (served.length > 0) {
    const names = served.map((d) => `${d.name} (${d.app})`).join(", ");
    throw new DomainRefused(409, "certificate_in_use", "id", `${row.name} serves ${names}: remove those domains first.`);
  }
  await deleteCertificateRow(services.db, id);
  await syncRoutes(services);
  await services.events.publish({ type: "certificate.updated", certificateId: id, name: row.name, status: "deleted" });
}
