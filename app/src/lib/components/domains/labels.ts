import type { CanonicalHost, CertificateMode, CertificateStatus, DnsProviderKind } from "#lib/api/types.ts";
import type { BadgeTone } from "../Badge.svelte";

export const CERTIFICATE_STATUS: Record<CertificateStatus, { label: string; tone: BadgeTone; pulse?: boolean }> = {
  pending: { label: "Pending", tone: "accent", pulse: true },
  valid: { label: "Valid", tone: "success" },
  expiring: { label: "Expiring", tone: "warning" },
  failed: { label: "Failed", tone: "danger" },
};

export const CERTIFICATE_MODE: Record<CertificateMode, string> = {
  "http-01": "HTTP-01",
  "dns-01": "DNS-01",
  custom: "Uploaded",
};

export const CANONICAL: Record<CanonicalHost, string> = {
  none: "None: the name answers as itself",
  www: "Redirect to www",
  apex: "Redirect www to the apex",
};

export const PROVIDER_KIND: Record<DnsProviderKind, string> = {
  rfc2136: "RFC 2136 (BIND, PowerDNS, Knot…)",
  cloudflare: "Cloudflare",
  hook: "Hook commands",
};

const DAY = 86_400_000;

/** Whole days until `iso` (negative once past), or null. */
export function daysUntil(iso: string | null | undefined, now = Date.now()): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : Math.floor((t - now) / DAY);
}

/** "89 days left", "1 day left", "expires today", "expired 3 days ago". */
export function daysLeftText(days: number | null): string {
  if (days === null) return "";
  if (days > 1) return `${days} days left`;
  if (days === 1) return "1 day left";
  if (days === 0) return "expires today";
  return days === -1 ? "expired yesterday" : `expired ${-days} days ago`;
}
