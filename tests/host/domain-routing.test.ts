/**
 * Custom domains through the router of a real private nginx: routes and certificates are files
 * nginx reads on every request and TLS handshake, so adding, changing and removing them needs no
 * reload, and traffic already flowing loses nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPrivateProxy, findNginx, privateNginxPid } from "../../backend/adapters/proxy/index.ts";
import { createLogger } from "../../backend/log.ts";
import { parseWrk } from "../helpers/load.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const nginx = findNginx();
const privilege = { root: process.getuid?.() === 0 };

function run(argv: string[], stdin?: string): { code: number; stdout: string; stderr: string } {
  const proc = Bun.spawnSync(argv, { stdin: stdin === undefined ? "ignore" : Buffer.from(stdin), stdout: "pipe", stderr: "pipe" });
  return { code: proc.exitCode ?? -1, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

/** Without blocking: the apps answering these requests run in this process. */
async function runAsync(argv: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(argv, { stdin: stdin === undefined ? "ignore" : Buffer.from(stdin), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** A test CA, and leaf certificates it signs (each with a new key and serial). */
function testCa(dir: string) {
  mkdirSync(dir, { recursive: true });
  const ca = { key: join(dir, "ca.key"), cert: join(dir, "ca.pem") };
  const made = run([
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
    "/CN=Switchyard routing test CA",
    "-keyout",
    ca.key,
    "-out",
    ca.cert,
  ]);
  if (made.code !== 0) throw new Error(made.stderr);
  let n = 0;
  return {
    file: ca.cert,
    leaf(names: string[]): { pem: string; key: string; serial: string } {
      n++;
      const key = join(dir, `leaf${n}.key`);
      const csr = join(dir, `leaf${n}.csr`);
      const cert = join(dir, `leaf${n}.pem`);
      const ext = join(dir, `leaf${n}.ext`);
      writeFileSync(ext, `subjectAltName=${names.map((x) => `DNS:${x}`).join(",")}\nextendedKeyUsage=serverAuth\n`);
      for (const argv of [
        [
          "openssl",
          "req",
          "-new",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-subj",
          `/CN=${names[0]}`,
          "-keyout",
          key,
          "-out",
          csr,
        ],
        [
          "openssl",
          "x509",
          "-req",
          "-in",
          csr,
          "-CA",
          ca.cert,
          "-CAkey",
          ca.key,
          "-CAcreateserial",
          "-days",
          "1",
          "-extfile",
          ext,
          "-out",
          cert,
        ],
      ]) {
        const r = run(argv);
        if (r.code !== 0) throw new Error(r.stderr);
      }
      const serial = run(["openssl", "x509", "-noout", "-serial", "-in", cert])
        .stdout.trim()
        .replace(/^serial=/, "");
      return { pem: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8"), serial };
    },
  };
}

describe.skipIf(!nginx)("custom domains through the router (no reload)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-routes-"));
  const port = freePort();
  const tlsPort = freePort();
  const proxy = createPrivateProxy({ dataDir, port, tlsPort, log: createLogger("silent"), privilege });
  const ca = testCa(join(dataDir, "ca"));
  const servers: Array<ReturnType<typeof Bun.serve>> = [];
  /** nginx's worker processes: a reload replaces them (the master stays). */
  let workers = "";
  const workerPids = () => {
    const master = privateNginxPid(dataDir);
    return master ? readFileSync(`/proc/${master}/task/${master}/children`, "utf8").trim() : "";
  };

  beforeAll(async () => {
    await proxy.start();
    workers = workerPids();
    for (const app of ["shop", "blog"]) {
      servers.push(
        Bun.serve({
          unix: proxy.paths.slotSocket(app, "blue"),
          fetch: (req) => new Response(`${app} ${new URL(req.url).pathname} ${req.headers.get("x-forwarded-proto")}`),
        }),
      );
      proxy.switchTo(app, "blue");
    }
  });
  afterAll(async () => {
    for (const s of servers) s.stop(true);
    await proxy.stop();
    if (!process.env.KEEP) rmSync(dataDir, { recursive: true, force: true });
  });

  const route = (app: string, more: Partial<Parameters<typeof proxy.setRoute>[1]> = {}) => ({
    app,
    certificate: null,
    httpsRedirect: false,
    hsts: false,
    canonical: "none" as const,
    ...more,
  });

  const get = async (host: string, path = "/") => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { host }, redirect: "manual" });
    return {
      status: res.status,
      text: await res.text(),
      location: res.headers.get("location"),
      hsts: res.headers.get("strict-transport-security"),
    };
  };

  /** https through curl, which verifies the chain against the test CA and the name against the SNI. */
  const secure = async (host: string, path = "/") => {
    const r = await runAsync([
      "curl",
      "-sS",
      "--max-time",
      "10",
      "--cacert",
      ca.file,
      "--resolve",
      `${host}:${tlsPort}:127.0.0.1`,
      "-D",
      "-",
      `https://${host}:${tlsPort}${path}`,
    ]);
    const [head = "", body = ""] = r.stdout.split("\r\n\r\n");
    return {
      ok: r.code === 0,
      error: r.stderr,
      status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1] ?? 0),
      hsts: /^strict-transport-security: (.*)$/im.exec(head)?.[1]?.trim() ?? null,
      location: /^location: (.*)$/im.exec(head)?.[1]?.trim() ?? null,
      body,
    };
  };

  /** The serial of the certificate nginx presents for a name on a new handshake. */
  const servedSerial = async (host: string) => {
    const hello = await runAsync(["openssl", "s_client", "-connect", `127.0.0.1:${tlsPort}`, "-servername", host], "");
    return run(["openssl", "x509", "-noout", "-serial"], hello.stdout)
      .stdout.trim()
      .replace(/^serial=/, "");
  };

  test("a route answers with its app, an unknown host gets the 404, and nginx was never reloaded", async () => {
    expect(workers).toMatch(/^\d+/);
    proxy.setRoute("shop.test", route("shop"));
    expect(await get("shop.test", "/a")).toMatchObject({ status: 200, text: "shop /a http" });
    expect(await get("nobody.test")).toMatchObject({ status: 404, text: "No Switchyard app answers to this host name.\n" });
    expect(proxy.routedHosts()).toEqual(["shop.test"]);
    expect(proxy.readRoute("shop.test")).toEqual(route("shop"));
    // Moving a name to another app is one link replaced.
    proxy.setRoute("shop.test", route("blog"));
    expect((await get("shop.test", "/b")).text).toBe("blog /b http");
    proxy.setRoute("shop.test", route("shop"));
    expect((await get("shop.test", "/c")).text).toBe("shop /c http");
    expect(workerPids()).toBe(workers);
  });

  test("a routed request is in the app's JSON access log", async () => {
    await get("shop.test", "/logged-by-route");
    const logged = () =>
      readFileSync(proxy.paths.accessLog("shop"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
        .find((l) => l.uri === "/logged-by-route");
    const entry = await waitFor(logged, { timeoutMs: 10_000, what: "the request's line in shop's access log" });
    expect(entry).toMatchObject({ host: "shop.test", status: 200, method: "GET" });
  });

  test("removing a route makes the name unknown from the next request", async () => {
    proxy.setRoute("gone.test", route("shop"));
    expect((await get("gone.test")).status).toBe(200);
    proxy.removeRoute("gone.test");
    expect((await get("gone.test")).status).toBe(404);
    expect(proxy.readRoute("gone.test")).toBeNull();
    expect(proxy.routedHosts()).not.toContain("gone.test");
  });

  test("a host with a certificate answers on https with a verified chain; its renewal serves from the next handshake", async () => {
    const first = ca.leaf(["secure.test"]);
    expect(proxy.installCertificate("secure.test", first.pem, first.key)).toBe(true);
    expect(proxy.installCertificate("secure.test", first.pem, first.key)).toBe(false);
    proxy.setRoute("secure.test", route("shop", { certificate: "secure.test" }));
    const answer = await secure("secure.test", "/s");
    expect(answer.error).toBe("");
    expect(answer).toMatchObject({ ok: true, status: 200, body: "shop /s https", hsts: null });
    expect(await servedSerial("secure.test")).toBe(first.serial);

    const renewed = ca.leaf(["secure.test"]);
    proxy.installCertificate("secure.test", renewed.pem, renewed.key);
    expect(await servedSerial("secure.test")).toBe(renewed.serial);
    expect((await secure("secure.test")).status).toBe(200);
    expect(workerPids()).toBe(workers);

    // A name with no route (or no certificate) gets no certificate at all.
    expect((await secure("shop.test")).ok).toBe(false);
    expect((await secure("nobody.test")).ok).toBe(false);
    expect(proxy.installedCertificates()).toContain("secure.test");
    expect(proxy.publicUrl("shop", ["shop.test", "secure.test"])).toBe(`https://secure.test:${tlsPort}`);
    expect(proxy.publicUrl("shop", ["shop.test"])).toBe(`http://shop.test:${port}`);
    expect(proxy.publicUrl("shop", [])).toBe(`http://shop.localhost:${port}`);
  });

  test("a wildcard certificate serves a name under it; its files are kept under _.<parent>", async () => {
    const wild = ca.leaf(["*.wild.test", "wild.test"]);
    proxy.installCertificate("*.wild.test", wild.pem, wild.key);
    expect(readFileSync(join(dataDir, "tls", "_.wild.test", "fullchain.pem"), "utf8")).toBe(wild.pem);
    proxy.setRoute("app.wild.test", route("blog", { certificate: "*.wild.test" }));
    expect(proxy.readRoute("app.wild.test")?.certificate).toBe("*.wild.test");
    expect(await secure("app.wild.test", "/w")).toMatchObject({ ok: true, status: 200, body: "blog /w https" });
    expect(proxy.installedCertificates()).toContain("*.wild.test");
  });

  test("https redirect (only with a certificate), HSTS on https only, canonical hosts keep the scheme, ACME answers are never redirected", async () => {
    const cert = ca.leaf(["marks.test", "www.marks.test"]);
    proxy.installCertificate("marks.test", cert.pem, cert.key);
    mkdirSync(join(proxy.acmeWebroot, ".well-known", "acme-challenge"), { recursive: true });
    writeFileSync(join(proxy.acmeWebroot, ".well-known", "acme-challenge", "token-1"), "token-1.thumbprint");

    // Redirect asked for, but no certificate: nothing to redirect to.
    proxy.setRoute("marks.test", route("shop", { httpsRedirect: true, hsts: true }));
    expect(await get("marks.test", "/p?q=1")).toMatchObject({ status: 200, hsts: null });

    proxy.setRoute("marks.test", route("shop", { certificate: "marks.test", httpsRedirect: true, hsts: true }));
    expect(await get("marks.test", "/p?q=1")).toMatchObject({ status: 301, location: `https://marks.test:${tlsPort}/p?q=1`, hsts: null });
    expect(await get("marks.test", "/.well-known/acme-challenge/token-1")).toMatchObject({ status: 200, text: "token-1.thumbprint" });
    expect(await secure("marks.test", "/p")).toMatchObject({ status: 200, body: "shop /p https", hsts: "max-age=31536000" });

    // Redirect off: http answers, still without HSTS (browsers must not be told it over http).
    proxy.setRoute("marks.test", route("shop", { certificate: "marks.test", hsts: true }));
    expect(await get("marks.test", "/p")).toMatchObject({ status: 200, text: "shop /p http", hsts: null });
    proxy.setRoute("marks.test", route("shop", { certificate: "marks.test" }));
    expect((await secure("marks.test")).hsts).toBeNull();

    // www: the apex redirects to www; apex: www redirects to the apex. Same scheme, the proxy's port.
    proxy.setRoute("marks.test", route("shop", { certificate: "marks.test", canonical: "www" }));
    proxy.setRoute("www.marks.test", route("shop", { certificate: "marks.test" }));
    expect(await get("marks.test", "/x")).toMatchObject({ status: 301, location: `http://www.marks.test:${port}/x` });
    expect(await secure("marks.test", "/x")).toMatchObject({ status: 301, location: `https://www.marks.test:${tlsPort}/x` });
    expect((await get("www.marks.test", "/x")).status).toBe(200);
    proxy.setRoute("marks.test", route("shop", { certificate: "marks.test" }));
    proxy.setRoute("www.marks.test", route("shop", { certificate: "marks.test", canonical: "apex" }));
    expect(await get("www.marks.test", "/y")).toMatchObject({ status: 301, location: `http://marks.test:${port}/y` });
    expect(await secure("www.marks.test", "/y")).toMatchObject({ status: 301, location: `https://marks.test:${tlsPort}/y` });
    expect(await get("www.marks.test", "/.well-known/acme-challenge/token-1")).toMatchObject({ status: 200 });
    expect(proxy.readRoute("www.marks.test")).toEqual(route("shop", { certificate: "marks.test", canonical: "apex" }));

    // Dropping the certificate drops its markers with it.
    proxy.setRoute("marks.test", route("shop", { httpsRedirect: true, hsts: true }));
    expect(proxy.readRoute("marks.test")).toEqual(route("shop"));
    expect((await get("marks.test")).status).toBe(200);
  });

  test("names that could leave the routes dir, and wildcards, are refused", () => {
    for (const bad of ["*.wild.test", "../etc", "a/b.test", "", "UPPER.test", "a b.test", ".hidden.test"]) {
      expect(() => proxy.setRoute(bad, route("shop"))).toThrow();
    }
    expect(() => proxy.setRoute("ok.test", route("../etc"))).toThrow();
    expect(() => proxy.installCertificate("../x", "pem", "key")).toThrow();
    expect(proxy.routedHosts()).not.toContain("ok.test");
  });

  test("keep-alive traffic to a routed domain loses nothing while routes and certificates change", async () => {
    proxy.setRoute("steady.test", route("shop"));
    const steady = ca.leaf(["steady.test"]);
    proxy.installCertificate("steady.test", steady.pem, steady.key);
    proxy.setRoute("steady.test", route("shop", { certificate: "steady.test" }));
    expect((await get("steady.test")).status).toBe(200);

    // Made beforehand: openssl run synchronously would stall the apps, which answer from this process.
    const hosts = Array.from({ length: 12 }, (_, i) => `extra${i}.test`);
    const leaves = hosts.map((h) => [ca.leaf([h]), ca.leaf([h])] as const);
    const renewals = hosts.map(() => ca.leaf(["steady.test"]));

    const wrk = Bun.spawn(["wrk", "-t1", "-c8", "-d6s", "-H", "Host: steady.test", `http://127.0.0.1:${port}/`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const output = new Response(wrk.stdout).text();
    let finished = false;
    void wrk.exited.then(() => {
      finished = true;
    });
    let handshakes = 0;
    const failedHandshakes: string[] = [];
    for (let round = 0; !finished; round++) {
      const i = round % hosts.length;
      const host = hosts[i] as string;
      const [first, replaced] = leaves[i] as readonly [{ pem: string; key: string }, { pem: string; key: string }];
      proxy.setRoute(host, route("blog"));
      proxy.installCertificate(host, first.pem, first.key);
      proxy.setRoute(host, route("blog", { certificate: host, httpsRedirect: true, hsts: true }));
      // The steady app's own certificate renewed: new https connections to it keep verifying.
      const renewed = renewals[i] as { pem: string; key: string };
      proxy.installCertificate("steady.test", renewed.pem, renewed.key);
      proxy.installCertificate(host, replaced.pem, replaced.key);
      proxy.setRoute(host, route("blog", { certificate: host, canonical: "apex" }));
      proxy.removeRoute(host);
      proxy.removeCertificate(host);
      handshakes++;
      const answer = await secure("steady.test");
      if (answer.status !== 200) failedHandshakes.push(answer.error || String(answer.status));
    }
    const { requests, non2xx, socketErrors } = parseWrk(await output);
    expect(wrk.exitCode).toBe(0);
    expect(requests).toBeGreaterThan(0);
    expect({ non2xx, socketErrors, failedHandshakes }).toEqual({ non2xx: 0, socketErrors: 0, failedHandshakes: [] });
    expect(handshakes).toBeGreaterThan(0);
    expect(proxy.routedHosts().filter((h) => h.startsWith("extra"))).toEqual([]);
    expect(workerPids()).toBe(workers);
  });
});
