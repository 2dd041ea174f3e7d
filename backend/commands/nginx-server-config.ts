#!/usr/bin/env bun
/**
 * Prints the server installer's /etc/nginx/conf.d/switchyard.conf. It imports nothing but the
 * pure builder, so install.sh runs it as root with Bun alone: no dependency of the panel's,
 * and none of the files the panel may write, is run with root's rights.
 *
 *   bun backend/commands/nginx-server-config.ts [--domain D [--tls]] [--socket PATH] [--standby-socket PATH]
 */
import { buildServerInclude, NginxConfigError } from "./nginx.ts";

export const PANEL_SOCKET = "/var/lib/switchyard/sock/panel.sock";
export const STANDBY_SOCKET = "/var/lib/switchyard/sock/panel-standby.sock";

export function serverConfig(args: string[]): string {
  const option = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? (args[i + 1] ?? null) : null;
  };
  const domain = option("--domain");
  if (args.includes("--tls") && !domain)
    throw new NginxConfigError("--tls needs --domain (the certificate is Let's Encrypt's for that name)");
  return buildServerInclude({
    panelSocket: option("--socket") ?? PANEL_SOCKET,
    standbySocket: option("--standby-socket") ?? STANDBY_SOCKET,
    confDir: "/etc/nginx/conf.d/switchyard",
    domain,
    acmeWebroot: "/var/lib/switchyard/acme",
    routesDir: "/var/lib/switchyard/routes",
    tls:
      domain && args.includes("--tls")
        ? { certificate: `/etc/letsencrypt/live/${domain}/fullchain.pem`, key: `/etc/letsencrypt/live/${domain}/privkey.pem` }
        : null,
  });
}

if (import.meta.main) {
  try {
    process.stdout.write(serverConfig(process.argv.slice(2)));
  } catch (error) {
    console.error(`nginx-server-config: ${(error as Error).message}`);
    process.exit(2);
  }
}
