import { z } from "zod";
import { RateLimiter } from "../../auth/rate-limit.ts";
import { CANONICAL_HOSTS, CERTIFICATE_MODES, DNS_PROVIDER_KINDS } from "../../contract/api.ts";
import { listCertificates } from "../../db/queries/certificates.ts";
import type { DnsProviderConfig } from "../../db/queries/dns-providers.ts";
import {
  certificatesUsingProvider,
  deleteDnsProvider,
  findDnsProvider,
  insertDnsProvider,
  listDnsProviders,
} from "../../db/queries/dns-providers.ts";
import { activeCertificateJobs, allAppDomains, appDomainRows, type DomainChanges, findAppDomainRow } from "../../db/queries/domains.ts";
import type { App, Domain } from "../../db/schema/index.ts";
import { DOMAIN_PATTERN } from "../../domain/app-settings.ts";
import { DomainTakenError } from "../../domain/apps.ts";
import { validateCustomCertificate } from "../../domain/certificates.ts";
import { normalizeAddress } from "../../domain/dns-check.ts";
import { CertificateConflict, requestCertificate } from "../../jobs/certificates.ts";
import { effectiveAddresses, networkSettings, setNetworkAddresses } from "../../jobs/dns.ts";
import { addDomain, changeDomain, DomainRefused, deleteCertificate, recheckDomain, removeDomain } from "../../jobs/domains.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams } from "../context.ts";
import { certificateBrief, certificateJson, dnsProviderJson, domainJson } from "../domain-shapes.ts";
import { conflict, HttpError, notFound } from "../errors.ts";
import { hasRole } from "../middleware/auth.ts";
import type { Router } from "../router.ts";
import { jobJson } from "../shapes.ts";
import { loadApp } from "./apps.ts";

/** A 400 (or another status) naming one field, in the shape zod failures have. */
function fieldError(field: string, message: string, status = 400, code = "validation_failed"): HttpError {
  return new HttpError(status, code, `${field}: ${message}.`, { issues: [{ path: field, message }] });
}

const IPV4_LIKE = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * A host name an app may answer to: lower case, without the trailing dot. Wildcards are
 * certificates, not domains: an app gets exact names, and a wildcard certificate serves them.
 */
export const domainName = z
  .string({ error: "must be a host name like shop.example.com" })
  .max(300, "must be at most 253 characters")
  .transform((v) => v.trim().toLowerCase().replace(/\.$/, ""))
  .superRefine((v, ctx) => {
    const problem = v.startsWith("*.")
      ? `${v} is a wildcard: wildcards are certificates, not domains. Add a name under it (such as app.${v.slice(2)}), then ask for a dns-01 certificate with wildcard: true`
      : IPV4_LIKE.test(v) || v.includes(":") || v.startsWith("[")
        ? `${v} is an IP address: a domain is a host name like shop.example.com whose DNS points at this server`
        : !DOMAIN_PATTERN.test(v)
          ? `${JSON.stringify(v)} is not a domain name like shop.example.com (letters, digits, dashes and dots only)`
          : v === "localhost" || v.endsWith(".localhost")
            ? `${v}: *.localhost names are given to every app automatically`
            : v.endsWith(".invalid")
              ? `${v}: names under .invalid never resolve`
              : null;
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const settingsFields = {
  redirect: z.boolean({ error: "must be true or false" }).optional(),
  hsts: z.boolean({ error: "must be true or false" }).optional(),
  canonical: z.enum(CANONICAL_HOSTS, { error: `must be one of ${CANONICAL_HOSTS.join(", ")}` }).optional(),
};
const addBody = z.strictObject({ name: domainName, ...settingsFields });
const changeBody = z.strictObject(settingsFields);

const certificateBody = z
  .strictObject({
    mode: z.enum(CERTIFICATE_MODES, { error: `must be one of ${CERTIFICATE_MODES.join(", ")}` }),
    provider: z
      .string({ error: "must be a DNS provider's id or name" })
      .trim()
      .min(1, "must be a DNS provider's id or name")
      .max(200)
      .optional(),
    cert: z.string({ error: "must be the certificate as PEM text" }).optional(),
    key: z.string({ error: "must be the private key as PEM text" }).optional(),
    force: z.boolean({ error: "must be true or false" }).optional(),
    wildcard: z.boolean({ error: "must be true or false" }).optional(),
  })
  .superRefine((v, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (v.wildcard && v.mode !== "dns-01") {
      issue("wildcard", "a wildcard certificate needs mode dns-01 and a DNS provider: HTTP-01 cannot prove a wildcard");
    }
    if (v.mode === "dns-01" && !v.provider) {
      issue("provider", "is required for dns-01: add a DNS provider under Settings → DNS providers, then give its name or id");
    }
    if (v.mode !== "dns-01" && v.provider) issue("provider", "is only used with mode dns-01");
    if (v.mode === "custom") {
      if (!v.cert?.trim()) issue("cert", "is required for a custom certificate: the certificate as PEM, leaf first, then its chain");
      if (!v.key?.trim()) issue("key", "is required for a custom certificate: its unencrypted private key as PEM");
    } else {
      if (v.cert !== undefined) issue("cert", "is only used with mode custom");
      if (v.key !== undefined) issue("key", "is only used with mode custom");
    }
  });

// ── DNS providers ──

const providerBase = z.strictObject({
  name: z
    .string({ error: "name is required" })
    .trim()
    .min(1, "must not be empty")
    .max(60, "must be at most 60 characters")
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, "must start with a letter or digit (then letters, digits, spaces, dots, dashes)"),
  kind: z.enum(DNS_PROVIDER_KINDS, { error: `must be one of ${DNS_PROVIDER_KINDS.join(", ")}` }),
  config: z.record(z.string(), z.unknown(), { error: "config must be an object" }),
});

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const KEY_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TSIG_ALGORITHMS = ["hmac-sha256", "hmac-sha512", "hmac-sha1", "hmac-md5"] as const;

const rfc2136Config = z.strictObject({
  server: z
    .string({ error: "must be the DNS server's IP address or host name" })
    .trim()
    .refine((v) => normalizeAddress(v) !== null || HOST_NAME.test(v), "must be the DNS server's IP address or host name"),
  port: z
    .number({ error: "must be a port number" })
    .int("must be a whole number")
    .min(1, "must be 1-65535")
    .max(65535, "must be 1-65535")
    .default(53),
  keyName: z.string({ error: "must be the TSIG key's name" }).trim().regex(KEY_NAME, "must be the TSIG key's name, like certbot-key."),
  keyAlgorithm: z
    .string({ error: `must be one of ${TSIG_ALGORITHMS.join(", ")}` })
    .trim()
    .toLowerCase()
    .pipe(z.enum(TSIG_ALGORITHMS, { error: `must be one of ${TSIG_ALGORITHMS.join(", ")}` }))
    .default("hmac-sha256"),
  keySecret: z
    .string({ error: "must be the TSIG key's secret (base64)" })
    .trim()
    .max(1024, "must be at most 1024 characters")
    .refine((v) => v.length > 0 && BASE64.test(v), "must be the TSIG key's secret, in base64 as tsig-keygen prints it"),
  zone: z
    .string({ error: "must be a zone name like example.com" })
    .trim()
    .toLowerCase()
    .transform((v) => v.replace(/\.$/, ""))
    .refine((v) => v === "" || HOST_NAME.test(v), "must be a zone name like example.com")
    .optional(),
  propagationSeconds: z
    .number({ error: "must be a number of seconds" })
    .int("must be a whole number")
    .min(0, "must be 0-600")
    .max(600, "must be 0-600")
    .default(60),
});
const cloudflareConfig = z.strictObject({
  apiToken: z
    .string({ error: "must be a Cloudflare API token with Zone:DNS:Edit" })
    .trim()
    .regex(/^[A-Za-z0-9_-]{8,400}$/, "must be a Cloudflare API token (Zone:DNS:Edit): 8-400 letters, digits, _ and -"),
});
const hookConfig = z.strictObject({
  authCommand: z
    .string({ error: "must be a shell command" })
    .trim()
    .min(1, "must not be empty: it sets the TXT record")
    .max(4096, "must be at most 4096 characters"),
  cleanupCommand: z
    .string({ error: "must be a shell command" })
    .trim()
    .max(4096, "must be at most 4096 characters")
    .optional()
    .transform((v) => v || null),
  propagationSeconds: z
    .number({ error: "must be a number of seconds" })
    .int("must be a whole number")
    .min(0, "must be 0-600")
    .max(600, "must be 0-600")
    .default(10),
});

/** The configuration to store (encrypted) and what may be shown of it. */
function providerConfig(
  kind: (typeof DNS_PROVIDER_KINDS)[number],
  raw: Record<string, unknown>,
): { config: DnsProviderConfig; summary: Record<string, string> } {
  const wrap = <T>(schema: z.ZodType<T, unknown>): T => {
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw fieldError(["config", ...(issue?.path ?? []).map(String)].join("."), issue?.message ?? "is not valid");
  };
  if (kind === "rfc2136") {
    const v = wrap(rfc2136Config);
    const config: DnsProviderConfig = { kind, ...v, zone: v.zone || null };
    const summary: Record<string, string> = {
      server: v.server,
      port: String(v.port),
      keyName: v.keyName,
      keyAlgorithm: v.keyAlgorithm,
      propagationSeconds: String(v.propagationSeconds),
    };
    if (v.zone) summary.zone = v.zone;
    return { config, summary };
  }
  if (kind === "cloudflare") {
    const v = wrap(cloudflareConfig);
    return { config: { kind, apiToken: v.apiToken } satisfies DnsProviderConfig, summary: { credentials: "API token" } };
  }
  const v = wrap(hookConfig);
  // The commands may hold credentials (a curl with a token): only their shape is shown.
  return {
    config: { kind, ...v } satisfies DnsProviderConfig,
    summary: { propagationSeconds: String(v.propagationSeconds), cleanup: v.cleanupCommand ? "yes" : "no" },
  };
}

const networkBody = z.strictObject({
  publicAddresses: z
    .array(z.string({ error: "must be an IP address" }), { error: "must be a list of IP addresses" })
    .max(16, "at most 16 addresses")
    .superRefine((list, ctx) => {
      list.forEach((a, i) => {
        if (normalizeAddress(a) === null) ctx.addIssue({ code: "custom", path: [i], message: `${JSON.stringify(a)} is not an IP address` });
      });
    })
    .transform((list) => [...new Set(list.map((a) => normalizeAddress(a) as string))]),
});

// ── Helpers ──

const actor = (c: Context) => ({ userId: c.auth?.user.id ?? null, label: c.auth?.user.email ?? "api" });

async function domainContext(c: Context) {
  const [certificates, addresses] = await Promise.all([listCertificates(c.services.db), effectiveAddresses(c.services)]);
  return { certificates, addresses, httpPort: c.services.config.proxyPort, httpsPort: c.services.config.proxyTlsPort };
}

async function answerDomain(c: Context, row: Domain, status = 200): Promise<Response> {
  return Response.json(domainJson(row, await domainContext(c)), { status });
}

/** The app and the domain named in the path (normalized as names are when added). */
async function loadDomain(c: Context): Promise<{ app: App; name: string }> {
  const app = await loadApp(c);
  const { name } = readParams(c, z.object({ name: domainName }));
  if (!app.domains.includes(name)) throw notFound(`Domain ${name} of ${app.name}`);
  return { app, name };
}

function refused(error: unknown): never {
  if (error instanceof DomainRefused) {
    if (error.status === 404) throw new HttpError(404, "not_found", error.message);
    throw new HttpError(error.status, error.code, error.message, { issues: [{ path: error.field, message: error.message }] });
  }
  if (error instanceof DomainTakenError)
    throw conflict("domain_taken", error.message, { issues: [{ path: "name", message: error.message }] });
  throw error;
}

const toChanges = (body: z.output<typeof changeBody>): DomainChanges => ({
  ...(body.redirect === undefined ? {} : { httpsRedirect: body.redirect }),
  ...(body.hsts === undefined ? {} : { hsts: body.hsts }),
  ...(body.canonical === undefined ? {} : { canonical: body.canonical }),
});

/** A canonical redirect must land on a name this app answers to, or it would send visitors nowhere. */
function checkCanonical(app: App, name: string, canonical: string | undefined): void {
  if (canonical === "www") {
    if (name.startsWith("www."))
      throw fieldError("canonical", `${name} is already the www form; set apex on it to send visitors to ${name.slice(4)}`);
    if (!app.domains.includes(`www.${name}`)) {
      throw fieldError("canonical", `redirects to www.${name}, which is not a domain of ${app.name}: add www.${name} first`);
    }
  } else if (canonical === "apex") {
    if (!name.startsWith("www.")) throw fieldError("canonical", `only a www. name can redirect to its apex; ${name} is not one`);
    const apex = name.slice(4);
    if (!app.domains.includes(apex)) {
      throw fieldError("canonical", `redirects to ${apex}, which is not a domain of ${app.name}: add ${apex} first`);
    }
  }
}

/** Re-checks are cheap for the panel but not free for DNS servers: a page left open re-checks at a calm pace. */
const checkLimits = new WeakMap<object, RateLimiter>();
function limitChecks(c: Context, key: string): void {
  let limiter = checkLimits.get(c.services);
  if (!limiter) {
    limiter = new RateLimiter(30, 60_000);
    checkLimits.set(c.services, limiter);
  }
  const wait = limiter.retryAfter(key);
  if (wait > 0) {
    throw new HttpError(429, "rate_limited", `Checked too often; check again in ${wait} s.`, undefined, { "retry-after": String(wait) });
  }
  limiter.fail(key);
}

export function domainRoutes(r: Router): void {
  r.get("/api/v1/apps/:app/domains", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const [rows, context] = await Promise.all([appDomainRows(c.services.db, app.id, app.domains), domainContext(c)]);
    return Response.json(rows.map((row) => domainJson(row, context)));
  });

  r.post("/api/v1/apps/:app/domains", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const body = await readJson(c, addBody);
    if (body.name === c.services.config.publicUrl.hostname.toLowerCase()) {
      throw fieldError("name", `${body.name} is the panel's own address; give the app a name of its own`);
    }
    checkCanonical(app, body.name, body.canonical);
    const { domain, certificateJob } = await addDomain(c.services, app, body.name, toChanges(body), actor(c)).catch(refused);
    await audit(c, "domain.added", `app:${app.name}`, {
      domain: domain.name,
      ...(certificateJob ? { certificateJobId: certificateJob.id } : {}),
    });
    return answerDomain(c, domain, 201);
  });

  r.patch("/api/v1/apps/:app/domains/:name", { auth: "admin" }, async (c) => {
    const { app, name } = await loadDomain(c);
    const body = await readJson(c, changeBody);
    checkCanonical(app, name, body.canonical);
    const domain = await changeDomain(c.services, app, name, toChanges(body)).catch(refused);
    await audit(c, "domain.updated", `app:${app.name}`, { domain: name, ...body });
    return answerDomain(c, domain);
  });

  r.delete("/api/v1/apps/:app/domains/:name", { auth: "admin" }, async (c) => {
    const { app, name } = await loadDomain(c);
    await removeDomain(c.services, app, name).catch(refused);
    await audit(c, "domain.removed", `app:${app.name}`, { domain: name });
    return new Response(null, { status: 204 });
  });

  r.post("/api/v1/apps/:app/domains/:name/check", { auth: "viewer" }, async (c) => {
    const { app, name } = await loadDomain(c);
    limitChecks(c, `${app.id}:${name}`);
    const mayIssue = c.auth !== null && hasRole(c.auth.user.role, "admin");
    const { domain, certificateJob } = await recheckDomain(c.services, app, name, actor(c), { mayIssue }).catch(refused);
    if (certificateJob) {
      await audit(c, "certificate.requested", `app:${app.name}`, {
        domain: name,
        mode: "http-01",
        automatic: true,
        jobId: certificateJob.id,
      });
    } else {
      // A check changes nothing anyone set; the wizard repeats it while open, and it would flood the audit log.
      c.audited = true;
    }
    return answerDomain(c, domain);
  });

  r.post("/api/v1/apps/:app/domains/:name/certificate", { auth: "admin" }, async (c) => {
    const { app, name } = await loadDomain(c);
    const body = await readJson(c, certificateBody);
    const wildcard = body.wildcard === true;
    let provider = null;
    if (body.mode === "dns-01") {
      provider = await findDnsProvider(c.services.db, body.provider as string);
      if (!provider)
        throw fieldError("provider", `there is no DNS provider ${JSON.stringify(body.provider)}; add it under Settings → DNS providers`);
    }
    if (body.mode === "http-01" && !c.services.proxy.enabled) {
      throw fieldError(
        "mode",
        `HTTP-01 needs the proxy to serve the challenge, and it is off: ${c.services.proxy.problem ?? "nginx is not running"}`,
        409,
        "proxy_disabled",
      );
    }
    let custom: { pem: string; key: string } | null = null;
    if (body.mode === "custom") {
      const checked = validateCustomCertificate({ pem: body.cert as string, key: body.key as string, domain: name });
      if (!checked.ok) throw fieldError(checked.field, checked.message);
      custom = { pem: checked.parsed.pem, key: checked.key };
    }
    const row = await findAppDomainRow(c.services.db, app.id, name);
    if (!row) throw notFound(`Domain ${name} of ${app.name}`);
    const requested = await requestCertificate(c.services, {
      app,
      domain: name,
      mode: body.mode,
      provider,
      wildcard,
      ...(custom ?? {}),
      force: body.force === true,
      trigger: actor(c).label,
      userId: actor(c).userId,
    }).catch((error: unknown) => {
      if (error instanceof CertificateConflict) throw conflict("certificate_busy", error.message, { job: jobJson(error.job) });
      throw error;
    });
    const { job, certificate } = requested;
    await audit(c, "certificate.requested", `app:${app.name}`, {
      domain: name,
      mode: body.mode,
      wildcard,
      certificate: certificate.name,
      jobId: job.id,
      ...(provider ? { provider: provider.name } : {}),
    });
    return Response.json({ job: jobJson(job), certificate: certificateBrief(certificate) }, { status: 202 });
  });

  r.get("/api/v1/certificates", { auth: "viewer" }, async (c) => {
    const { db } = c.services;
    const [rows, providers, domains, jobs] = await Promise.all([
      listCertificates(db),
      listDnsProviders(db),
      allAppDomains(db),
      activeCertificateJobs(db),
    ]);
    const context = { providers: new Map(providers.map((p) => [p.id, p])), domains, jobs };
    return Response.json({ certificates: rows.map((row) => certificateJson(row, context)) });
  });

  r.delete("/api/v1/certificates/:id", { auth: "admin" }, async (c) => {
    const { id } = readParams(c, z.object({ id: z.uuid({ error: "must be a certificate id" }) }));
    await deleteCertificate(c.services, id).catch(refused);
    await audit(c, "certificate.deleted", `certificate:${id}`);
    return new Response(null, { status: 204 });
  });

  r.get("/api/v1/dns-providers", { auth: "viewer" }, async (c) => {
    return Response.json({ providers: (await listDnsProviders(c.services.db)).map(dnsProviderJson) });
  });

  r.post("/api/v1/dns-providers", { auth: "admin" }, async (c) => {
    const body = await readJson(c, providerBase);
    const { config, summary } = providerConfig(body.kind, body.config);
    if (await findDnsProvider(c.services.db, body.name)) {
      throw fieldError("name", `a DNS provider named ${body.name} already exists`, 409, "provider_exists");
    }
    const row = await insertDnsProvider(c.services.db, c.services.masterKey, { name: body.name, kind: body.kind, summary, config });
    await audit(c, "dns_provider.created", `dns-provider:${row.name}`, { kind: row.kind });
    return Response.json({ provider: dnsProviderJson(row) }, { status: 201 });
  });

  r.delete("/api/v1/dns-providers/:id", { auth: "admin" }, async (c) => {
    const { id } = readParams(c, z.object({ id: z.string().min(1).max(200) }));
    const row = await findDnsProvider(c.services.db, id);
    if (!row) throw notFound(`DNS provider ${id}`);
    const using = await certificatesUsingProvider(c.services.db, row.id);
    if (using.length > 0) {
      throw conflict(
        "provider_in_use",
        `${row.name} issues ${using.map((u) => u.name).join(", ")}: delete ${using.length === 1 ? "that certificate" : "those certificates"} first.`,
      );
    }
    await deleteDnsProvider(c.services.db, row.id);
    await audit(c, "dns_provider.deleted", `dns-provider:${row.name}`, { kind: row.kind });
    return new Response(null, { status: 204 });
  });

  r.get("/api/v1/settings/network", { auth: "viewer" }, async (c) => Response.json(await networkSettings(c.services)));

  r.put("/api/v1/settings/network", { auth: "admin" }, async (c) => {
    const body = await readJson(c, networkBody);
    const settings = await setNetworkAddresses(c.services, body.publicAddresses);
    await audit(c, "settings.network", "settings:network", { publicAddresses: settings.publicAddresses });
    return Response.json(settings);
  });
}
