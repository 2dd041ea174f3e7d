import type { Config } from "../../config.ts";
import type { Context } from "../context.ts";
import { HttpError } from "../errors.ts";

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The host name a Host header names (lower case, no port, no trailing dot), or null when it is
 * not a plain host[:port].
 */
export function hostName(header: string): string | null {
  const url = URL.parse(`http://${header}`);
  if (!url || url.username || url.password || url.pathname !== "/" || url.search || url.hash) return null;
  return url.hostname.replace(/\.$/, "");
}

/**
 * DNS rebinding makes a browser send a page's own host name to the panel, so the panel answers
 * only to names it knows: the public URL's, loopback names (which browsers resolve themselves),
 * SWITCHYARD_ALLOWED_HOSTS, and IP addresses (a page cannot be served from an address it does
 * not own, so an address cannot be rebound).
 */
export function hostAllowed(name: string, config: Config): boolean {
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (IPV4.test(name) || name.startsWith("[")) return true;
  if (name === config.publicUrl.hostname.replace(/\.$/, "")) return true;
  return config.allowedHosts.includes(name);
}

/** Refuses (421) a request addressed to a host name the panel does not answer to. */
export function checkHost(c: Context): void {
  const header = c.req.headers.get("host") ?? c.url.host;
  const name = hostName(header);
  if (name !== null && hostAllowed(name, c.services.config)) return;
  const { publicUrl, allowedHosts } = c.services.config;
  const known = [...new Set([publicUrl.hostname, ...allowedHosts, "localhost"])].join(", ");
  throw new HttpError(
    421,
    "unknown_host",
    `This panel does not answer to the host ${JSON.stringify(header.slice(0, 100))}; it answers to ${known} and IP addresses. To reach it under this name, add the name to SWITCHYARD_ALLOWED_HOSTS (or make it the host of SWITCHYARD_PUBLIC_URL) and restart the panel.`,
  );
}
