/**
 * Asking DNS about a domain, and finding this server's own addresses. The comparison of the two
 * is pure (domain/dns-check.ts).
 */
import { Resolver } from "node:dns/promises";
import { networkInterfaces } from "node:os";
import { type DnsAnswers, isPublicAddress, normalizeAddress, ownershipName } from "../domain/dns-check.ts";

/** Long enough for a distant authoritative server, short enough that a check answers while someone waits. */
const TIMEOUT_MS = 2500;
/** More hops than any sane alias chain; a loop stops here. */
const MAX_CNAME_HOPS = 8;

/** "No such name" or "no record of that type": an answer, not a failure. */
const EMPTY = new Set(["ENOTFOUND", "ENODATA", "NXDOMAIN", "ENONAME"]);

export function createResolver(servers: readonly string[]): Resolver {
  const resolver = new Resolver({ timeout: TIMEOUT_MS, tries: 2 });
  if (servers.length > 0) resolver.setServers([...servers]);
  return resolver;
}

class LookupFailed extends Error {}

async function query<T>(lookup: () => Promise<T[]>): Promise<T[]> {
  try {
    return await lookup();
  } catch (error) {
    const code = (error as { code?: string }).code ?? "";
    if (EMPTY.has(code)) return [];
    throw new LookupFailed(code === "ETIMEOUT" ? "no answer from the DNS server in time" : code || (error as Error).message);
  }
}

/** A, AAAA and the alias chain of a name, and the TXT values of its ownership record. */
export async function lookupDomain(servers: readonly string[], name: string): Promise<DnsAnswers> {
  const resolver = createResolver(servers);
  const answers: DnsAnswers = { name, cnames: [], a: [], aaaa: [], ownershipTxt: [], error: null };
  try {
    const seen = new Set([name]);
    for (let at = name, hop = 0; hop < MAX_CNAME_HOPS; hop++) {
      const [target] = await query(() => resolver.resolveCname(at));
      if (!target) break;
      const next = target.replace(/\.$/, "").toLowerCase();
      answers.cnames.push({ name: at, target: next });
      if (seen.has(next)) break;
      seen.add(next);
      at = next;
    }
    // The resolver follows the aliases itself; the addresses are those of the chain's end.
    const [a, aaaa, txt] = await Promise.all([
      query(() => resolver.resolve4(name)),
      query(() => resolver.resolve6(name)),
      query(() => resolver.resolveTxt(ownershipName(name))),
    ]);
    answers.a = a;
    answers.aaaa = aaaa.map((v) => normalizeAddress(v) ?? v);
    answers.ownershipTxt = txt.map((chunks) => chunks.join(""));
  } catch (error) {
    if (!(error instanceof LookupFailed)) throw error;
    answers.error = error.message;
  }
  return answers;
}

/**
 * This server's public addresses, as found on its interfaces: loopback, link-local, private and
 * carrier-grade NAT addresses are left out (behind NAT the public one is not on any interface, and
 * must be set in settings).
 */
export function detectPublicAddresses(interfaces = networkInterfaces()): string[] {
  const found = new Set<string>();
  for (const list of Object.values(interfaces)) {
    for (const entry of list ?? []) {
      if (entry.internal || !isPublicAddress(entry.address)) continue;
      const address = normalizeAddress(entry.address);
      if (address) found.add(address);
    }
  }
  return [...found];
}
