import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
import { certificates } from "../../backend/db/schema/index.ts";
import { encryptSecret } from "../../backend/domain/vault.ts";
import { syncRoutes } from "../../backend/jobs/routes.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

describe.skipIf(!findNginx())(`app domains through nginx (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;
  const confDir = () => join(api.config.dataDir, "nginx", "conf.d");

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    repo = await createRepo(bunApp("v1"));
    for (const name of ["shop", "blog"]) {
      const res = await api.request("POST", "/api/v1/apps", {
        cookie,
        body: { name, repoUrl: repo.url, watchSeconds: 0, drainSeconds: 0 },
      });
      expect(res.status).toBe(201);
    }
    const res = await api.request("POST", "/api/v1/apps/shop/deploy", { cookie, body: {} });
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  const get = (host: string) => fetch(`http://127.0.0.1:${api.config.proxyPort}/`, { headers: { host } });

  async function patchDomains(app: string, domains: unknown) {
    const res = await api.request("PATCH", `/api/v1/apps/${app}`, { cookie, body: { domains } });
    if (res.body.job) await api.services.orchestrator.waitFor(res.body.job.id, 60_000);
    const job = res.body.job ? (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job : null;
    return { res, job };
  }

  test("a domain added to a live app is routed by nginx after a configure job", async () => {
    expect((await get("shop.example.com")).status).toBe(404);
    const { res, job } = await patchDomains("shop", ["Shop.Example.com ", "www.shop.example.com", "shop.example.com"]);
    expect(res.status).toBe(200);
    expect(res.body.app.domains).toEqual(["shop.example.com", "www.shop.example.com"]);
    expect(job.kind).toBe("configure-proxy");
    expect(job.status).toBe("succeeded");
    expect(await (await get("shop.example.com")).text()).toBe("v1");
    expect(await (await get("www.shop.example.com")).text()).toBe("v1");
    // Custom domains are routes, not part of the app's nginx file (which did not change).
    expect(readFileSync(join(confDir(), "shop.conf"), "utf8")).not.toContain("shop.example.com");
    expect(api.services.proxy.routedHosts()).toEqual(["shop.example.com", "www.shop.example.com"]);
    const app = (await api.request("GET", "/api/v1/apps/shop", { cookie })).body.app;
    expect(app.url).toBe(`http://shop.example.com:${api.config.proxyPort}`);
    const listed = (await api.request("GET", "/api/v1/apps", { cookie })).body.apps;
    expect(listed.find((a: { name: string }) => a.name === "blog").url).toBe(`http://blog.localhost:${api.config.proxyPort}`);
  });

  test("anything that could smuggle a directive into the nginx file is a 400 naming the entry", async () => {
    for (const bad of [
      "x.com; return 500",
      "x.com\n  location / {}",
      "a b.com",
      "$host",
      "x.com}",
      "-x.com",
      "*.example.com",
      "shop.localhost",
      `${"x".repeat(64)}.com`,
    ]) {
      const res = await api.request("PATCH", "/api/v1/apps/shop", { cookie, body: { domains: ["ok.example.com", bad] } });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("validation_failed");
      expect(JSON.stringify(res.body.error.details)).toContain("domains.1");
    }
    expect(readFileSync(join(confDir(), "shop.conf"), "utf8")).not.toContain("ok.example.com");
    const app = (await api.request("GET", "/api/v1/apps/shop", { cookie })).body.app;
    expect(app.domains).toEqual(["shop.example.com", "www.shop.example.com"]);
  });

  test("a domain another app has is a 409", async () => {
    const res = await api.request("PATCH", "/api/v1/apps/blog", { cookie, body: { domains: ["www.shop.example.com"] } });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: "domain_taken", message: "www.shop.example.com already belongs to the app shop." });
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: "copycat", repoUrl: repo.url, domains: ["shop.example.com"] },
    });
    expect(created.status).toBe(409);
  });

  test("a domain change reloads nothing: with a file in conf.d nginx would refuse, routes still change", async () => {
    const stray = join(confDir(), "zz-someone-elses.conf");
    writeFileSync(stray, "this is not nginx;\n");
    try {
      const { res, job } = await patchDomains("shop", ["new.example.com"]);
      expect(res.status).toBe(200);
      expect(job.status).toBe("succeeded");
      expect(await (await get("new.example.com")).text()).toBe("v1");
      expect((await get("shop.example.com")).status).toBe(404);
      const back = await patchDomains("shop", ["shop.example.com", "www.shop.example.com"]);
      expect(back.job.status).toBe("succeeded");
    } finally {
      rmSync(stray);
    }
    expect(await (await get("shop.example.com")).text()).toBe("v1");
    expect((await get("new.example.com")).status).toBe(404);
    expect(api.services.proxy.routedHosts()).toEqual(["shop.example.com", "www.shop.example.com"]);
  });

  test("a stored certificate is installed from the database (its key decrypted) and serves its domain on https", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sy-cert-"));
    try {
      const made = Bun.spawnSync(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
          .concat(["-subj", "/CN=shop.example.com", "-addext", "subjectAltName=DNS:shop.example.com"])
          .concat(["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")]),
        { stderr: "pipe" },
      );
      expect(made.exitCode).toBe(0);
      const pem = readFileSync(join(dir, "cert.pem"), "utf8");
      const key = readFileSync(join(dir, "key.pem"), "utf8");
      const db = api.services.db;
      const [row] = await db
        .insert(certificates)
        .values({ name: "shop.example.com", names: ["shop.example.com"], mode: "custom", state: "valid", certificatePem: pem })
        .returning();
      if (!row) throw new Error("no certificate row");
      await db.insert(certificates).values({ name: "pending.example.com", names: ["pending.example.com"], mode: "http-01" });
      await db
        .update(certificates)
        .set({ keySecret: encryptSecret(api.services.masterKey, key, row.id), notAfter: new Date(Date.now() + 86_400_000) })
        .where(eq(certificates.id, row.id));

      const changes = await syncRoutes(api.services);
      expect(changes).toMatchObject({ installed: ["shop.example.com"], routed: ["shop.example.com"], problems: [] });
      expect(readFileSync(join(api.config.dataDir, "tls", "shop.example.com", "privkey.pem"), "utf8")).toBe(key);
      expect(api.services.proxy.readRoute("shop.example.com")).toMatchObject({
        app: "shop",
        certificate: "shop.example.com",
        httpsRedirect: true,
      });
      // The key is never logged or answered; the app's address is now its https domain.
      const app = (await api.request("GET", "/api/v1/apps/shop", { cookie })).body.app;
      expect(app.url).toBe(`https://shop.example.com:${api.config.proxyTlsPort}`);
      expect(JSON.stringify(app)).not.toContain("PRIVATE KEY");
      const listed = (await api.request("GET", "/api/v1/apps", { cookie })).body.apps;
      expect(listed.find((a: { name: string }) => a.name === "shop").url).toBe(`https://shop.example.com:${api.config.proxyTlsPort}`);

      const curl = Bun.spawn(
        ["curl", "-sS", "--cacert", join(dir, "cert.pem"), "--resolve", `shop.example.com:${api.config.proxyTlsPort}:127.0.0.1`].concat([
          `https://shop.example.com:${api.config.proxyTlsPort}/`,
        ]),
        { stdout: "pipe", stderr: "pipe" },
      );
      expect(await new Response(curl.stdout).text()).toBe("v1");
      expect(await syncRoutes(api.services)).toMatchObject({ installed: [], routed: [], unrouted: [], uninstalled: [] });

      await db.delete(certificates).where(eq(certificates.name, "shop.example.com"));
      expect(await syncRoutes(api.services)).toMatchObject({ routed: ["shop.example.com"], uninstalled: ["shop.example.com"] });
      expect(api.services.proxy.readRoute("shop.example.com")?.certificate).toBeNull();
      expect(api.services.proxy.installedCertificates()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a deleted app's domain given to a new app answers with the new app through nginx", async () => {
    const paths = api.services.proxy.paths;
    expect(api.services.proxy.liveColor("shop")).not.toBeNull();
    const deleted = await api.request("DELETE", "/api/v1/apps/shop", { cookie, body: { confirm: "shop" } });
    expect(deleted.status).toBe(204);
    for (const path of [
      join(confDir(), "shop.conf"),
      paths.liveSocket("shop"),
      paths.slotSocket("shop", "blue"),
      paths.slotSocket("shop", "green"),
    ])
      expect(existsSync(path), path).toBe(false);
    expect((await get("shop.example.com")).status).toBe(404);

    const other = await createRepo(bunApp("store v1"));
    try {
      const created = await api.request("POST", "/api/v1/apps", {
        cookie,
        body: { name: "store", repoUrl: other.url, watchSeconds: 0, drainSeconds: 0, domains: ["shop.example.com"] },
      });
      expect(created.status).toBe(201);
      const res = await api.request("POST", "/api/v1/apps/store/deploy", { cookie, body: {} });
      await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
      const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
      expect(job.status).toBe("succeeded");
      const answer = await get("shop.example.com");
      expect(answer.status).toBe(200);
      expect(await answer.text()).toBe("store v1");
    } finally {
      other.cleanup();
    }
  });
});
