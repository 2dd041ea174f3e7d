/**
 * Let's Encrypt's test CA for tests: `pebble` (the ACME server) and `pebble-challtestsrv` (a DNS
 * server whose records are set over HTTP), on ports the OS picks. Pebble resolves every name
 * through challtestsrv, so a test decides what a domain points at, and HTTP-01 is validated for
 * real against whatever listens on `httpPort` (the panel's nginx in the tests).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { waitFor } from "./wait.ts";

export function acmeAvailable(): boolean {
  return Bun.which("pebble") !== null && Bun.which("pebble-challtestsrv") !== null && Bun.which("certbot") !== null;
}

export interface DnsServer {
  /** "127.0.0.1:<port>", for SWITCHYARD_DNS_RESOLVER and pebble's -dnsserver. */
  address: string;
  /** A records of a name (replacing what it had). */
  setA(host: string, addresses: string[]): Promise<void>;
  clearA(host: string): Promise<void>;
  setCname(host: string, target: string): Promise<void>;
  clearCname(host: string): Promise<void>;
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  /** The management API's base URL (POST /set-txt {host, value}…), for hook commands. */
  managementUrl: string;
  stop(): Promise<void>;
}

const fqdn = (host: string) => (host.endsWith(".") ? host : `${host}.`);

/** challtestsrv as a DNS server only: no default answers, so a name resolves only once set. */
export async function startDnsServer(): Promise<DnsServer> {
  const dnsPort = freePort();
  const managementPort = freePort();
  const proc = Bun.spawn(
    [
      "pebble-challtestsrv",
      "-defaultIPv4",
      "",
      "-defaultIPv6",
      "",
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      `127.0.0.1:${managementPort}`,
    ],
    { stdout: "ignore", stderr: "ignore" },
  );
  const managementUrl = `http://127.0.0.1:${managementPort}`;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${managementUrl}${path}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`challtestsrv ${path} answered ${res.status}: ${await res.text()}`);
  };
  await waitFor(() => post("/clear-a", { host: "ready.invalid." }).then(() => true), { what: "challtestsrv to listen", timeoutMs: 15_000 });
  return {
    address: `127.0.0.1:${dnsPort}`,
    managementUrl,
    async setA(host, addresses) {
      await post("/clear-a", { host: fqdn(host) });
      if (addresses.length) await post("/add-a", { host: fqdn(host), addresses });
    },
    clearA: (host) => post("/clear-a", { host: fqdn(host) }),
    setCname: (host, target) => post("/set-cname", { host: fqdn(host), target: fqdn(target) }),
    clearCname: (host) => post("/clear-cname", { host: fqdn(host) }),
    setTxt: (host, value) => post("/set-txt", { host: fqdn(host), value }),
    clearTxt: (host) => post("/clear-txt", { host: fqdn(host) }),
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

export interface TestCa {
  /** The ACME directory, for SWITCHYARD_ACME_SERVER. */
  directory: string;
  /** Pebble's own listener certificate, for SWITCHYARD_ACME_CA_BUNDLE (certbot's REQUESTS_CA_BUNDLE). */
  listenerCa: string;
  /** The root that signs issued certificates (it changes on every start), as PEM. */
  rootPem(): Promise<string>;
  /** That root written to a file, for `curl --cacert` and fetch's `tls.ca`. */
  rootFile(): Promise<string>;
  dns: DnsServer;
  stop(): Promise<void>;
}

/**
 * Pebble validating HTTP-01 on `httpPort` (where nginx serves /.well-known/acme-challenge/) of
 * whatever challtestsrv resolves the name to, and DNS-01 through challtestsrv's TXT records.
 */
export async function startTestCa(o: { httpPort: number; dns?: DnsServer }): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), "sy-pebble-"));
  const dns = o.dns ?? (await startDnsServer());
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const made = Bun.spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=pebble",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdout: "ignore", stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
  const port = freePort();
  const managementPort = freePort();
  writeFileSync(
    join(dir, "pebble.json"),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: cert,
        privateKey: key,
        httpPort: o.httpPort,
        tlsPort: freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );
  const proc = Bun.spawn(["pebble", "-config", join(dir, "pebble.json"), "-dnsserver", dns.address], {
    env: { ...process.env, PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_VA_NOSLEEP: "1", PEBBLE_AUTHZREUSE: "0" },
    stdout: "ignore",
    stderr: "ignore",
  });
  const caText = await Bun.file(cert).text();
  const management = `https://127.0.0.1:${managementPort}`;
  const rootPem = async () => {
    const res = await fetch(`${management}/roots/0`, { tls: { ca: caText } });
    if (!res.ok) throw new Error(`pebble /roots/0 answered ${res.status}`);
    return res.text();
  };
  await waitFor(() => rootPem().then(() => true), { what: "pebble to listen", timeoutMs: 20_000 });
  const rootPath = join(dir, "root.pem");
  return {
    directory: `https://127.0.0.1:${port}/dir`,
    listenerCa: cert,
    rootPem,
    async rootFile() {
      writeFileSync(rootPath, await rootPem());
      return rootPath;
    },
    dns,
    async stop() {
      proc.kill();
      await proc.exited;
      if (!o.dns) await dns.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
