/**
 * The daily renewal: every auto-renewing ACME certificate with fewer than CERTIFICATE_RENEW_DAYS
 * left gets an issue-certificate job (not forced: certbot renews what is due). Claiming a
 * certificate sets its renew_attempt_at in one conditional UPDATE, so of several panels each
 * certificate is queued by one, and a failed renewal is tried again a day later, not every pass.
 * The pass runs at start-up and then hourly: a panel restarted daily still renews.
 */
import { CERTIFICATE_EXPIRING_DAYS, CERTIFICATE_RENEW_DAYS } from "../contract/api.ts";
import { activeCertificateJob, claimRenewals } from "../db/queries/certificates.ts";
import type { Services } from "../services.ts";
import { renewalApp } from "./certificates.ts";
import { notifyExpiringCertificates } from "./notification-sources.ts";

const DAY_MS = 86_400_000;
/** A certificate is tried once a day (a little less, so a daily pass at a drifting hour still finds it). */
const RETRY_MS = 23 * 3_600_000;
export const RENEWAL_PASS_MS = 3_600_000;

/** One pass now: queues a renewal for every certificate due. Answers the names queued. */
export async function renewDueCertificates(services: Services, now = new Date()): Promise<string[]> {
  const due = await claimRenewals(services.db, {
    now,
    before: new Date(now.getTime() + CERTIFICATE_RENEW_DAYS * DAY_MS),
    triedBefore: new Date(now.getTime() - RETRY_MS),
  });
  const queued: string[] = [];
  for (const certificate of due) {
    if (await activeCertificateJob(services.db, certificate.id)) continue;
    await services.orchestrator.enqueue({
      kind: "issue-certificate",
      appId: await renewalApp(services, certificate),
      certificateId: certificate.id,
      params: {
        certificate: certificate.name,
        names: certificate.names,
        mode: certificate.mode,
        domain: certificate.names.find((n) => !n.startsWith("*.")) ?? certificate.name,
        force: false,
      },
      trigger: "renewal",
    });
    queued.push(certificate.name);
  }
  if (queued.length) services.log.info("certificate renewals queued", { certificates: queued });
  await notifyExpiringCertificates(services, now, CERTIFICATE_EXPIRING_DAYS);
  return queued;
}

const timers = new WeakMap<Services, ReturnType<typeof setInterval>>();

export function startCertificateRenewal(services: Services, everyMs = RENEWAL_PASS_MS): void {
  stopCertificateRenewal(services);
  const pass = () =>
    void renewDueCertificates(services).catch((error: unknown) => services.log.warn("certificate renewal pass failed", { error }));
  pass();
  timers.set(services, setInterval(pass, everyMs));
}

export function stopCertificateRenewal(services: Services): void {
  clearInterval(timers.get(services));
  timers.delete(services);
}
