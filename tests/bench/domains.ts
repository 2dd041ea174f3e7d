/**
 * Domains and certificates under load: an app's domain takes keep-alive traffic through the
 * panel's private nginx while another domain is added, gets a certificate from pebble (HTTP-01,
 * validated for real against that nginx), is renewed, has https switched on and off and is
 * removed, and the traffic domain's own certificate is renewed. Then the same changes again, each
 * followed by one `nginx -s reload` (what a change cost when domains lived in nginx's files).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { findNginx } from "../../backend/adapters/proxy/common.ts";
import { privatePrefix } from "../../backend/adapters/proxy/private.ts";
import { nginxArgv } from "../../backend/commands/nginx.ts";
import { acmeAvailable, type DnsServer, startDnsServer, startTestCa, type TestCa } from "../helpers/acme.ts";
import { bunApp, createRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";
import { fmt, median } from "./stats.ts";
import { cpuSeconds, machineFacts } from "./traffic.ts";

const TITLE = "## Domains and certificates under load";
const LOAD_SECONDS = 30;
const CONNECTIONS = 16;
/** The domain the traffic goes to; `extra-<run>.example.com` is the one that changes. */
const TRAFFIC = "www.example.com";

interface Wrk {
  requests: number;
  non2xx: number;
  socketErrors: number;
  detail: string;
}

function startWrk(url: string, host: string, seconds: number): () => Promise<Wrk> {
  const proc = Bun.spawn(["wrk", "-t2", `-c${CONNECTIONS}`, `-d${seconds}s`, "--timeout", "5s", "-H", `Host: ${host}`, url], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return async () => {
    const [text, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`wrk failed (${code}): ${err}${text}`);
    const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const sockets = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
    return {
      requests: num(/(\d+) requests in/),
      non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
      socketErrors: sockets ? sockets.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
      detail: sockets ? sockets[0] : "none",
    };
  };
}

/**
 * One https client that opens a new TLS connection for every request (so every request is a
 * handshake that loads the certificate), checking the chain against the test CA's root.
 */
function tlsLoad(port: number, host: string, ca: string): () => Promise<{ requests: number; failures: string[]; serials: number }> {
  let running = true;
  let requests = 0;
  const failures: string[] = [];
  /** The certificates the handshakes got, by serial: a renewal shows as a second one. */
  const serials = new Set<string>();
  const once = () =>
    new Promise<void>((resolve) => {
      const req = https.get({ host: "127.0.0.1", port, servername: host, headers: { host }, ca, agent: false }, (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate?.()?.serialNumber;
        if (serial) serials.add(serial);
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 200) failures.push(`status ${res.statusCode}`);
          requests++;
          resolve();
        });
      });
      req.setTimeout(5_000, () => req.destroy(new Error("timed out")));
      req.on("error", (error) => {
        failures.push(error.message);
        requests++;
        resolve();
      });
    });
  const loop = (async () => {
    while (running) await once();
  })();
  return async () => {
    running = false;
    await loop;
    return { requests, failures, serials: serials.size };
  };
}

interface Panel {
  api: TestApi;
  cookie: string;
  dns: DnsServer;
  ca: TestCa;
}

async function call(p: Panel, method: string, path: string, body?: unknown): Promise<any> {
  const res = await p.api.request(method, `/api/v1${path}`, { cookie: p.cookie, body });
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function certificate(p: Panel, name: string, force = false): Promise<void> {
  const { job } = await call(p, "POST", `/apps/web/domains/${name}/certificate`, { mode: "http-01", ...(force ? { force } : {}) });
  const done = await p.api.services.orchestrator.waitFor(job.id);
  if (done.status !== "succeeded") throw new Error(`the certificate for ${name} ${done.status}: ${done.error}`);
}

/** What nginx answers on http for a host (its status), on a new connection. */
async function httpStatus(proxyPort: number, host: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${proxyPort}/`, { headers: { host, connection: "close" }, redirect: "manual" });
  await res.text();
  return res.status;
}

/**
 * The changes of one run, each timed until nginx shows it; `after` runs after each (the reload of
 * the old way, or nothing).
 */
async function changes(p: Panel, run: string, after: () => Promise<void>): Promise<Array<[string, number]>> {
  const port = p.api.config.proxyPort;
  const extra = `extra-${run}.example.com`;
  const timed: Array<[string, number]> = [];
  const step = async (label: string, work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    timed.push([label, performance.now() - started]);
    await after();
    await Bun.sleep(1_000); // spreads the changes over the load
  };
  const answers = (host: string, status: number) =>
    waitFor(async () => (await httpStatus(port, host)) === status, {
      what: `${host} to answer ${status}`,
      timeoutMs: 30_000,
      intervalMs: 20,
    });
  await step("add a domain (until it answers)", async () => {
    await call(p, "POST", "/apps/web/domains", { name: extra, redirect: false });
    await answers(extra, 200);
  });
  await step("issue a certificate (DNS record set, HTTP-01 through nginx, pebble)", async () => {
    // Set only now: with DNS already pointing here, adding the domain starts its certificate by itself.
    await p.dns.setA(extra, ["127.0.0.1"]);
    await certificate(p, extra);
  });
  await step("renew it (forced)", () => certificate(p, extra, true));
  await step("switch https on (until http answers 301)", async () => {
    await call(p, "PATCH", `/apps/web/domains/${extra}`, { redirect: true });
    await answers(extra, 301);
  });
  await step("switch https off (until http answers 200)", async () => {
    await call(p, "PATCH", `/apps/web/domains/${extra}`, { redirect: false });
    await answers(extra, 200);
  });
  await step("renew the loaded domain's certificate (forced)", () => certificate(p, TRAFFIC, true));
  await step("remove the domain (until it no longer reaches the app)", async () => {
    await call(p, "DELETE", `/apps/web/domains/${extra}`);
    await waitFor(async () => (await httpStatus(port, extra)) !== 200, { what: `${extra} to be gone`, timeoutMs: 30_000, intervalMs: 20 });
  });
  return timed;
}

export async function domainsBench(): Promise<string> {
  if (!acmeAvailable() || !Bun.which("wrk")) return `${TITLE}\n\nNot measured: pebble, pebble-challtestsrv, certbot or wrk is missing.`;
  const machine = await machineFacts();
  const proxyPort = freePort();
  const tlsPort = freePort();
  const dns = await startDnsServer();
  const ca = await startTestCa({ httpPort: proxyPort, dns });
  const api = await createTestApi({
    background: true,
    config: {
      SWITCHYARD_PROXY_PORT: String(proxyPort),
      SWITCHYARD_PROXY_TLS_PORT: String(tlsPort),
      SWITCHYARD_ACME_SERVER: ca.directory,
      SWITCHYARD_ACME_CA_BUNDLE: ca.listenerCa,
      SWITCHYARD_ACME_EMAIL: "ops@example.com",
      SWITCHYARD_DNS_RESOLVER: dns.address,
    },
  });
  const repo = await createRepo(bunApp("v1"));
  try {
    const p: Panel = { api, cookie: await api.setupOwner(), dns, ca };
    await call(p, "PUT", "/settings/network", { publicAddresses: ["127.0.0.1"] });
    await call(p, "POST", "/apps", { name: "web", repoUrl: repo.url, watchSeconds: 0, drainSeconds: 0 });
    const { job } = await call(p, "POST", "/apps/web/deploy", {});
    const deployed = await api.services.orchestrator.waitFor(job.id);
    if (deployed.status !== "succeeded") throw new Error(`the deploy failed: ${deployed.error}`);
    // The loaded domain: http stays on http (no redirect), and it has a certificate for https
    // (started by adding it, as DNS already points here; asking for it waits for that job).
    await dns.setA(TRAFFIC, ["127.0.0.1"]);
    await call(p, "POST", "/apps/web/domains", { name: TRAFFIC, redirect: false });
    await certificate(p, TRAFFIC);
    await waitFor(async () => (await httpStatus(proxyPort, TRAFFIC)) === 200, { what: `${TRAFFIC} to answer`, timeoutMs: 30_000 });
    const root = readFileSync(await ca.rootFile(), "utf8");

    const prefix = privatePrefix(api.config.dataDir);
    const nginx = findNginx();
    if (!nginx) throw new Error("nginx is not installed");
    const reload = async () => {
      const proc = Bun.spawn(nginxArgv(nginx, prefix, join(prefix, "nginx.conf"), "reload"), { stdout: "ignore", stderr: "pipe" });
      if ((await proc.exited) !== 0) throw new Error(`nginx -s reload failed: ${await new Response(proc.stderr).text()}`);
    };

    const rows: string[] = [];
    const byChange = new Map<string, number[]>();
    for (const [run, label, after] of [
      ["a", "routes and certificates as files, no reload (Switchyard)", async () => {}],
      ["b", "the same changes, each followed by one `nginx -s reload`", reload],
    ] as const) {
      const stopWrk = startWrk(`http://127.0.0.1:${proxyPort}/`, TRAFFIC, LOAD_SECONDS);
      const stopTls = tlsLoad(tlsPort, TRAFFIC, root);
      await Bun.sleep(1_000);
      const timed = await changes(p, run, after);
      const w = await stopWrk();
      const t = await stopTls();
      for (const [change, ms] of timed) byChange.set(change, [...(byChange.get(change) ?? []), ms]);
      rows.push(
        `| ${label} | ${timed.length} | ${w.requests} | ${w.non2xx} | ${w.socketErrors} (${w.detail}) | ${t.requests} | ${t.failures.length}${
          t.failures.length ? ` (${[...new Set(t.failures)].slice(0, 3).join("; ")})` : ""
        } | ${t.serials} |`,
      );
      console.log(rows.at(-1));
    }

    return `${TITLE}

Measured by \`bun tests/bench/run.ts domains\` on ${new Date().toISOString().slice(0, 10)}, ${machine}.
Load: \`wrk -t2 -c${CONNECTIONS}\` with keep-alive for ${LOAD_SECONDS} s to an app's domain on http through the panel's
nginx (private, local mode), and at the same time one https client that opens a new TLS connection
for every request to the same domain (every request a handshake, which loads the certificate from
its files), while 7 changes happen about a second apart: another domain is added, gets a
certificate from pebble (Let's Encrypt's test CA; HTTP-01 validated for real through the same
nginx, DNS from pebble-challtestsrv), is renewed, has https switched on and off, and is removed,
and the loaded domain's own certificate is renewed (the https client then gets the new one: two
certificates seen in each run). The second run makes the same changes and sends nginx one
\`nginx -s reload\` after each, as a change cost when domains were in nginx's files.

| run | changes | requests (keep-alive, http) | non-2xx | socket errors | https requests (new TLS connection each) | https failures | certificates the https client got |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

| change, until nginx shows it | median of the two runs |
| --- | --- |
${[...byChange].map(([change, ms]) => `| ${change} | ${fmt(median(ms))} |`).join("\n")}

${await handshakeCost(nginx)}`;
  } finally {
    await api.close();
    repo.cleanup();
    await ca.stop();
    await dns.stop();
  }
}

const HANDSHAKE_SECONDS = 10;

/**
 * What loading the certificate at every handshake costs: one nginx (one worker), two TLS servers
 * answering 200 from nginx itself with the same ECDSA P-256 certificate (certbot's default key),
 * one naming the files in its configuration (loaded once), the other through `$ssl_server_name`
 * as the router does (read and parsed at each handshake). wrk with `Connection: close` makes
 * every request a full handshake (it does not resume sessions); the worker's CPU time is read
 * from /proc. Each server is measured twice, alternately.
 */
export async function handshakeCost(nginx: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "sy-bench-tls-"));
  const certDir = join(dir, "certs", "localhost");
  mkdirSync(certDir, { recursive: true });
  for (const temp of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, "tmp", temp), { recursive: true });
  const made = Bun.spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
    ].concat(["-keyout", join(certDir, "privkey.pem"), "-out", join(certDir, "fullchain.pem")]),
    { stdout: "ignore", stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
  // Handshakes load the files in the worker, which drops to nobody when nginx starts as root.
  for (const path of [dir, join(dir, "certs"), certDir]) chmodSync(path, 0o755);
  chmodSync(join(certDir, "privkey.pem"), 0o644);
  const ports = { static: freePort(), variable: freePort() };
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  access_log off;
  map $ssl_server_name $sy_sni { "~^[a-z0-9][a-z0-9.-]{0,252}$" $ssl_server_name; default "-"; }
  server {
    listen 127.0.0.1:${ports.static} ssl;
    ssl_certificate ${certDir}/fullchain.pem;
    ssl_certificate_key ${certDir}/privkey.pem;
    location / { return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:${ports.variable} ssl;
    ssl_certificate ${dir}/certs/$sy_sni/fullchain.pem;
    ssl_certificate_key ${dir}/certs/$sy_sni/privkey.pem;
    location / { return 200 "ok\n"; }
  }
}
`,
  );
  const start = Bun.spawnSync(nginxArgv(nginx, dir, conf, "start"), { stdout: "ignore", stderr: "pipe" });
  if (start.exitCode !== 0) throw new Error(`nginx did not start: ${start.stderr.toString()}`);
  try {
    const master = await waitFor(
      () => {
        try {
          return Number(readFileSync(join(dir, "nginx.pid"), "utf8")) || null;
        } catch {
          return null;
        }
      },
      { what: "the test nginx", timeoutMs: 10_000 },
    );
    const worker = await waitFor(
      () =>
        Number(
          Bun.spawnSync(["pgrep", "-P", String(master)])
            .stdout.toString()
            .trim()
            .split("\n")[0],
        ) || null,
      { what: "its worker", timeoutMs: 10_000 },
    );
    const results: Record<keyof typeof ports, Array<{ rate: number; cpuMs: number }>> = { static: [], variable: [] };
    for (let round = 0; round < 2; round++) {
      for (const which of ["static", "variable"] as const) {
        const cpu0 = await cpuSeconds(worker);
        const proc = Bun.spawn(
          ["wrk", "-t1", "-c8", `-d${HANDSHAKE_SECONDS}s`, "-H", "Connection: close", `https://localhost:${ports[which]}/`],
          {
            stdout: "pipe",
            stderr: "pipe",
          },
        );
        const text = await new Response(proc.stdout).text();
        await proc.exited;
        const cpu1 = await cpuSeconds(worker);
        const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
        if (requests === 0) throw new Error(`no handshake succeeded on the ${which} server: ${text}`);
        results[which].push({ rate: requests / HANDSHAKE_SECONDS, cpuMs: ((cpu1 - cpu0) * 1000) / requests });
      }
    }
    const row = (label: string, r: Array<{ rate: number; cpuMs: number }>) =>
      `| ${label} | ${Math.round(median(r.map((x) => x.rate)))} | ${median(r.map((x) => x.cpuMs)).toFixed(3)} ms |`;
    return `TLS handshake cost of loading the certificate at each handshake: one nginx worker, \`wrk -t1 -c8\`
with \`Connection: close\` for ${HANDSHAKE_SECONDS} s per run (every request a full TLS handshake, ECDSA P-256), the
median of two runs each; CPU is the nginx worker's (user + system) per handshake.

| certificate | handshakes/s | nginx CPU per handshake |
| --- | --- | --- |
${row("named in the configuration (loaded once at start)", results.static)}
${row("through `$ssl_server_name` (read from its files at each handshake, as the router does)", results.variable)}`;
  } finally {
    Bun.spawnSync(nginxArgv(nginx, dir, conf, "quit"));
    // nginx removes its pid file as it exits.
    await waitFor(() => !existsSync(join(dir, "nginx.pid")), { what: "the test nginx to quit", timeoutMs: 10_000 }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
