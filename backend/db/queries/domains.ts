import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import type { CanonicalHost, DomainDnsCheck, JobStatus } from "../../contract/api.ts";
import type { Db } from "../client.ts";
import { type App, apps, certificates, type Domain, domains, jobs, settings } from "../schema/index.ts";

/** An app's domain rows, in the order of `apps.domains` (the order the user gave). */
export async function appDomainRows(db: Db, appId: string, order: readonly string[]): Promise<Domain[]> {
  const rows = await db.select().from(domains).where(eq(domains.appId, appId));
  const at = (name: string) => {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  };
  return rows.sort((x, y) => at(x.name) - at(y.name) || x.name.localeCompare(y.name));
}

export async function findAppDomainRow(db: Db, appId: string, name: string): Promise<Domain | null> {
  const [row] = await db
    .select()
    .from(domains)
    .where(and(eq(domains.appId, appId), eq(domains.name, name)));
  return row ?? null;
}

export interface DomainChanges {
  httpsRedirect?: boolean;
  hsts?: boolean;
  canonical?: CanonicalHost;
}

export async function updateDomainRow(db: Db, appId: string, name: string, changes: DomainChanges): Promise<Domain | null> {
  if (Object.keys(changes).length === 0) return findAppDomainRow(db, appId, name);
  const [row] = await db
    .update(domains)
    .set(changes)
    .where(and(eq(domains.appId, appId), eq(domains.name, name)))
    .returning();
  return row ?? null;
}

/** Keeps a domain's last DNS check (by name: a name has one owner). */
export async function setDomainDns(db: Db, name: string, check: DomainDnsCheck): Promise<void> {
  await db.update(domains).set({ dns: check }).where(eq(domains.name, name));
}

/** Every app domain with its app's name. */
export function allAppDomains(db: Db): Promise<Array<{ name: string; app: string; appId: string }>> {
  return db
    .select({ name: domains.name, app: apps.name, appId: apps.id })
    .from(domains)
    .innerJoin(apps, eq(apps.id, domains.appId))
    .orderBy(asc(domains.name));
}

// ── Certificates, as the domains API reads them (issuing writes them: jobs/certificates.ts) ──

/** The queued or running job of each certificate that has one. */
export async function activeCertificateJobs(db: Db): Promise<Map<string, { id: string; status: JobStatus }>> {
  const rows = await db
    .select({ id: jobs.id, status: jobs.status, certificateId: jobs.certificateId })
    .from(jobs)
    .where(inArray(jobs.status, ["queued", "running"]))
    .orderBy(desc(jobs.createdAt));
  const byCertificate = new Map<string, { id: string; status: JobStatus }>();
  for (const row of rows) {
    if (row.certificateId && !byCertificate.has(row.certificateId))
      byCertificate.set(row.certificateId, { id: row.id, status: row.status });
  }
  return byCertificate;
}

export async function deleteCertificateRow(db: Db, id: string): Promise<boolean> {
  const rows = await db.delete(certificates).where(eq(certificates.id, id)).returning({ id: certificates.id });
  return rows.length > 0;
}

// ── The server's public addresses (settings key "network") ──

const NETWORK_KEY = "network";

/** The addresses a user set; empty: the detected ones are used. */
export async function getPublicAddresses(db: Db): Promise<string[]> {
  const [row] = await db.select().from(settings).where(eq(settings.key, NETWORK_KEY));
  const stored = (row?.value ?? {}) as { publicAddresses?: unknown };
  return Array.isArray(stored.publicAddresses) ? stored.publicAddresses.filter((a): a is string => typeof a === "string") : [];
}

export async function setPublicAddresses(db: Db, publicAddresses: string[]): Promise<void> {
  const value = { publicAddresses };
  await db
    .insert(settings)
    .values({ key: NETWORK_KEY, value })
    .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt: new Date() } });
}

// ── An app's list of names (`apps.domains`; the apps_domains_claim trigger keeps `domains` in step) ──

/**
 * Appends a name to the app's domains in one statement, so two concurrent adds cannot lose one;
 * null when the name is already there or the app is at `max`. A name another app holds fails
 * with the unique violation of domains_name_idx.
 */
export async function appendAppDomain(db: Db, appId: string, name: string, max: number): Promise<App | null> {
  const [row] = await db
    .update(apps)
    .set({ domains: sql`array_append(${apps.domains}, ${name}::text)`, updatedAt: new Date() })
    .where(and(eq(apps.id, appId), sql`not (${name}::text = any(${apps.domains}))`, sql`cardinality(${apps.domains}) < ${max}`))
    .returning();
  return row ?? null;
}

/** Removes a name from the app's domains; null when it was not there. */
export async function removeAppDomain(db: Db, appId: string, name: string): Promise<App | null> {
  const [row] = await db
    .update(apps)
    .set({ domains: sql`array_remove(${apps.domains}, ${name}::text)`, updatedAt: new Date() })
    .where(and(eq(apps.id, appId), sql`${name}::text = any(${apps.domains})`))
    .returning();
  return row ?? null;
}
