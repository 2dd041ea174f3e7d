import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dnsProviders } from "../../backend/db/schema/index.ts";
import { type DnsServer, startDnsServer } from "../helpers/acme.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";

const hasChalltestsrv = Bun.which("pebble-challtestsrv") !== null;

/** A self-signed certificate and its key, made by openssl, for the custom-certificate cases. */
function selfSigned(dir: string, name: string, host: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
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
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "30",
      "-subj",
      `/CN=${host}`,
      "-addext",
      `subjectAltName=DNS:${host}`,
    ],
    { stdout: "ignore", stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
  return { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") };
}

describe.skipIf(!hasChalltestsrv)(`domains API (${TEST_DB})`, () => {
  let dns: DnsServer;
  let api: TestApi;
  let owner: string;
  let viewer: string;
  let pemDir: string;
  let repo: TestRepo;
  /** Every answer body seen, to show that no provider secret is ever answered. */
  const answers: string[] = [];
  const SECRETS = ["c2VjcmV0LXRzaWcta2V5LVNFQ1JFVDE=", "cf-SECRET2-token-abcdef", "hook-SECRET3-value"];

  async function call(method: string, path: string, body?: unknown, cookie = owner) {
    const res = await api.request(method, path, { cookie, ...(body === undefined ? {} : { body }) });
    answers.push(JSON.stringify(res.body));
    return res;
  }
  const domains = async (app: string) => (await call("GET", `/api/v1/apps/${app}/domains`)).body;
  const add = (app: string, body: unknown) => call("POST", `/api/v1/apps/${app}/domains`, body);
  const check = (app: string, name: string) => call("POST", `/api/v1/apps/${app}/domains/${name}/check`, {});
  const issue = (app: string, name: string, body: unknown) => call("POST", `/api/v1/apps/${app}/domains/${name}/certificate`, body);
  const field = (res: { body: any }) => res.body.error?.details?.issues?.[0]?.path;
  /** HTTPS by default: a passing check requests a certificate when nginx and certbot are there. */
  const automatic = () => api.services.proxy.enabled && Bun.which("certbot") !== null;

  beforeAll(async () => {
    dns = await startDnsServer();
    api = await createTestApi({
      config: { SWITCHYARD_DNS_RESOLVER: dns.address },
    });
    owner = await api.setupOwner();
    const created = await api.request("POST", "/api/v1/users", {
      cookie: owner,
      body: { email: "viewer@example.com", name: "Vi", password: "viewer-password", role: "viewer" },
    });
    expect(created.status).toBe(201);
    viewer = cookieFrom(
      (await api.request("POST", "/api/v1/auth/login", { body: { email: "viewer@example.com", password: "viewer-password" } })).headers,
    );
    repo = await createRepo({ "index.html": "<h1>test</h1>" });
    for (const name of ["shop", "blog"]) {
      const res = await call("POST", "/api/v1/apps", { name, repoUrl: repo.url });
      expect(res.status).toBe(201);
    }
    const network = await call("PUT", "/api/v1/settings/network", { publicAddresses: ["127.0.0.1"] });
    expect(network.status).toBe(200);
    expect(network.body).toMatchObject({ publicAddresses: ["127.0.0.1"], effective: ["127.0.0.1"], httpPort: api.config.proxyPort });
    pemDir = mkdtempSync(join(tmpdir(), "sy-pem-"));
  });
  afterAll(async () => {
    await api?.close();
    await dns?.stop();
    repo?.cleanup();
    if (pemDir) rmSync(pemDir, { recursive: true, force: true });
  });

  test("a name that is not a domain is a 400 naming the field, and nothing is added", async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ name: "not a domain" }, "name", "is not a domain name"],
      [{ name: "203.0.113.7" }, "name", "is an IP address"],
      [{ name: "2001:db8::1" }, "name", "is an IP address"],
      [{ name: "*.example.com" }, "name", "wildcards are certificates"],
      [{ name: "shop.localhost" }, "name", "*.localhost"],
      [{ name: "gone.invalid" }, "name", ".invalid"],
      [{ name: "x.com; return 500" }, "name", "is not a domain name"],
      [{ name: 7 }, "name", "host name"],
      [{}, "name", ""],
      [{ name: "ok.example.com", canonical: "sideways" }, "canonical", "must be one of"],
      [{ name: "ok.example.com", hsts: "yes" }, "hsts", "true or false"],
      [{ name: "ok.example.com", canonical: "www" }, "canonical", "add www.ok.example.com first"],
      [{ name: "ok.example.com", port: 80 }, "body", ""],
    ];
    for (const [body, path, words] of cases) {
      const res = await add("shop", body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.error.code).toBe("validation_failed");
      if (path !== "body") expect(field(res)).toBe(path);
      expect(res.body.error.message).toContain(words);
    }
    expect(await domains("shop")).toEqual([]);
    expect((await add("nope", { name: "ok.example.com" })).status).toBe(404);
    expect((await call("GET", "/api/v1/apps/nope/domains")).status).toBe(404);
  });

  test("DNS check: fails with the A record to create, passes once it exists, and starts the certificate", async () => {
    const created = await add("shop", { name: "Shop.Example.com." });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "shop.example.com",
      wildcard: false,
      redirect: true,
      hsts: false,
      canonical: "none",
      certificate: null,
      url: `http://shop.example.com:${api.config.proxyPort}`,
      dns: {
        ok: false,
        records: [],
        expected: [{ type: "A", name: "shop.example.com", value: "127.0.0.1" }],
        problem: "No A or AAAA record for shop.example.com: create A shop.example.com → 127.0.0.1.",
      },
    });
    expect(created.body.dns.checkedAt).not.toBeNull();
    // The check is kept: the list shows the same.
    expect((await domains("shop"))[0].dns).toEqual(created.body.dns);
    expect((await call("GET", "/api/v1/apps/shop")).body.app.domains).toEqual(["shop.example.com"]);
    // Routed at once, without a configure job: nginx reads the route's files per request.
    expect(api.services.proxy.readRoute("shop.example.com")).toMatchObject({ app: "shop", certificate: null, canonical: "none" });

    await dns.setA("shop.example.com", ["127.0.0.1"]);
    const passed = await check("shop", "shop.example.com");
    expect(passed.status).toBe(200);
    expect(passed.body.dns).toMatchObject({
      ok: true,
      problem: null,
      records: [{ type: "A", name: "shop.example.com", value: "127.0.0.1" }],
    });
    if (automatic()) {
      expect(passed.body.certificate).toMatchObject({ name: "shop.example.com", status: "pending" });
      const { certificates } = (await call("GET", "/api/v1/certificates")).body;
      const cert = certificates.find((c: any) => c.name === "shop.example.com");
      expect(cert).toMatchObject({ mode: "http-01", status: "pending", domains: [{ app: "shop", name: "shop.example.com" }] });
      expect(cert.job).not.toBeNull();
    } else {
      expect(passed.body.certificate).toBeNull();
    }
  });

  test("a CNAME to a name that resolves here passes; its chain is shown", async () => {
    await dns.setCname("www.shop.example.com", "shop.example.com");
    const res = await add("shop", { name: "www.shop.example.com", canonical: "apex" });
    expect(res.status).toBe(201);
    expect(res.body.canonical).toBe("apex");
    expect(res.body.dns).toMatchObject({
      ok: true,
      records: [
        { type: "CNAME", name: "www.shop.example.com", value: "shop.example.com" },
        { type: "A", name: "shop.example.com", value: "127.0.0.1" },
      ],
    });
  });

  test("a foreign address fails, and the problem names it", async () => {
    await dns.setA("blog.example.com", ["192.0.2.55"]);
    const res = await add("blog", { name: "blog.example.com" });
    expect(res.status).toBe(201);
    expect(res.body.dns.ok).toBe(false);
    expect(res.body.dns.problem).toStartWith("blog.example.com points at 192.0.2.55, which is not this server (127.0.0.1)");
    expect(res.body.certificate).toBeNull();
  });

  test("the ownership record is verified once its TXT record exists", async () => {
    const before = (await check("shop", "shop.example.com")).body.dns.ownership;
    expect(before.verified).toBe(false);
    expect(before.record).toMatchObject({ type: "TXT", name: "_switchyard.shop.example.com" });
    expect(before.record.value).toMatch(/^switchyard-verify=[0-9a-f]{32}$/);
    await dns.setTxt(before.record.name, before.record.value);
    expect((await check("shop", "shop.example.com")).body.dns.ownership).toEqual({ ...before, verified: true });
  });

  test("a name another app holds is a 409 naming it; the app's own is a 409 too", async () => {
    const taken = await add("blog", { name: "shop.example.com" });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toMatchObject({ code: "domain_taken", message: "shop.example.com already belongs to the app shop." });
    const again = await add("shop", { name: "shop.example.com" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("domain_exists");
  });

  test("settings change with PATCH; a redirect to a name the app lacks is refused", async () => {
    const res = await call("PATCH", "/api/v1/apps/shop/domains/shop.example.com", { hsts: true, redirect: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: "shop.example.com", hsts: true, redirect: false });
    expect(api.services.proxy.readRoute("shop.example.com")).toMatchObject({ app: "shop", httpsRedirect: false });
    const bad = await call("PATCH", "/api/v1/apps/shop/domains/shop.example.com", { canonical: "apex" });
    expect(bad.status).toBe(400);
    expect(field(bad)).toBe("canonical");
    expect((await call("PATCH", "/api/v1/apps/shop/domains/other.example.com", { hsts: true })).status).toBe(404);
    expect((await call("PATCH", "/api/v1/apps/shop/domains/shop.example.com", { sure: 1 })).status).toBe(400);
    // www.shop.example.com redirects to it: removing it first would send those visitors nowhere.
    const target = await call("DELETE", "/api/v1/apps/shop/domains/shop.example.com");
    expect(target.status).toBe(409);
    expect(target.body.error).toMatchObject({ code: "canonical_target" });
    expect(target.body.error.message).toContain("www.shop.example.com redirects to shop.example.com");
  });

  test("roles: a viewer reads and checks; writes need an admin", async () => {
    expect((await call("GET", "/api/v1/apps/shop/domains", undefined, viewer)).status).toBe(200);
    expect((await call("POST", "/api/v1/apps/blog/domains/blog.example.com/check", {}, viewer)).status).toBe(200);
    expect((await call("POST", "/api/v1/apps/shop/domains", { name: "v.example.com" }, viewer)).status).toBe(403);
    expect((await call("DELETE", "/api/v1/apps/blog/domains/blog.example.com", undefined, viewer)).status).toBe(403);
    expect((await call("PUT", "/api/v1/settings/network", { publicAddresses: [] }, viewer)).status).toBe(403);
    expect((await call("GET", "/api/v1/dns-providers", undefined, viewer)).status).toBe(200);
    expect((await api.request("GET", "/api/v1/apps/shop/domains")).status).toBe(401);
    // A viewer's check refreshes DNS but asks for no certificate: that is an admin's to start.
    expect((await add("blog", { name: "seen.example.com" })).body.dns.ok).toBe(false);
    await dns.setA("seen.example.com", ["127.0.0.1"]);
    const seen = await call("POST", "/api/v1/apps/blog/domains/seen.example.com/check", {}, viewer);
    expect(seen.body).toMatchObject({ dns: { ok: true }, certificate: null });
    expect((await call("DELETE", "/api/v1/apps/blog/domains/seen.example.com")).status).toBe(204);
  });

  test("network addresses must be IP addresses", async () => {
    for (const body of [{ publicAddresses: ["example.com"] }, { publicAddresses: ["300.1.1.1"] }, { publicAddresses: "1.2.3.4" }, {}]) {
      const res = await call("PUT", "/api/v1/settings/network", body);
      expect(res.status).toBe(400);
      expect(field(res)).toStartWith("publicAddresses");
    }
    expect((await call("GET", "/api/v1/settings/network")).body.publicAddresses).toEqual(["127.0.0.1"]);
  });

  test("DNS providers: bad fields are 400s naming them; secrets are stored encrypted and never answered", async () => {
    const rfc = { server: "127.0.0.1", port: 5353, keyName: "certbot-key.", keySecret: SECRETS[0] };
    const bad: Array<[unknown, string]> = [
      [{ name: "x", kind: "route53", config: {} }, "kind"],
      [{ name: "", kind: "cloudflare", config: { apiToken: SECRETS[1] } }, "name"],
      [{ name: "x", kind: "rfc2136", config: { ...rfc, server: "not a server!" } }, "config.server"],
      [{ name: "x", kind: "rfc2136", config: { ...rfc, port: 70000 } }, "config.port"],
      [{ name: "x", kind: "rfc2136", config: { ...rfc, keyAlgorithm: "hmac-sha3" } }, "config.keyAlgorithm"],
      [{ name: "x", kind: "rfc2136", config: { ...rfc, keySecret: `${SECRETS[0]} not base64!` } }, "config.keySecret"],
      [{ name: "x", kind: "rfc2136", config: { ...rfc, keyName: undefined } }, "config.keyName"],
      [{ name: "x", kind: "rfc2136", config: { ...rfc, extra: SECRETS[0] } }, "config"],
      [{ name: "x", kind: "cloudflare", config: { apiToken: `${SECRETS[1]} with spaces` } }, "config.apiToken"],
      [{ name: "x", kind: "hook", config: { authCommand: "" } }, "config.authCommand"],
      [{ name: "x", kind: "hook", config: { authCommand: "x".repeat(4097) } }, "config.authCommand"],
      [{ name: "x", kind: "hook", config: { authCommand: SECRETS[2], propagationSeconds: 601 } }, "config.propagationSeconds"],
      [{ name: "x", kind: "hook", config: "echo" }, "config"],
    ];
    for (const [body, path] of bad) {
      const res = await call("POST", "/api/v1/dns-providers", body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(field(res)).toStartWith(path);
    }
    const made = [
      await call("POST", "/api/v1/dns-providers", { name: "knot", kind: "rfc2136", config: rfc }),
      await call("POST", "/api/v1/dns-providers", { name: "cf", kind: "cloudflare", config: { apiToken: SECRETS[1] } }),
      await call("POST", "/api/v1/dns-providers", {
        name: "hook",
        kind: "hook",
        config: { authCommand: `curl -H 'x: ${SECRETS[2]}' …`, propagationSeconds: 0 },
      }),
    ];
    for (const res of made) expect(res.status).toBe(201);
    expect(made[0]?.body.provider).toMatchObject({
      name: "knot",
      kind: "rfc2136",
      summary: { server: "127.0.0.1", port: "5353", keyName: "certbot-key.", keyAlgorithm: "hmac-sha256" },
    });
    expect((await call("POST", "/api/v1/dns-providers", { name: "cf", kind: "cloudflare", config: { apiToken: SECRETS[1] } })).status).toBe(
      409,
    );
    const listed = (await call("GET", "/api/v1/dns-providers")).body.providers;
    expect(listed.map((p: any) => p.name)).toEqual(["cf", "hook", "knot"]);
    const rows = await api.services.db.select().from(dnsProviders);
    for (const row of rows) for (const secret of SECRETS) expect(row.secret).not.toContain(secret);
  });

  test("certificate requests: bad input is a 400 naming the field", async () => {
    const a = selfSigned(pemDir, "a", "shop.example.com");
    const b = selfSigned(pemDir, "b", "shop.example.com");
    const other = selfSigned(pemDir, "other", "elsewhere.example.net");
    const cases: Array<[unknown, string, string]> = [
      [{ mode: "tls-alpn-01" }, "mode", "must be one of"],
      [{}, "mode", ""],
      [{ mode: "dns-01" }, "provider", "is required for dns-01"],
      [{ mode: "dns-01", provider: "nope" }, "provider", "no DNS provider"],
      [{ mode: "http-01", wildcard: true }, "wildcard", "dns-01"],
      [{ mode: "custom", wildcard: true, cert: a.cert, key: a.key }, "wildcard", "dns-01"],
      [{ mode: "custom" }, "cert", "is required"],
      [{ mode: "custom", cert: a.cert }, "key", "is required"],
      [{ mode: "custom", cert: a.cert, key: b.key }, "key", "does not match"],
      [{ mode: "custom", cert: other.cert, key: other.key }, "cert", "does not cover shop.example.com"],
      [{ mode: "custom", cert: "not a pem", key: a.key }, "cert", "PEM"],
      [{ mode: "http-01", cert: a.cert }, "cert", "only"],
    ];
    for (const [body, path, words] of cases) {
      const res = await issue("shop", "shop.example.com", body);
      expect({ body: JSON.stringify(body).slice(0, 80), status: res.status }).toEqual({
        body: JSON.stringify(body).slice(0, 80),
        status: 400,
      });
      expect(field(res)).toBe(path);
      expect(res.body.error.message).toContain(words);
      expect(JSON.stringify(res.body)).not.toContain("PRIVATE KEY");
    }
    const wildcard = await issue("shop", "shop.example.com", { mode: "dns-01", provider: "knot", wildcard: true });
    expect(wildcard.status).toBe(202);
    expect((await issue("shop", "nope.example.com", { mode: "http-01" })).status).toBe(404);
  });

  test("a matching custom certificate is accepted as an issue-certificate job", async () => {
    await dns.setA("blog.example.com", ["127.0.0.1"]);
    const mine = selfSigned(pemDir, "blog", "blog.example.com");
    const res = await issue("blog", "blog.example.com", { mode: "custom", cert: mine.cert, key: mine.key });
    expect(res.status).toBe(202);
    expect(res.body.job).toMatchObject({ kind: "issue-certificate" });
    expect(JSON.stringify(res.body)).not.toContain("PRIVATE KEY");
    const { certificates } = (await call("GET", "/api/v1/certificates")).body;
    expect(certificates.map((c: any) => c.name)).toContain("blog.example.com");
  });

  test("a provider in use is not deleted; an unused one is", async () => {
    const using = await call("DELETE", "/api/v1/dns-providers/knot");
    expect(using.status).toBe(409);
    expect(using.body.error.code).toBe("provider_in_use");
    expect((await call("DELETE", "/api/v1/dns-providers/cf")).status).toBe(204);
    expect((await call("DELETE", "/api/v1/dns-providers/cf")).status).toBe(404);
  });

  test("PATCH /apps/:app {domains} still works and shows up with default settings", async () => {
    const res = await call("PATCH", "/api/v1/apps/blog", { domains: ["blog.example.com", "news.example.com"] });
    expect(res.status).toBe(200);
    const list = await domains("blog");
    expect(list.map((d: any) => d.name)).toEqual(["blog.example.com", "news.example.com"]);
    expect(list[1]).toMatchObject({ redirect: true, hsts: false, canonical: "none", dns: { ok: false, checkedAt: null } });
    expect(list[1].dns.expected).toEqual([{ type: "A", name: "news.example.com", value: "127.0.0.1" }]);
  });

  test("DELETE takes the name from the app; it can then go to another app", async () => {
    expect((await call("DELETE", "/api/v1/apps/blog/domains/news.example.com")).status).toBe(204);
    expect((await call("DELETE", "/api/v1/apps/blog/domains/news.example.com")).status).toBe(404);
    expect((await call("GET", "/api/v1/apps/blog")).body.app.domains).toEqual(["blog.example.com"]);
    expect(api.services.proxy.readRoute("news.example.com")).toBeNull();
    expect((await add("shop", { name: "news.example.com" })).status).toBe(201);
  });

  test("a certificate is deleted once no job works on it and it serves no domain", async () => {
    const listed = (await call("GET", "/api/v1/certificates")).body.certificates;
    const blog = listed.find((c: any) => c.name === "blog.example.com");
    expect(blog.job).not.toBeNull();
    const busy = await call("DELETE", `/api/v1/certificates/${blog.id}`);
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe("certificate_busy");
    expect((await call("POST", `/api/v1/jobs/${blog.job.id}/cancel`, {})).status).toBeLessThan(300);
    expect((await call("DELETE", `/api/v1/certificates/${blog.id}`)).status).toBe(204);
    expect((await call("GET", "/api/v1/certificates")).body.certificates.map((c: any) => c.name)).not.toContain("blog.example.com");
    expect((await call("DELETE", `/api/v1/certificates/${blog.id}`)).status).toBe(404);
    expect((await call("DELETE", "/api/v1/certificates/not-an-id")).status).toBe(400);
  });

  test("the CLI lists, adds, checks and removes domains through the API with a token", async () => {
    const token = (await call("POST", "/api/v1/tokens", { name: "cli" })).body.token as string;
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => api.app.fetch(req) });
    const dataDir = mkdtempSync(join(tmpdir(), "sy-cli-"));
    const cli = async (...args: string[]) => {
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        SWITCHYARD_DATA_DIR: dataDir,
        SWITCHYARD_URL: `http://127.0.0.1:${server.port}`,
        SWITCHYARD_TOKEN: token,
      };
      delete env.DATABASE_URL;
      const proc = Bun.spawn([process.execPath, join(import.meta.dir, "../../backend/cli.ts"), ...args], {
        env,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      return { out, err, code };
    };
    try {
      const added = await cli("domains", "add", "blog", "cli.example.com");
      expect(added).toMatchObject({ code: 0, err: "" });
      expect(added.out).toContain("No A or AAAA record for cli.example.com");
      expect(added.out).toContain("cli.example.com  A  127.0.0.1");
      const failing = await cli("domains", "check", "blog", "cli.example.com");
      expect(failing.code).not.toBe(0);
      expect(failing.err).toContain("cli.example.com does not point here yet");
      await dns.setA("cli.example.com", ["127.0.0.1"]);
      expect(await cli("domains", "check", "blog", "cli.example.com")).toMatchObject({ code: 0, err: "" });
      const list = await cli("domains", "list", "blog");
      expect(list.code).toBe(0);
      expect(list.out).toContain("cli.example.com");
      expect(list.out).toContain("DNS: points here");
      const wildcard = await cli("domains", "cert", "blog", "cli.example.com", "--wildcard");
      expect(wildcard.code).not.toBe(0);
      expect(wildcard.err).toContain("--wildcard needs --dns PROVIDER");
      const certificates = await cli("certificates");
      expect(certificates.code).toBe(0);
      expect(certificates.out).toContain("*.example.com");
      expect(await cli("domains", "remove", "blog", "cli.example.com")).toMatchObject({ code: 0, err: "" });
      const gone = await cli("domains", "remove", "blog", "cli.example.com");
      expect(gone.code).not.toBe(0);
      expect(gone.err).toContain("not found");
    } finally {
      server.stop(true);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("no answer ever held a provider secret", () => {
    const all = answers.join("\n");
    for (const secret of SECRETS) expect(all).not.toContain(secret);
  });
});
