import { and, asc, eq, inArray, isNotNull, lt, ne, or, sql } from "drizzle-orm";
import type { CertificateMode } from "../../contract/api.ts";
import { nameCovers, type ParsedCertificate } from "../../domain/certificates.ts";
import { decryptSecret, encryptSecret } from "../../domain/vault.ts";
import type { Db } from "../client.ts";
import { apps, type CertificateRow, certificates, domains, type Job, jobs, users } from "../schema/index.ts";

/** The key is bound to its certificate's row, so two rows' keys cannot be swapped. */
const aad = (id: string) => id;

export function listCertificates(db: Db): Promise<CertificateRow[]> {
  return db.select().from(certificates).orderBy(asc(certificates.name));
}

export async function findCertificate(db: Db, id: string): Promise<CertificateRow | null> {
  const [row] = await db.select().from(certificates).where(eq(certificates.id, id));
  return row ?? null;
}

export async function findCertificateByName(db: Db, name: string): Promise<CertificateRow | null> {
  const [row] = await db.select().from(certificates).where(eq(certificates.name, name));
  return row ?? null;
}

/** The private key, decrypted (for the files nginx reads, and nothing else). */
export function certificateKey(masterKey: Buffer, row: Pick<CertificateRow, "id" | "keySecret">): string | null {
  return row.keySecret ? decryptSecret(masterKey, row.keySecret, aad(row.id)) : null;
}

/**
 * The row a request works on, created or updated by name (one row per name, so two requests for
 * one name share it). A valid certificate stays valid (and keeps serving) while it is issued again;
 * anything else is pending until the job ends.
 */
export async function upsertCertificate(
  db: Db,
  input: { name: string; names: string[]; mode: CertificateMode; providerId: string | null; autoRenew: boolean },
): Promise<CertificateRow> {
  const now = new Date();
  const [row] = await db
    .insert(certificates)
    .values({ ...input, state: "pending", updatedAt: now })
    .onConflictDoUpdate({
      target: certificates.name,
      set: {
        names: input.names,
        mode: input.mode,
        providerId: input.providerId,
        autoRenew: input.autoRenew,
        state: sql`case when ${certificates.state} = 'valid' then 'valid' else 'pending' end`,
        updatedAt: now,
      },
    })
    .returning();
  return row as CertificateRow;
}

/** The issue-certificate job queued or running for a certificate, if any. */
export async function activeCertificateJob(db: Db, certificateId: string): Promise<Job | null> {
  const [row] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.certificateId, certificateId), inArray(jobs.status, ["queued", "running"])))
    .limit(1);
  return row ?? null;
}

/** A newly issued (or uploaded) certificate: PEM, encrypted key and what was read from it. */
export async function storeIssuedCertificate(
  db: Db,
  masterKey: Buffer,
  id: string,
  parsed: ParsedCertificate,
  key: string,
): Promise<CertificateRow | null> {
  const now = new Date();
  const [row] = await db
    .update(certificates)
    .set({
      names: parsed.names,
      state: "valid",
      issuer: parsed.issuer,
      serial: parsed.serial,
      notBefore: parsed.notBefore,
      notAfter: parsed.notAfter,
      error: null,
      certificatePem: parsed.pem,
      keySecret: encryptSecret(masterKey, key, aad(id)),
      issuedAt: now,
      updatedAt: now,
    })
    .where(eq(certificates.id, id))
    .returning();
  return row ?? null;
}

/** Why issuing failed: a valid certificate keeps serving (and says what went wrong), anything else is failed. */
export async function recordCertificateFailure(db: Db, id: string, error: string): Promise<CertificateRow | null> {
  const [row] = await db
    .update(certificates)
    .set({
      error: error.slice(0, 2000),
      state: sql`case when ${certificates.state} = 'valid' and ${certificates.certificatePem} is not null then 'valid' else 'failed' end`,
      updatedAt: new Date(),
    })
    .where(eq(certificates.id, id))
    .returning();
  return row ?? null;
}

/**
 * Claims the certificates due for renewal: auto-renewing, issued by ACME, valid, expiring before
 * `before`, and not tried since `triedBefore`. The conditional UPDATE is the claim: of two panels
 * running the pass at once, each row goes to one (the second sees the new renew_attempt_at).
 */
export function claimRenewals(db: Db, o: { now: Date; before: Date; triedBefore: Date }): Promise<CertificateRow[]> {
  return db
    .update(certificates)
    .set({ renewAttemptAt: o.now })
    .where(
      and(
        eq(certificates.autoRenew, true),
        ne(certificates.mode, "custom"),
        eq(certificates.state, "valid"),
        isNotNull(certificates.notAfter),
        lt(certificates.notAfter, o.before),
        or(sql`${certificates.renewAttemptAt} is null`, lt(certificates.renewAttemptAt, o.triedBefore)),
      ),
    )
    .returning();
}

/** The apps' domains a certificate's names cover, with their apps. */
export async function domainsCoveredBy(db: Db, names: string[]): Promise<Array<{ name: string; appId: string; app: string }>> {
  const rows = await db
    .select({ name: domains.name, appId: domains.appId, app: apps.name })
    .from(domains)
    .innerJoin(apps, eq(apps.id, domains.appId));
  return rows.filter((d) => names.some((n) => nameCovers(n, d.name))).sort((a, b) => a.name.localeCompare(b.name));
}

/** The owner's email: the ACME account's contact when none is configured. */
export async function ownerEmail(db: Db): Promise<string | null> {
  const [row] = await db.select({ email: users.email }).from(users).where(eq(users.role, "owner")).orderBy(asc(users.createdAt)).limit(1);
  return row?.email ?? null;
}

/** An app's domain row by name (its ownership token goes into the DNS check). */
export async function domainByName(db: Db, name: string): Promise<{ name: string; verifyToken: string; appId: string } | null> {
  const [row] = await db
    .select({ name: domains.name, verifyToken: domains.verifyToken, appId: domains.appId })
    .from(domains)
    .where(eq(domains.name, name));
  return row ?? null;
}
