/**
 * Domains and certificates as the GUI holds them: one app's domains (each with its DNS check and
 * certificate), every certificate, the DNS providers and the network settings. Each refetches when
 * the event stream says a domain, a certificate or a certificate job changed.
 */

import {
  addDomain,
  type CertificateRequestInput,
  checkDomain,
  createDnsProvider,
  deleteDnsProvider,
  getNetwork,
  listCertificates,
  listDnsProviders,
  listDomains,
  putNetwork,
  removeDomain,
  requestCertificate,
  updateDomain,
} from "#lib/api/domains.ts";
import type {
  AppDomain,
  Certificate,
  CreateDnsProviderInput,
  DnsProvider,
  Job,
  NetworkSettings,
  UpdateDomainInput,
} from "#lib/api/types.ts";
import { fieldErrors } from "./databases.svelte.ts";
import { follow } from "./events.svelte.ts";
import { Busy, RefreshQueue, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

/** The server's refusal by field (`{ name: "…" }`), or null when it was not a refusal of the input. */
function refusal(error: unknown): Record<string, string> | null {
  const fields = fieldErrors(error);
  if (fields) return fields;
  const status = (error as { status?: unknown } | null)?.status;
  const message = (error as { message?: unknown } | null)?.message;
  // A 4xx that names no field (a name another app holds, a provider that is missing) stays with the form.
  if (typeof status === "number" && status >= 400 && status < 500 && status !== 401 && status !== 403 && typeof message === "string") {
    return { form: message };
  }
  return null;
}

/** `*.example.com` and `example.com` cover `shop.example.com`: the wildcard a certificate's names ask for. */
export function isWildcard(certificate: Pick<Certificate, "names">): boolean {
  return certificate.names.some((n) => n.startsWith("*."));
}

export class AppDomains {
  readonly app: string;
  readonly #controller = new AbortController();
  readonly list: Resource<AppDomain[]>;
  /** "add", or "<action>:<name>" (check, issue, save, remove). */
  readonly busy = new Busy<string>();

  constructor(app: string) {
    this.app = app;
    const signal = this.#controller.signal;
    this.list = new Resource<AppDomain[]>([], (s) => listDomains(app, { signal: s }), { signal, failure: "Could not load the domains." });
  }

  find(name: string): AppDomain | null {
    return this.list.value.find((d) => d.name === name) ?? null;
  }

  #put(domain: AppDomain): void {
    const exists = this.list.value.some((d) => d.name === domain.name);
    this.list.value = exists ? this.list.value.map((d) => (d.name === domain.name ? domain : d)) : [...this.list.value, domain];
  }

  /** Adds the name; the domain, or the server's messages by field. */
  async add(name: string): Promise<{ domain: AppDomain } | { errors: Record<string, string> } | null> {
    let errors: Record<string, string> | null = null;
    const domain = await this.busy.run(() => addDomain(this.app, { name }), {
      title: `Couldn't add ${name}`,
      key: "add",
      onError: (error) => {
        errors = refusal(error);
        return errors !== null;
      },
    });
    if (errors) return { errors };
    if (!domain) return null;
    this.#put(domain);
    return { domain };
  }

  /** Resolves the name again. `quiet`: an automatic re-check, whose failure is not worth a toast. */
  async check(name: string, quiet = false): Promise<AppDomain | null> {
    const run = () => checkDomain(this.app, name);
    const domain = quiet
      ? await run().catch(() => null)
      : await this.busy.run(run, { title: `Couldn't check ${name}`, key: `check:${name}` });
    if (domain) this.#put(domain);
    return domain;
  }

  /** Starts the certificate job; the job, or the server's messages by field. */
  async issue(name: string, input: CertificateRequestInput): Promise<{ job: Job } | { errors: Record<string, string> } | null> {
    let errors: Record<string, string> | null = null;
    const job = await this.busy.run(() => requestCertificate(this.app, name, input), {
      title: `Couldn't start the certificate for ${name}`,
      key: `issue:${name}`,
      onError: (error) => {
        errors = refusal(error);
        return errors !== null;
      },
    });
    if (errors) return { errors };
    return job ? { job } : null;
  }

  /** The job issuing a certificate now (one the panel started by itself, say), or null. */
  async activeJob(certificateId: string): Promise<string | null> {
    const certificates = await listCertificates({ signal: this.#controller.signal }).catch(() => []);
    const job = certificates.find((c) => c.id === certificateId)?.job;
    return job && (job.status === "queued" || job.status === "running") ? job.id : null;
  }

  async save(name: string, patch: UpdateDomainInput): Promise<AppDomain | null> {
    const domain = await this.busy.run(() => updateDomain(this.app, name, patch), { title: `Couldn't save ${name}`, key: `save:${name}` });
    if (domain) this.#put(domain);
    return domain;
  }

  async remove(name: string): Promise<boolean> {
    const done = await this.busy.run(
      async () => {
        await removeDomain(this.app, name);
        return true;
      },
      { title: `Couldn't remove ${name}`, key: `remove:${name}` },
    );
    if (!done) return false;
    this.list.value = this.list.value.filter((d) => d.name !== name);
    toasts.success(`${name} removed`, "The proxy stops answering for it; its certificate is kept while another domain uses it.");
    return true;
  }

  /** The app's id, once known: some events carry only the id. */
  #appId: string | null = null;

  set appId(id: string | null) {
    this.#appId = id;
  }

  #mine(appId: string | null, name?: string | null): boolean {
    return name === this.app || (this.#appId !== null && appId === this.#appId);
  }

  /** Refetches when a domain of the app, any certificate, or a certificate job of the app changed. */
  listen(): () => void {
    const queue = new RefreshQueue(300);
    const off = follow({
      "domain.updated": (e) => {
        if (this.#mine(e.appId, e.app)) queue.add(this.list);
      },
      // A certificate may cover several apps' names (a wildcard): any change may be one of ours.
      "certificate.updated": () => queue.add(this.list),
      "job.updated": (e) => {
        if ((e.kind === "issue-certificate" || e.kind === "configure-proxy") && this.#mine(e.appId, e.app)) queue.add(this.list);
      },
      reconnected: () => queue.add(this.list),
    });
    return () => {
      queue.dispose();
      off();
    };
  }

  dispose(): void {
    this.#controller.abort();
  }
}

export class Certificates {
  readonly list = new Resource<Certificate[]>([], (signal) => listCertificates({ signal }), {
    failure: "Could not load the certificates.",
  });
  /** The id of the certificate being renewed. */
  readonly busy = new Busy<string>();

  /** Issues it again now, through one of the domains it covers. */
  async renew(certificate: Certificate): Promise<Job | null> {
    const domain = certificate.domains[0];
    if (!domain) {
      toasts.warning("Nothing to renew it for", "No app's domain uses this certificate any more.");
      return null;
    }
    const input: CertificateRequestInput = { mode: certificate.mode, force: true };
    if (certificate.provider) input.provider = certificate.provider.id;
    if (isWildcard(certificate)) input.wildcard = true;
    const job = await this.busy.run(() => requestCertificate(domain.app, domain.name, input), {
      title: `Couldn't renew ${certificate.name}`,
      key: certificate.id,
    });
    if (job) {
      toasts.info(
        `Renewing ${certificate.name}`,
        "The new certificate is served as soon as it is issued; the current one serves until then.",
      );
      this.list.value = this.list.value.map((c) => (c.id === certificate.id ? { ...c, job: { id: job.id, status: job.status } } : c));
    }
    return job;
  }

  listen(): () => void {
    const queue = new RefreshQueue(300);
    const off = follow({
      "certificate.updated": () => queue.add(this.list),
      "domain.updated": () => queue.add(this.list),
      "job.updated": (e) => {
        if (e.kind === "issue-certificate") queue.add(this.list);
      },
      reconnected: () => queue.add(this.list),
    });
    return () => {
      queue.dispose();
      off();
    };
  }
}

export class DnsProviders {
  readonly list = new Resource<DnsProvider[]>([], (signal) => listDnsProviders({ signal }), {
    failure: "Could not load the DNS providers.",
  });
  /** "create", or the id of the provider being deleted. */
  readonly busy = new Busy<string>();

  /** Adds a provider; null when added, else the server's messages by field. */
  async create(input: CreateDnsProviderInput): Promise<Record<string, string> | null> {
    let errors: Record<string, string> | null = null;
    const created = await this.busy.run(() => createDnsProvider(input), {
      title: "Couldn't add the DNS provider",
      key: "create",
      onError: (error) => {
        errors = refusal(error);
        return errors !== null;
      },
    });
    if (errors) return errors;
    if (created) {
      this.list.value = [...this.list.value.filter((p) => p.id !== created.id), created];
      toasts.success(`DNS provider “${created.name}” added`);
    }
    return null;
  }

  async remove(provider: DnsProvider): Promise<void> {
    const done = await this.busy.run(
      async () => {
        await deleteDnsProvider(provider.id);
        return true;
      },
      { title: `Couldn't delete “${provider.name}”`, key: provider.id },
    );
    if (!done) return;
    this.list.value = this.list.value.filter((p) => p.id !== provider.id);
    toasts.success(`DNS provider “${provider.name}” deleted`);
  }
}

export class Network {
  readonly settings = new Resource<NetworkSettings | null>(null, (signal) => getNetwork({ signal }), {
    failure: "Could not load the network settings.",
  });
  readonly busy = new Busy();

  /** Saves the addresses (empty: use the detected ones); null when saved, else the messages by field. */
  async save(publicAddresses: string[]): Promise<Record<string, string> | null> {
    let errors: Record<string, string> | null = null;
    const saved = await this.busy.run(() => putNetwork({ publicAddresses }), {
      title: "Couldn't save the addresses",
      onError: (error) => {
        errors = refusal(error);
        return errors !== null;
      },
    });
    if (errors) return errors;
    if (saved) {
      this.settings.value = saved;
      toasts.success("Addresses saved", "DNS checks compare with them from now on.");
    }
    return null;
  }
}
