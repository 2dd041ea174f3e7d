import { asc, eq, or } from "drizzle-orm";
import type { DnsProviderKind } from "../../contract/api.ts";
import { decryptSecret, encryptSecret } from "../../domain/vault.ts";
import type { Db } from "../client.ts";
import { certificates, type DnsProviderRow, dnsProviders } from "../schema/index.ts";

/** A provider's whole configuration, as stored encrypted (the API takes it, never answers it). */
export type DnsProviderConfig =
  | {
      kind: "rfc2136";
      server: string;
      port: number;
      keyName: string;
      keyAlgorithm: string;
      /** base64, as `tsig-keygen` prints it. */
      keySecret: string;
      zone: string | null;
      /** How long certbot waits for the record to reach every server of the zone (absent in rows stored before it existed: 60). */
      propagationSeconds?: number;
    }
  | { kind: "cloudflare"; apiToken: string }
  | { kind: "hook"; authCommand: string; cleanupCommand: string | null; propagationSeconds: number };

/** The ciphertext is bound to its provider's id, so credentials cannot be swapped between rows. */
const aad = (id: string) => id;

export function listDnsProviders(db: Db): Promise<DnsProviderRow[]> {
  return db.select().from(dnsProviders).orderBy(asc(dnsProviders.name));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** By id, or by name (the API and the CLI take either). */
export async function findDnsProvider(db: Db, idOrName: string): Promise<DnsProviderRow | null> {
  const [row] = await db
    .select()
    .from(dnsProviders)
    .where(UUID.test(idOrName) ? or(eq(dnsProviders.id, idOrName), eq(dnsProviders.name, idOrName)) : eq(dnsProviders.name, idOrName));
  return row ?? null;
}

/** A new provider with its configuration encrypted; the unique name index refuses a taken name. */
export async function insertDnsProvider(
  db: Db,
  masterKey: Buffer,
  input: { name: string; kind: DnsProviderKind; summary: Record<string, string>; config: DnsProviderConfig },
): Promise<DnsProviderRow> {
  const id = crypto.randomUUID();
  const [row] = await db
    .insert(dnsProviders)
    .values({
      id,
      name: input.name,
      kind: input.kind,
      summary: input.summary,
      secret: encryptSecret(masterKey, JSON.stringify(input.config), aad(id)),
    })
    .returning();
  return row as DnsProviderRow;
}

/** The decrypted configuration, for the certbot run that needs it (and nothing else). */
export function dnsProviderConfig(masterKey: Buffer, row: DnsProviderRow): DnsProviderConfig {
  return JSON.parse(decryptSecret(masterKey, row.secret, aad(row.id))) as DnsProviderConfig;
}

/** The certificates issued through a provider (a provider in use is not deleted). */
export function certificatesUsingProvider(db: Db, id: string): Promise<Array<{ id: string; name: string }>> {
  return db
    .select({ id: certificates.id, name: certificates.name })
    .from(certificates)
    .where(eq(certificates.providerId, id))
    .orderBy(asc(certificates.name));
}

export async function deleteDnsProvider(db: Db, id: string): Promise<boolean> {
  const rows = await db.delete(dnsProviders).where(eq(dnsProviders.id, id)).returning({ id: dnsProviders.id });
  return rows.length > 0;
}
