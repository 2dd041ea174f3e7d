/**
 * Pure decisions about certificates: which one covers a host name, and the status people see.
 * (Parsing and checking PEM files lives beside these; nothing here touches the OS.)
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { rootCertificates } from "node:tls";
import { CERTIFICATE_EXPIRING_DAYS, type CertificateStatus } from "../contract/api.ts";

const DAY_MS = 86_400_000;

/**
 * The file name a certificate is kept under (certbot's lineage, the tls directory): `*.example.com`
 * becomes `_.example.com` (no host name has an underscore, and `*` is awkward in paths).
 */
export function certificateFileName(name: string): string {
  return name.replace(/^\*\./, "_.");
}

/** The certificate name a file name stands for (certificateFileName undone). */
export function certificateNameOfFile(file: string): string {
  return file.replace(/^_\./, "*.");
}

/** Whether a certificate name (exact, or `*.parent`) covers a host: a wildcard covers one label. */
export function nameCovers(certName: string, host: string): boolean {
  if (certName === host) return true;
  if (!certName.startsWith("*.")) return false;
  const dot = host.indexOf(".");
  return dot > 0 && host.slice(dot + 1) === certName.slice(2);
}

export interface CoverableCertificate {
  names: string[];
  state: "pending" | "valid" | "failed";
  notAfter: Date | null;
  certificatePem: string | null;
}

/**
 * The certificate that serves a host: among those with a PEM that are not expired and cover it,
 * an exact name beats a wildcard, then the latest expiry wins.
 */
export function coveringCertificate<T extends CoverableCertificate>(certificates: readonly T[], host: string, now = new Date()): T | null {
  let best: { cert: T; exact: boolean } | null = null;
  for (const cert of certificates) {
    if (!cert.certificatePem || !cert.notAfter || cert.notAfter.getTime() <= now.getTime()) continue;
    const exact = cert.names.includes(host);
    if (!exact && !cert.names.some((n) => nameCovers(n, host))) continue;
    if (
      !best ||
      (exact && !best.exact) ||
      (exact === best.exact && (cert.notAfter?.getTime() ?? 0) > (best.cert.notAfter?.getTime() ?? 0))
    ) {
      best = { cert, exact };
    }
  }
  return best?.cert ?? null;
}

/** What people see: "expiring" is a valid certificate with under 21 days left. */
export function certificateStatus(
  row: { state: "pending" | "valid" | "failed"; notAfter: Date | null },
  now = new Date(),
): CertificateStatus {
  if (row.state !== "valid") return row.state;
  if (row.notAfter && row.notAfter.getTime() - now.getTime() < CERTIFICATE_EXPIRING_DAYS * DAY_MS) return "expiring";
  return "valid";
}

/** Whole days left (negative once expired). */
export function daysLeft(notAfter: Date | null, now = new Date()): number | null {
  return notAfter ? Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS) : null;
}

// ── PEM parsing and the checks of an uploaded certificate ─────────────────────────────────────

/** A certificate with its whole chain is a few KiB; these bounds keep a paste from being a denial of service. */
export const MAX_CERTIFICATE_PEM_BYTES = 64 * 1024;
export const MAX_KEY_PEM_BYTES = 16 * 1024;
/** More certificates than this in one chain is not a chain anyone serves. */
const MAX_CHAIN = 8;

export interface ParsedCertificate {
  /** The leaf's DNS names (subject alternative names), lower case, in order. */
  names: string[];
  /** Who issued the leaf, in words: the organisation, and the CA's name when it differs. */
  issuer: string;
  /** Hex, upper case, as openssl prints it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the leaf, colon-separated hex. */
  fingerprint: string;
  /** Leaf first, then the chain, one PEM block each, normalised. */
  chain: string[];
  /** The chain as one PEM text (what nginx's ssl_certificate reads). */
  pem: string;
}

export class CertificateParseError extends Error {
  override name = "CertificateParseError";
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The PEM blocks of a chain text, in order (anything between them is ignored, as openssl does). */
export function splitPemChain(text: string): string[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => m[0]);
}

/** One field of an X.509 distinguished name as node prints it ("C=US\nO=Org\nCN=Name"). */
function dnField(dn: string, key: string): string | null {
  for (const line of dn.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0 && line.slice(0, at) === key) return line.slice(at + 1).trim() || null;
  }
  return null;
}

function issuerInWords(cert: X509Certificate): string {
  const org = dnField(cert.issuer, "O");
  const cn = dnField(cert.issuer, "CN");
  if (org && cn && cn !== org) return `${org} (${cn})`;
  return org ?? cn ?? cert.issuer.replaceAll("\n", ", ");
}

/** The DNS names in subjectAltName ("DNS:a.example, DNS:*.example, IP Address:…"). */
function dnsNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? "";
  return san
    .split(/,\s*/)
    .filter((part) => part.startsWith("DNS:"))
    .map((part) => part.slice(4).trim().toLowerCase())
    .filter(Boolean);
}

function x509(pem: string, position: number): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new CertificateParseError(
      position === 0 ? "The certificate is not a readable PEM certificate." : `Certificate ${position + 1} in the chain is not readable.`,
    );
  }
}

/** Reads a leaf-first PEM chain. Throws CertificateParseError with a sentence for people. */
export function parseCertificate(pem: string): ParsedCertificate {
  const chain = splitPemChain(pem);
  if (chain.length === 0) throw new CertificateParseError("No PEM certificate (-----BEGIN CERTIFICATE-----) was found.");
  const leaf = x509(chain[0] as string, 0);
  for (const [i, block] of chain.slice(1).entries()) x509(block, i + 1);
  return {
    names: dnsNames(leaf),
    issuer: issuerInWords(leaf),
    serial: leaf.serialNumber.toUpperCase(),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint: leaf.fingerprint256,
    chain,
    pem: `${chain.join("\n")}\n`,
  };
}

export type CustomCertificateCheck =
  | { ok: true; parsed: ParsedCertificate; key: string }
  | { ok: false; field: "cert" | "key"; message: string };

let trustedRoots: X509Certificate[] | null = null;

/** The public roots the runtime trusts (Mozilla's list, built in): no file is read. */
function publicRoots(): X509Certificate[] {
  trustedRoots ??= rootCertificates.flatMap((pem) => {
    try {
      return [new X509Certificate(pem)];
    } catch {
      return [];
    }
  });
  return trustedRoots;
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Checks an upload before anything is stored: sizes, a readable chain (leaf first), a key that
 * matches the leaf, every certificate signed by the next, and the last one either self-signed (a
 * private CA given up to its root, or a self-signed certificate on its own) or signed by a public
 * root the runtime trusts (then the root itself may be left out, as usual). The leaf must cover
 * the domain and be valid now. Each failure names the field to fix.
 */
export function validateCustomCertificate(input: {
  pem: string;
  key: string;
  domain: string;
  now?: Date;
  /** Extra trusted roots (tests); the built-in public roots are always trusted. */
  roots?: readonly string[];
}): CustomCertificateCheck {
  const fail = (field: "cert" | "key", message: string): CustomCertificateCheck => ({ ok: false, field, message });
  const now = input.now ?? new Date();
  if (Buffer.byteLength(input.pem) > MAX_CERTIFICATE_PEM_BYTES)
    return fail("cert", `must be at most ${MAX_CERTIFICATE_PEM_BYTES / 1024} KiB of PEM`);
  if (Buffer.byteLength(input.key) > MAX_KEY_PEM_BYTES) return fail("key", `must be at most ${MAX_KEY_PEM_BYTES / 1024} KiB of PEM`);
  let parsed: ParsedCertificate;
  try {
    parsed = parseCertificate(input.pem);
  } catch (error) {
    return fail("cert", (error as Error).message);
  }
  if (parsed.chain.length > MAX_CHAIN) return fail("cert", `has ${parsed.chain.length} certificates; a chain has at most ${MAX_CHAIN}`);
  const certs = parsed.chain.map((block) => new X509Certificate(block));
  const leaf = certs[0] as X509Certificate;

  if (!/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(input.key)) {
    return fail(
      "key",
      /ENCRYPTED PRIVATE KEY/.test(input.key)
        ? "is encrypted with a passphrase; give the unencrypted key (openssl pkey -in key.pem -out plain.pem)"
        : "is not a PEM private key (-----BEGIN PRIVATE KEY-----)",
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: input.key, format: "pem" });
  } catch {
    return fail("key", "is not a readable private key");
  }
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(key);
  } catch {
    matches = false;
  }
  if (!matches) return fail("key", "does not match the certificate (the first certificate in the PEM must be the one issued for this key)");

  for (const [i, cert] of certs.entries()) {
    const which = i === 0 ? "The certificate" : `Certificate ${i + 1} in the chain`;
    if (new Date(cert.validTo).getTime() <= now.getTime())
      return fail("cert", `${which} expired on ${new Date(cert.validTo).toISOString().slice(0, 10)}`);
    if (new Date(cert.validFrom).getTime() > now.getTime()) {
      return fail("cert", `${which} is not valid before ${new Date(cert.validFrom).toISOString()}`);
    }
  }
  if (!parsed.names.some((name) => nameCovers(name, input.domain))) {
    return fail(
      "cert",
      parsed.names.length
        ? `does not cover ${input.domain}: it names ${parsed.names.join(", ")}`
        : `does not cover ${input.domain}: it has no DNS names (subject alternative names)`,
    );
  }
  for (let i = 0; i + 1 < certs.length; i++) {
    if (!signedBy(certs[i] as X509Certificate, certs[i + 1] as X509Certificate)) {
      return fail("cert", `has a broken chain: certificate ${i + 1} is not signed by certificate ${i + 2} (leaf first, then each issuer)`);
    }
  }
  const last = certs[certs.length - 1] as X509Certificate;
  const roots = [...publicRoots(), ...(input.roots ?? []).map((pem) => new X509Certificate(pem))];
  if (!signedBy(last, last) && !roots.some((root) => signedBy(last, root))) {
    return fail(
      "cert",
      `has an incomplete chain: nothing here or among the trusted public roots issued ${certs.length === 1 ? "it" : `certificate ${certs.length}`} (issuer: ${last.issuer.replaceAll("\n", ", ")}); add the intermediate certificates (and a private CA's root) after the leaf`,
    );
  }
  return { ok: true, parsed, key: `${input.key.trim()}\n` };
}
