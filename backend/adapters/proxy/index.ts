import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Privilege } from "../privilege.ts";
import type { AppProxy } from "./common.ts";
import { createPrivateProxy } from "./private.ts";
import { createSystemProxy } from "./system.ts";

export { type AppProxy, findNginx, type HostRoute, NginxError, type ProxyPaths, proxyPaths } from "./common.ts";
export { createPrivateProxy, privateNginxPid, stopPrivateNginx } from "./private.ts";
export { createSystemProxy } from "./system.ts";

/** The proxy of the configured mode: the panel's private nginx locally, the system's on a server. */
export function createProxy(config: Config, privilege: Privilege, log: Logger): AppProxy {
  return config.mode === "server"
    ? createSystemProxy({ dataDir: config.dataDir, port: config.proxyPort, tlsPort: config.proxyTlsPort, log, privilege })
    : createPrivateProxy({ dataDir: config.dataDir, port: config.proxyPort, tlsPort: config.proxyTlsPort, log, privilege });
}
