import { type AcmeChallenge, CertbotError, challengeSecrets, createCertbot, type IssuedFiles } from "../../adapters/acme/index.ts";
import { processPrivilege } from "../../adapters/privilege.ts";
import {
  domainByName,
  domainsCoveredBy,
  findCertificate,
  ownerEmail,
  recordCertificateFailure,
  storeIssuedCertificate,
} from "../../db/queries/certificates.ts";
import { dnsProviderConfig, findDnsProvider } from "../../db/queries/dns-providers.ts";
import type { CertificateRow } from "../../db/schema/index.ts";
import { certificateFileName, parseCertificate, validateCustomCertificate } from "../../domain/certificates.ts";
import { createMasker } from "../../domain/masking.ts";
import { certificateFailed, certificateIssued } from "../../domain/notification-messages.ts";
import { decryptSecret } from "../../domain/vault.ts";
import { uploadAad } from "../certificates.ts";
import { checkDomainDns } from "../dns.ts";
import { notifySafely } from "../notify.ts";
import { type JobContext, JobFailed, type JobHandler } from "../orchestrator.ts";
import { syncRoutes } from "../routes.ts";

/** certbot's DNS plugins wait this long after an RFC 2136 update by default, for secondaries to catch up. */
const RFC2136_PROPAGATION_SECONDS = 60;

interface Params {
  mode: "http-01" | "dns-01" | "custom";
  names: string[];
  domain: string;
  force: boolean;
  pem?: string;
  keySecret?: string;
}

function paramsOf(ctx: JobContext): Params {
  const p = ctx.job.params as Partial<Params>;
  if (!p.mode || !Array.isArray(p.names) || typeof p.domain !== "string") throw new JobFailed("The job's parameters are incomplete.");
  return { mode: p.mode, names: p.names, domain: p.domain, force: p.force === true, pem: p.pem, keySecret: p.keySecret };
}

async function requireCertificate(ctx: JobContext): Promise<CertificateRow> {
  const id = ctx.job.certificateId;
  const row = id ? await findCertificate(ctx.services.db, id) : null;
  if (!row) throw new JobFailed("The certificate no longer exists.");
  return row;
}

/** The DNS-01 challenge from the certificate's provider (its credentials decrypted for this run only). */
async function dnsChallenge(ctx: JobContext, certificate: CertificateRow): Promise<AcmeChallenge> {
  if (!certificate.providerId)
    throw new JobFailed(`${certificate.name} needs a DNS provider for DNS-01, and it has none (was it deleted?).`);
  const provider = await findDnsProvider(ctx.services.db, certificate.providerId);
  if (!provider) throw new JobFailed(`The DNS provider of ${certificate.name} no longer exists.`);
  const config = dnsProviderConfig(ctx.services.masterKey, provider);
  ctx.log(`DNS provider ${provider.name} (${provider.kind})`);
  switch (config.kind) {
    case "rfc2136":
      return {
        kind: "rfc2136",
        server: config.server,
        port: config.port,
        keyName: config.keyName,
        keyAlgorithm: config.keyAlgorithm,
        keySecret: config.keySecret,
        propagationSeconds: config.propagationSeconds ?? RFC2136_PROPAGATION_SECONDS,
      };
    case "cloudflare":
      return { kind: "cloudflare", apiToken: config.apiToken };
    case "hook":
      return {
        kind: "hook",
        authCommand: config.authCommand,
        cleanupCommand: config.cleanupCommand,
        propagationSeconds: config.propagationSeconds,
      };
  }
}

/** Stores the certificate, writes nginx's files from the database, and tells everyone who shows it. */
async function install(ctx: JobContext, certificate: CertificateRow, files: IssuedFiles, autoRenewNote: string): Promise<CertificateRow> {
  let parsed: ReturnType<typeof parseCertificate>;
  try {
    parsed = parseCertificate(files.fullchain);
  } catch (error) {
    throw new JobFailed(`The issued certificate could not be read: ${(error as Error).message}`);
  }
  const row = await storeIssuedCertificate(ctx.services.db, ctx.services.masterKey, certificate.id, parsed, files.key);
  if (!row) throw new JobFailed("The certificate was deleted while it was being issued.");
  ctx.log(
    `${parsed.names.join(", ")}: issued by ${parsed.issuer}, serial ${parsed.serial}, valid until ${parsed.notAfter.toISOString()}${autoRenewNote}`,
  );
  await syncRoutes(ctx.services);
  const covered = await domainsCoveredBy(ctx.services.db, row.names);
  ctx.log(covered.length ? `serves https for ${covered.map((d) => `${d.name} (${d.app})`).join(", ")}` : "no app's domain uses it yet");
  await ctx.services.events.publish({ type: "certificate.updated", certificateId: row.id, name: row.name, status: "valid" });
  for (const d of covered) await ctx.services.events.publish({ type: "domain.updated", appId: d.appId, app: d.app, name: d.name });
  await notifySafely(
    ctx.services,
    certificateIssued({
      name: row.name,
      names: parsed.names,
      issuer: parsed.issuer,
      notAfter: parsed.notAfter,
      renewal: certificate.issuedAt !== null,
    }),
    null,
  );
  return row;
}

/**
 * Issues (HTTP-01 through the webroot nginx serves, or DNS-01 through a provider), renews, or
 * installs an uploaded certificate. A failure is recorded on the certificate: a valid one keeps
 * serving with the reason beside it; one that never was valid becomes failed.
 */
export const issueCertificateHandler: JobHandler = {
  steps: (job) => ((job.params as { mode?: string }).mode === "custom" ? ["check", "install"] : ["check", "issue", "install"]),
  async run(ctx) {
    const params = paramsOf(ctx);
    const certificate = await requireCertificate(ctx);
    try {
      if (params.mode === "custom") {
        const key = await ctx.step("check", async () => {
          if (!params.pem || !params.keySecret) throw new JobFailed("The upload is missing from the job.");
          const key = decryptSecret(ctx.services.masterKey, params.keySecret, uploadAad(certificate.id));
          ctx.maskWith(createMasker([key]));
          const checked = validateCustomCertificate({ pem: params.pem, key, domain: params.domain });
          if (!checked.ok) throw new JobFailed(`The ${checked.field === "key" ? "key" : "certificate"} ${checked.message}`);
          ctx.log(`the key matches, the chain verifies, and it covers ${params.domain}`);
          return checked.key;
        });
        await ctx.step("install", () =>
          install(ctx, certificate, { fullchain: params.pem as string, key }, " (uploaded: renew it by uploading again)"),
        );
        return { certificate: certificate.name, mode: "custom" };
      }

      const challenge = await ctx.step("check", async (): Promise<AcmeChallenge> => {
        if (params.mode === "dns-01") return dnsChallenge(ctx, certificate);
        for (const name of certificate.names) {
          const domain = await domainByName(ctx.services.db, name);
          if (!domain) throw new JobFailed(`${name} is no longer one of an app's domains.`);
          const dns = await checkDomainDns(ctx.services, { name, verifyToken: domain.verifyToken });
          if (!dns.ok) throw new JobFailed(`${name} does not point here yet: ${dns.problem ?? "its DNS records do not match"}`);
          ctx.log(`${name} resolves here (${dns.records.map((r) => r.value).join(", ")})`);
        }
        return { kind: "http-01", webroot: ctx.services.proxy.acmeWebroot };
      });

      const files = await ctx.step("issue", async () => {
        ctx.maskWith(createMasker(challengeSecrets(challenge)));
        const certbot = createCertbot(ctx.services.config, processPrivilege());
        const email = ctx.services.config.acme.email ?? (await ownerEmail(ctx.services.db));
        ctx.log(
          `${certbot.how}: ${certificate.names.join(", ")} from ${ctx.services.config.acme.server}${params.force ? " (forced)" : ""}`,
        );
        try {
          return await certbot.issue(
            { certName: certificateFileName(certificate.name), domains: certificate.names, challenge, force: params.force, email },
            { onLine: (stream, line) => ctx.log(line, stream), signal: ctx.signal },
          );
        } catch (error) {
          if (error instanceof CertbotError) throw new JobFailed(`certbot failed: ${error.reason}`);
          throw error;
        }
      });
      await ctx.step("install", () => install(ctx, certificate, files, certificate.autoRenew ? " (renewed automatically)" : ""));
      return { certificate: certificate.name, mode: params.mode };
    } catch (error) {
      const reason = error instanceof JobFailed ? error.message : `${(error as Error).message}`;
      const row = await recordCertificateFailure(ctx.services.db, certificate.id, reason).catch(() => null);
      if (row) await ctx.services.events.publish({ type: "certificate.updated", certificateId: row.id, name: row.name, status: row.state });
      if (!ctx.signal.aborted) {
        const stillValidUntil = row?.state === "valid" && row.notAfter ? row.notAfter : null;
        await notifySafely(
          ctx.services,
          certificateFailed({ name: certificate.name, names: certificate.names, reason, stillValidUntil }),
          null,
        );
      }
      throw error;
    }
  },
};
