/**
 * Pure decisions about a domain's DNS: whether what the resolver answered points at this server,
 * the records to create when it does not, and which of the server's addresses count as public.
 */
import type { DnsRecord, DomainDnsCheck } from "../contract/api.ts";

/** What a resolver answered for a name; `error` is set when it could not answer (not "no such record"). */
export interface DnsAnswers {
  name: string;
  /** The alias chain, in order: name → target → … (empty when the name has no CNAME). */
  cnames: Array<{ name: string; target: string }>;
  a: string[];
  aaaa: string[];
  /** The TXT values at `_switchyard.<name>`. */
  ownershipTxt: string[];
  error: string | null;
}

/** The name of the optional ownership record. */
export const ownershipName = (name: string) => `_switchyard.${name}`;
export const ownershipValue = (token: string) => `switchyard-verify=${token}`;

/**
 * An address in one spelling, so that `2001:DB8:0::1` and `2001:db8::1` compare equal; null when
 * it is not an IP address.
 */
export function normalizeAddress(address: string): string | null {
  const text = address.trim();
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    return text.split(".").every((part) => Number(part) <= 255 && String(Number(part)) === part) ? text : null;
  }
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  try {
    const host = new URL(`http://[${text}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return null;
  }
}

export const isIpv6 = (address: string) => address.includes(":");

function ipv4Number(address: string): number {
  return address.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

const IPV4_PRIVATE: Array<[string, number]> = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
];

/**
 * Whether an address can be reached from the internet, as far as its form tells: not loopback,
 * link-local, private (RFC 1918, unique-local IPv6) or carrier-grade NAT.
 */
export function isPublicAddress(address: string): boolean {
  const ip = normalizeAddress(address);
  if (!ip) return false;
  if (!isIpv6(ip)) {
    const n = ipv4Number(ip);
    return !IPV4_PRIVATE.some(([base, bits]) => n >>> (32 - bits) === ipv4Number(base) >>> (32 - bits));
  }
  if (ip === "::" || ip === "::1") return false;
  if (ip.startsWith("::ffff:")) return false; // IPv4-mapped: the IPv4 address is what is listed
  const first = Number.parseInt(ip.split(":")[0] || "0", 16);
  if ((first & 0xffc0) === 0xfe80) return false; // fe80::/10 link-local
  if ((first & 0xfe00) === 0xfc00) return false; // fc00::/7 unique local
  return true;
}

/** The records that make `name` point at these addresses. */
export function expectedRecords(name: string, addresses: readonly string[]): DnsRecord[] {
  return addresses.map((value) => ({ type: isIpv6(value) ? "AAAA" : "A", name, value }));
}

const recordText = (r: DnsRecord) => `${r.type} ${r.name} → ${r.value}`;
const listText = (items: readonly string[]) =>
  items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;

/**
 * Compares the answers with this server's addresses. It is ok when the name has at least one A or
 * AAAA answer and every one of them is this server's: an address elsewhere would send part of the
 * traffic (and the certificate authority's check) to another machine.
 */
export function checkDnsAnswers(answers: DnsAnswers, ours: readonly string[], verifyToken: string, now: Date = new Date()): DomainDnsCheck {
  const { name } = answers;
  const mine = [...new Set(ours.map(normalizeAddress).filter((a): a is string => a !== null))];
  const target = answers.cnames.at(-1)?.target ?? name;
  const records: DnsRecord[] = [
    ...answers.cnames.map((c): DnsRecord => ({ type: "CNAME", name: c.name, value: c.target })),
    ...answers.a.map((value): DnsRecord => ({ type: "A", name: target, value })),
    ...answers.aaaa.map((value): DnsRecord => ({ type: "AAAA", name: target, value })),
  ];
  const expected = expectedRecords(name, mine);
  const ownershipRecord: DnsRecord = { type: "TXT", name: ownershipName(name), value: ownershipValue(verifyToken) };
  const ownership = { record: ownershipRecord, verified: answers.ownershipTxt.includes(ownershipRecord.value) };
  const result = (problem: string | null): DomainDnsCheck => ({
    ok: problem === null,
    records,
    expected,
    ownership,
    problem,
    checkedAt: now.toISOString(),
  });

  if (answers.error) return result(`The DNS lookup of ${name} failed (${answers.error}); check again in a moment.`);
  if (mine.length === 0) {
    return result(
      `This server's public address is not known (none was found on its network interfaces): set it under Settings → Network, then check again.`,
    );
  }
  const create = `create ${listText(expected.map(recordText))}`;
  const apex = name.startsWith("www.") ? name.slice(4) : null;
  const alias = apex ? ` (or a CNAME ${name} → ${apex}, once ${apex} points here)` : "";
  const addresses = [...answers.a, ...answers.aaaa];
  if (addresses.length === 0) {
    const via =
      answers.cnames.length > 0 ? `${name} is an alias of ${target}, which has no A or AAAA record` : `No A or AAAA record for ${name}`;
    return result(`${via}: ${create}${alias}.`);
  }
  const foreign = addresses.filter((a) => !mine.includes(normalizeAddress(a) ?? a));
  if (foreign.length > 0) {
    const subject = answers.cnames.length > 0 ? `${name} (an alias of ${target})` : name;
    const which = foreign.length === 1 ? "which is not this server" : "which are not this server";
    return result(
      `${subject} points at ${listText(foreign)}, ${which} (${listText(mine)}): change the records to ${listText(expected.map(recordText))}. If ${foreign.length === 1 ? "that address is" : "those addresses are"} this server's, add ${foreign.length === 1 ? "it" : "them"} under Settings → Network.`,
    );
  }
  return result(null);
}
