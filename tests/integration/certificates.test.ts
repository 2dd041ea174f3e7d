/**
 * Certificates end to end, with real parts: the panel's private nginx serves the ACME webroot and
 * the apps on http and https, certbot asks Let's Encrypt's test CA (pebble), which validates
 * HTTP-01 against that nginx at the address challtestsrv resolves the name to, and DNS-01 against
 * TXT records a hook command sets in challtestsrv. curl checks the served chain against pebble's root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
import { renewDueCertificates } from "../../backend/jobs/certificate-renewal.ts";
import { acmeAvailable, type DnsServer, startTestCa, type TestCa } from "../helpers/acme.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { startWrk } from "../helpers/load.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const available = acmeAvailable() && findNginx() !== null;
if (!available) console.warn("certificates.test.ts skipped: it needs nginx, certbot, pebble and pebble-challtestsrv installed");

describe.skipIf(!available)(`certificates from an ACME CA, served by nginx (${TEST_DB})`, () => {
  let api: TestApi;
  let ca: TestCa;
  let cookie: string;
  let repo: TestRepo;
  let root: string;
  const tmp = mkdtempSync(join(tmpdir(), "sy-certs-it-"));
  const tlsPort = () => api.config.proxyTlsPort;

  beforeAll(async () => {
    const proxyPort = freePort();
    ca = await startTestCa({ httpPort: proxyPort });
    api = await createTestApi({
      background: true,
      config: {
        SWITCHYARD_PROXY_PORT: String(proxyPort),
        SWITCHYARD_ACME_SERVER: ca.directory,
        SWITCHYARD_ACME_CA_BUNDLE: ca.listenerCa,
        SWITCHYARD_DNS_RESOLVER: ca.dns.address,
      },
    });
    cookie = await api.setupOwner();
    root = await ca.rootFile();
    repo = await createRepo(bunApp("v1"));
    for (const name of ["shop", "blog"]) {
      const res = await api.request("POST", "/api/v1/apps", {
        cookie,
        body: { name, repoUrl: repo.url, watchSeconds: 0, drainSeconds: 0 },
      });
      expect(res.status).toBe(201);
      const deploy = await api.request("POST", `/api/v1/apps/${name}/deploy`, { cookie, body: {} });
      expect((await api.services.orchestrator.waitFor(deploy.body.job.id, 180_000)).status).toBe("succeeded");
    }
    const network = await api.request("PUT", "/api/v1/settings/network", { cookie, body: { publicAddresses: ["127.0.0.1"] } });
    expect(network.status).toBe(200);
  });
  afterAll(async () => {
    await api?.close();
    await ca?.stop();
    repo?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** Waits for a job and answers it with its log when it did not succeed. */
  async function finished(jobId: string) {
    const job = await api.services.orchestrator.waitFor(jobId, 300_000);
    if (job.status !== "succeeded") {
      const logs = await api.request("GET", `/api/v1/jobs/${jobId}/logs`, { cookie });
      throw new Error(`job ${job.kind} ${job.status}: ${job.error}\n${JSON.stringify(logs.body).slice(0, 4000)}`);
    }
    return job;
  }

  /** An https request through nginx's TLS listener, verified against pebble's root. */
  function curl(host: string): { code: number; status: string; body: string; stderr: string } {
    const r = Bun.spawnSync(
      [
        "curl",
        "-sS",
        "--cacert",
        root,
        "--resolve",
        `${host}:${tlsPort()}:127.0.0.1`,
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        `https://${host}:${tlsPort()}/`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const out = r.stdout.toString();
    const at = out.lastIndexOf("\n");
    return { code: r.exitCode ?? -1, body: out.slice(0, at), status: out.slice(at + 1), stderr: r.stderr.toString() };
  }

  /** The serial of the certificate nginx serves for a name (SNI). */
  function servedSerial(host: string): string {
    const shown = Bun.spawnSync(["openssl", "s_client", "-connect", `127.0.0.1:${tlsPort()}`, "-servername", host], {
      stdin: new TextEncoder().encode(""),
      stdout: "pipe",
      stderr: "pipe",
    });
    const x509 = Bun.spawnSync(["openssl", "x509", "-noout", "-serial"], { stdin: shown.stdout, stdout: "pipe", stderr: "pipe" });
    return x509.stdout
      .toString()
      .trim()
      .replace(/^serial=/, "");
  }

  const certificateJobs = async () =>
    ((await api.request("GET", "/api/v1/jobs?limit=200", { cookie })).body.jobs as Array<{ kind: string }>).filter(
      (j) => j.kind === "issue-certificate",
    ).length;
  const certificates = async () =>
    (await api.request("GET", "/api/v1/certificates", { cookie })).body.certificates as Array<Record<string, any>>;

  test("HTTP-01: the DNS check fails, then passes; the certificate is issued, served, and a forced renewal is served", async () => {
    const name = "shop.acme-test.example";
    // The app's existing traffic, on kept-alive connections, for the whole of it: adding the
    // domain, issuing its certificate and renewing it must not cost one request (no nginx reload).
    const traffic = startWrk({ url: `http://127.0.0.1:${api.config.proxyPort}/`, host: "shop.localhost", connections: 8 });
    const added = await api.request("POST", "/api/v1/apps/shop/domains", { cookie, body: { name } });
    expect(added.status).toBe(201);

    const failing = await api.request("POST", `/api/v1/apps/shop/domains/${name}/check`, { cookie });
    expect(failing.status).toBe(200);
    expect(failing.body.dns.ok).toBe(false);
    await ca.dns.setA(name, ["127.0.0.1"]);
    const passing = await api.request("POST", `/api/v1/apps/shop/domains/${name}/check`, { cookie });
    expect(passing.body.dns.ok).toBe(true);

    const issued = await api.request("POST", `/api/v1/apps/shop/domains/${name}/certificate`, { cookie, body: { mode: "http-01" } });
    expect(issued.status).toBe(202);
    expect(issued.body.job.kind).toBe("issue-certificate");
    await finished(issued.body.job.id);

    const served = curl(name);
    expect({ code: served.code, status: served.status, stderr: served.stderr }).toEqual({ code: 0, status: "200", stderr: "" });
    expect(served.body).toBe("v1");
    const [cert] = (await certificates()).filter((c) => c.name === name);
    expect(cert).toMatchObject({ status: "valid", names: [name], mode: "http-01", error: null });
    expect(cert?.issuer).toContain("Pebble");
    const first = servedSerial(name);
    expect(first).toMatch(/^[0-9A-F]+$/);

    // The log says what certbot did, and never shows the key.
    const logs = JSON.stringify((await api.request("GET", `/api/v1/jobs/${issued.body.job.id}/logs`, { cookie })).body);
    expect(logs).toContain("Pebble");
    expect(logs).not.toContain("PRIVATE KEY");

    const renewed = await api.request("POST", `/api/v1/apps/shop/domains/${name}/certificate`, {
      cookie,
      body: { mode: "http-01", force: true },
    });
    expect(renewed.status).toBe(202);
    await finished(renewed.body.job.id);
    const second = servedSerial(name);
    expect(second).not.toBe(first);
    expect(curl(name).status).toBe("200");
    const after = (await certificates()).find((c) => c.name === name);
    expect(after?.id).toBe(cert?.id);
    const load = await traffic.stop();
    expect(load.requests).toBeGreaterThan(0);
    expect({ non2xx: load.non2xx, socketErrors: load.socketErrors }).toEqual({ non2xx: 0, socketErrors: 0 });
  });

  test("HTTP-01 for a name that does not point here fails with the DNS problem, and nothing is served", async () => {
    const name = "nowhere.acme-test.example";
    expect((await api.request("POST", "/api/v1/apps/shop/domains", { cookie, body: { name } })).status).toBe(201);
    const res = await api.request("POST", `/api/v1/apps/shop/domains/${name}/certificate`, { cookie, body: { mode: "http-01" } });
    expect(res.status).toBe(202);
    const job = await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    expect(job.status).toBe("failed");
    const cert = (await certificates()).find((c) => c.name === name);
    expect(cert?.status).toBe("failed");
    expect(cert?.error).toContain(name);
    expect(curl(name).code).not.toBe(0);
  });

  test("DNS-01 through a hook issues a wildcard; a second app under it gets https with no new issuance", async () => {
    const mgmt = ca.dns.managementUrl;
    const provider = await api.request("POST", "/api/v1/dns-providers", {
      cookie,
      body: {
        name: "challtestsrv",
        kind: "hook",
        config: {
          authCommand: `curl -sf -X POST -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\",\\"value\\":\\"$CERTBOT_VALIDATION\\"}" ${mgmt}/set-txt`,
          cleanupCommand: `curl -sf -X POST -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\"}" ${mgmt}/clear-txt`,
          propagationSeconds: 0,
        },
      },
    });
    expect(provider.status).toBe(201);

    const shopName = "shop.wild-test.example";
    expect((await api.request("POST", "/api/v1/apps/shop/domains", { cookie, body: { name: shopName } })).status).toBe(201);
    const issued = await api.request("POST", `/api/v1/apps/shop/domains/${shopName}/certificate`, {
      cookie,
      body: { mode: "dns-01", provider: "challtestsrv", wildcard: true },
    });
    expect(issued.status).toBe(202);
    await finished(issued.body.job.id);
    const wildcard = (await certificates()).find((c) => c.name === "*.wild-test.example");
    expect(wildcard).toMatchObject({ status: "valid", names: ["*.wild-test.example", "wild-test.example"], mode: "dns-01" });
    expect(curl(shopName)).toMatchObject({ code: 0, status: "200", body: "v1" });

    const before = await certificates();
    const jobsBefore = await certificateJobs();
    const blogName = "blog.wild-test.example";
    expect((await api.request("POST", "/api/v1/apps/blog/domains", { cookie, body: { name: blogName } })).status).toBe(201);
    const served = curl(blogName);
    expect({ code: served.code, status: served.status, stderr: served.stderr }).toEqual({ code: 0, status: "200", stderr: "" });
    expect((await certificates()).length).toBe(before.length);
    expect(await certificateJobs()).toBe(jobsBefore);
    const domains = (await api.request("GET", "/api/v1/apps/blog/domains", { cookie })).body as Array<Record<string, any>>;
    expect(domains.find((d) => d.name === blogName)?.certificate).toMatchObject({ name: "*.wild-test.example", status: "valid" });
  });

  test("an upload: a matching pair is installed and served; a key that does not match is a 400 on key", async () => {
    const name = "upload.acme-test.example";
    const openssl = (...args: string[]) => {
      const r = Bun.spawnSync(["openssl", ...args], { cwd: tmp, stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(r.stderr.toString());
    };
    for (const n of ["a", "b"]) {
      openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        `${n}.key`,
        "-out",
        `${n}.pem`,
        "-days",
        "30",
        "-subj",
        `/CN=${name}`,
        "-addext",
        `subjectAltName=DNS:${name}`,
      );
    }
    const read = (f: string) => readFileSync(join(tmp, f), "utf8");
    expect((await api.request("POST", "/api/v1/apps/shop/domains", { cookie, body: { name } })).status).toBe(201);

    const bad = await api.request("POST", `/api/v1/apps/shop/domains/${name}/certificate`, {
      cookie,
      body: { mode: "custom", cert: read("a.pem"), key: read("b.key") },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].path).toBe("key");
    expect(JSON.stringify(bad.body)).not.toContain("PRIVATE KEY");

    const good = await api.request("POST", `/api/v1/apps/shop/domains/${name}/certificate`, {
      cookie,
      body: { mode: "custom", cert: read("a.pem"), key: read("a.key") },
    });
    expect(good.status).toBe(202);
    await finished(good.body.job.id);
    const cert = (await certificates()).find((c) => c.name === name);
    expect(cert).toMatchObject({ status: "valid", mode: "custom", autoRenew: false });
    const served = Bun.spawnSync(
      ["curl", "-sS", "--cacert", join(tmp, "a.pem"), "--resolve", `${name}:${tlsPort()}:127.0.0.1`, `https://${name}:${tlsPort()}/`],
      {
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    expect({ out: served.stdout.toString(), err: served.stderr.toString() }).toEqual({ out: "v1", err: "" });
    const logs = JSON.stringify((await api.request("GET", `/api/v1/jobs/${good.body.job.id}/logs`, { cookie })).body);
    expect(logs).not.toContain("PRIVATE KEY");
    expect(JSON.stringify(await certificates())).not.toContain("PRIVATE KEY");
  });

  test("the daily renewal queues what is due once a day, across passes, and the renewal keeps serving", async () => {
    const acme = (await certificates()).filter((c) => c.status === "valid" && c.mode !== "custom");
    expect(acme.length).toBeGreaterThan(0);
    // The pass as it would run 10 days before the earliest expiry: every ACME certificate due by then.
    const soon = new Date(Math.min(...acme.map((c) => new Date(c.notAfter).getTime())) - 10 * 86_400_000);
    const valid = acme.filter((c) => new Date(c.notAfter).getTime() < soon.getTime() + 30 * 86_400_000);
    const queued = await renewDueCertificates(api.services, soon);
    expect(queued.sort()).toEqual(valid.map((c) => c.name).sort());
    expect(await renewDueCertificates(api.services, soon)).toEqual([]);
    const jobs = (await api.request("GET", "/api/v1/jobs?limit=100", { cookie })).body.jobs as Array<Record<string, any>>;
    for (const job of jobs.filter((j) => j.kind === "issue-certificate" && (j.status === "queued" || j.status === "running")))
      await finished(job.id);
    expect(curl("shop.acme-test.example").status).toBe("200");
  });
});

/**
 * RFC 2136 for real: knot is the zone's authoritative server and accepts TSIG-signed updates;
 * pebble resolves through knot, so the wildcard is issued only if certbot's rfc2136 plugin really
 * put the TXT records there (and it removes them afterwards). Its own panel, because the CA differs.
 */
const knotAvailable = available && Bun.which("knotd") !== null && Bun.which("kdig") !== null;
if (available && !knotAvailable)
  console.warn("certificates.test.ts: the RFC 2136 case is skipped: it needs knotd and kdig (apt-get install knot knot-dnsutils)");

describe.skipIf(!knotAvailable)(`certificates through RFC 2136 with knot (${TEST_DB})`, () => {
  const zone = "rfc-test.example";
  const dir = mkdtempSync(join(tmpdir(), "sy-knot-"));
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  const port = freePort();
  let knot: ReturnType<typeof Bun.spawn> | null = null;
  let repo: TestRepo;
  let api: TestApi;
  let ca: TestCa;
  let cookie: string;

  const kdig = (type: string, name: string) =>
    Bun.spawnSync(["kdig", `@127.0.0.1`, "-p", String(port), type, name, "+short"], { stdout: "pipe" })
      .stdout.toString()
      .trim();

  beforeAll(async () => {
    writeFileSync(
      join(dir, "knot.conf"),
      `server:\n    listen: 127.0.0.1@${port}\n    rundir: "${dir}"\ncontrol:\n    listen: "${dir}/knot.sock"\ndatabase:\n    storage: "${dir}"\n` +
        `key:\n  - id: acme-key.\n    algorithm: hmac-sha256\n    secret: ${secret}\n` +
        `acl:\n  - id: update\n    key: acme-key.\n    action: update\n` +
        `template:\n  - id: default\n    storage: "${dir}"\n    file: "%s.zone"\nzone:\n  - domain: ${zone}\n    acl: update\n`,
    );
    writeFileSync(
      join(dir, `${zone}.zone`),
      `$ORIGIN ${zone}.\n$TTL 60\n@ SOA ns.${zone}. admin.${zone}. 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n`,
    );
    knot = Bun.spawn(["knotd", "-c", join(dir, "knot.conf")], { stdout: "ignore", stderr: "ignore" });
    await waitFor(() => kdig("SOA", zone).includes(`ns.${zone}.`), { what: "knotd to answer", timeoutMs: 15_000 });
    const refuse = async () => {
      throw new Error("knot's records change through RFC 2136 only");
    };
    // Pebble asks knot, the zone's authoritative server, for the challenge records.
    const dns: DnsServer = {
      address: `127.0.0.1:${port}`,
      managementUrl: "",
      setA: refuse,
      clearA: refuse,
      setCname: refuse,
      clearCname: refuse,
      setTxt: refuse,
      clearTxt: refuse,
      stop: async () => {},
    };
    ca = await startTestCa({ httpPort: freePort(), dns });
    api = await createTestApi({
      background: true,
      config: { SWITCHYARD_ACME_SERVER: ca.directory, SWITCHYARD_ACME_CA_BUNDLE: ca.listenerCa },
    });
    cookie = await api.setupOwner();
    repo = await createRepo(bunApp("v1"));
  });
  afterAll(async () => {
    await api?.close();
    await ca?.stop();
    repo?.cleanup();
    knot?.kill();
    await knot?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  test("a wildcard is issued through TSIG-signed updates to knot, which holds no challenge record afterwards", async () => {
    const provider = await api.request("POST", "/api/v1/dns-providers", {
      cookie,
      body: {
        name: "knot",
        kind: "rfc2136",
        // knot is the zone's only server: the record is everywhere it needs to be once the update is answered.
        config: { server: "127.0.0.1", port, keyName: "acme-key.", keyAlgorithm: "hmac-sha256", keySecret: secret, propagationSeconds: 1 },
      },
    });
    expect(provider.status).toBe(201);
    expect(JSON.stringify(provider.body)).not.toContain(secret);
    expect(
      (await api.request("POST", "/api/v1/apps", { cookie, body: { name: "site", repoUrl: repo.url, watchSeconds: 0, drainSeconds: 0 } }))
        .status,
    ).toBe(201);
    const name = `www.${zone}`;
    expect((await api.request("POST", "/api/v1/apps/site/domains", { cookie, body: { name } })).status).toBe(201);
    expect(kdig("SOA", zone).split(" ")[2]).toBe("1");
    const res = await api.request("POST", `/api/v1/apps/site/domains/${name}/certificate`, {
      cookie,
      body: { mode: "dns-01", provider: "knot", wildcard: true },
    });
    expect(res.status).toBe(202);
    const job = await api.services.orchestrator.waitFor(res.body.job.id, 300_000);
    const logs = JSON.stringify((await api.request("GET", `/api/v1/jobs/${res.body.job.id}/logs`, { cookie })).body);
    expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
    expect(logs).not.toContain(secret);
    const certs = (await api.request("GET", "/api/v1/certificates", { cookie })).body.certificates as Array<Record<string, any>>;
    expect(certs.find((c) => c.name === `*.${zone}`)).toMatchObject({
      status: "valid",
      names: [`*.${zone}`, zone],
      mode: "dns-01",
      provider: { name: "knot" },
    });
    // knot took the updates (each one raised the zone's serial from 1) and the cleanup removed the records.
    expect(Number(kdig("SOA", zone).split(" ")[2])).toBeGreaterThan(1);
    expect(kdig("TXT", `_acme-challenge.${zone}`)).toBe("");
  });
});
