import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
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

  test("when nginx refuses the new file, the old one keeps serving, the job says why and the domains are put back", async () => {
    const stray = join(confDir(), "zz-someone-elses.conf");
    writeFileSync(stray, "this is not nginx;\n");
    try {
      const { res, job } = await patchDomains("shop", ["new.example.com"]);
      expect(res.status).toBe(200);
      expect(job.status).toBe("failed");
      expect(job.error).toContain("nginx refused the configuration for new.example.com");
      expect(job.error).toContain("put back to shop.example.com, www.shop.example.com");
      expect(job.error).toContain("unknown directive");
    } finally {
      rmSync(stray);
    }
    expect(await (await get("shop.example.com")).text()).toBe("v1");
    expect((await get("new.example.com")).status).toBe(404);
    expect((await api.request("GET", "/api/v1/apps/shop", { cookie })).body.app.domains).toEqual([
      "shop.example.com",
      "www.shop.example.com",
    ]);
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
