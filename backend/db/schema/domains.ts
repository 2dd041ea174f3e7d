import { sql } from "drizzle-orm";
import { boolean, index, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { CANONICAL_HOSTS, CERTIFICATE_MODES, CERTIFICATE_STATES, DNS_PROVIDER_KINDS, type DomainDnsCheck } from "../../contract/api.ts";
import { apps } from "./apps.ts";

export { CANONICAL_HOSTS, CERTIFICATE_MODES, CERTIFICATE_STATES, DNS_PROVIDER_KINDS } from "../../contract/api.ts";

/**
 * Who answers to a host name. `apps.domains` stays the list the API and nginx read; a trigger on
 * apps (migration 0005, `apps_domains_claim`) writes this table in the same statement, whichever
 * panel version writes the list, and the unique name makes two owners of one name impossible.
 * The columns past `created_at` are the domain's own settings and its last DNS check; the
 * trigger's inserts take their defaults.
 */
export const domains = pgTable(
  "domains",
  {
    name: text("name").notNull(),
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    /** http → https, once a valid certificate covers the name. */
    httpsRedirect: boolean("https_redirect").notNull().default(true),
    /** Strict-Transport-Security on https answers. */
    hsts: boolean("hsts").notNull().default(false),
    /** The name this one redirects to: none, its `www.` form, or its apex. */
    canonical: text("canonical", { enum: CANONICAL_HOSTS }).notNull().default("none"),
    /** The value of the optional ownership TXT record (`_switchyard.<name>`). */
    verifyToken: text("verify_token").notNull().default(sql`replace(gen_random_uuid()::text, '-', '')`),
    /** The last DNS check; null until the first. */
    dns: jsonb("dns").$type<DomainDnsCheck>(),
  },
  (t) => [uniqueIndex("domains_name_idx").on(t.name), index("domains_app_idx").on(t.appId)],
);

export type Domain = typeof domains.$inferSelect;

/**
 * A DNS provider that answers DNS-01 challenges: RFC 2136 (BIND, PowerDNS, Knot…), Cloudflare,
 * or a hook command. The credentials are encrypted with the master key (AAD: the provider's id)
 * and written to a 0600 file only while certbot runs.
 */
export const dnsProviders = pgTable(
  "dns_providers",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    kind: text("kind", { enum: DNS_PROVIDER_KINDS }).notNull(),
    /** What may be shown: the server, the key's name, the zone. Nothing secret. */
    summary: jsonb("summary").$type<Record<string, string>>().notNull().default({}),
    /** The whole configuration as JSON, encrypted. */
    secret: text("secret").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("dns_providers_name_idx").on(t.name)],
);

export type DnsProviderRow = typeof dnsProviders.$inferSelect;

/**
 * One certificate: issued by ACME (HTTP-01 for one name, DNS-01 for a wildcard) or uploaded. The
 * database owns it: the PEM and the encrypted key are kept here, and the files nginx reads
 * (`<data>/tls/<name>/`) are written from them, so a restored panel serves the same certificates.
 */
export const certificates = pgTable(
  "certificates",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** The first name: `app.example.com`, or `*.example.com` for a wildcard. */
    name: text("name").notNull(),
    /** Every name it covers (subject alternative names). */
    names: text("names").array().notNull(),
    mode: text("mode", { enum: CERTIFICATE_MODES }).notNull(),
    providerId: uuid("provider_id").references(() => dnsProviders.id, { onDelete: "set null" }),
    /** pending (being issued), valid, failed; "expiring" is derived from not_after. */
    state: text("state", { enum: CERTIFICATE_STATES }).notNull().default("pending"),
    issuer: text("issuer"),
    serial: text("serial"),
    notBefore: timestamp("not_before", { withTimezone: true }),
    notAfter: timestamp("not_after", { withTimezone: true }),
    /** Why the last issuance or renewal failed (certbot's reason); kept while a valid one serves. */
    error: text("error"),
    /** Leaf and chain, PEM. */
    certificatePem: text("certificate_pem"),
    /** The private key, PEM, encrypted (AAD: the certificate's id). */
    keySecret: text("key_secret"),
    autoRenew: boolean("auto_renew").notNull().default(true),
    issuedAt: timestamp("issued_at", { withTimezone: true }),
    /** The last renewal attempt, successful or not (the daily job tries again after a day). */
    renewAttemptAt: timestamp("renew_attempt_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("certificates_name_idx").on(t.name)],
);

export type CertificateRow = typeof certificates.$inferSelect;
