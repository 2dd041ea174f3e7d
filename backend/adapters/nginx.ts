/** Kept for the imports of `findNginx` and `AppProxy` by this path; the proxies live in ./proxy/. */
export { type AppProxy, findNginx, NginxError, type ProxyPaths, proxyPaths } from "./proxy/index.ts";
