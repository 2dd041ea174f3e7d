import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
import { StaticSiteError, staticSites } from "../../backend/adapters/proxy/static.ts";
import { releases } from "../../backend/db/schema/index.ts";
import { reconcileSlots } from "../../backend/jobs/reconcile.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { startLoad } from "../helpers/load.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * A Vite site, installed from npm and built for real, served by nginx straight from its dist/:
 * hashed assets cached for a year, the repository's files and every link out of dist/ refused,
 * the single-page fallback a setting, a deploy under load that fails no request, a rollback, and
 * a custom domain through the router.
 */

/** The build also leaves links in dist/, as a hostile repository could: to /etc/passwd and to its own .git. */
function site(heading: string): Record<string, string> {
  return {
    "package.json": JSON.stringify(
      {
        name: "vite-site",
        private: true,
        type: "module",
        scripts: { build: "vite build && ln -s /etc/passwd dist/passwd.txt && ln -s ../.git/config dist/git.txt" },
        devDependencies: { vite: "^6.2.0" },
      },
      null,
      2,
    ),
    "index.html": `<!doctype html>
<html>
  <head><title>${heading}</title></head>
  <body>
    <h1 id="heading">${heading}</h1>
    <script type="module" src="/src/main.js"></script>
  </body>
</html>
`,
    "src/main.js": `import "./style.css";\ndocument.querySelector("#heading").dataset.built = ${JSON.stringify(heading)};\n`,
    "src/style.css": `h1 { color: rebeccapurple; }\n`,
  };
}

describe.skipIf(!findNginx())(`static sites served by nginx (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;
  const url = (path: string) => `http://127.0.0.1:${api.config.proxyPort}${path}`;
  const get = (path: string, host = "site.localhost") => fetch(url(path), { headers: { host } });

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    repo = await createRepo(site("first build"), "main", "first");
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: "site", repoUrl: repo.url, healthTimeoutSec: 20, watchSeconds: 1, drainSeconds: 1 },
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  async function run(path: string, body: unknown = {}) {
    const res = await api.request("POST", `/api/v1/apps/site/${path}`, { cookie, body });
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 300_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
    if (job.status !== "succeeded") {
      const logs = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}/logs`, { cookie })).body;
      throw new Error(`${path} ${job.status}: ${job.error}\n${JSON.stringify(logs).slice(-3000)}`);
    }
    return job;
  }

  test("the built dist/ is what answers: hashed assets cached for a year, HTML revalidated", async () => {
    await run("deploy");
    const home = await get("/");
    expect(home.status).toBe(200);
    expect(home.headers.get("content-type")).toStartWith("text/html");
    expect(home.headers.get("cache-control")).toBe("no-cache");
    const html = await home.text();
    expect(html).toContain("first build");
    // Vite rewrote the entry to its hashed bundle: the source is not what is served.
    expect(html).not.toContain("/src/main.js");
    const script = /src="(\/assets\/index-[A-Za-z0-9_-]{8,}\.js)"/.exec(html)?.[1];
    expect(script).toBeString();
    const asset = await get(script as string);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toStartWith("text/javascript");
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await asset.text()).toContain("first build");

    // No process runs for it: the slot shows a release and no pid.
    const slots = (await api.request("GET", "/api/v1/apps/site/slots", { cookie })).body.slots as Array<Record<string, any>>;
    const live = slots.find((s) => s.state === "live");
    expect(live).toBeDefined();
    expect(JSON.stringify(live)).toContain('"pid":null');
  });

  test("the repository's files, dotfiles and links out of dist/ answer 404; missing paths too", async () => {
    for (const path of [
      "/.git/config",
      "/%2Egit/config",
      "/.git/HEAD",
      "/package.json",
      "/src/main.js",
      "/passwd.txt",
      "/git.txt",
      "/missing",
      "/assets/index-00000000.js",
    ]) {
      const res = await get(path);
      const body = await res.text();
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(body).not.toContain("root:");
      expect(body).not.toContain("[core]");
    }
  });

  test("the single-page fallback, once on, answers routes with index.html, and never a missing asset", async () => {
    expect((await get("/some/route")).status).toBe(404);
    const changed = await api.request("PATCH", "/api/v1/apps/site", { cookie, body: { spaFallback: true } });
    expect(changed.status).toBe(200);
    const route = await get("/some/route");
    expect(route.status).toBe(200);
    expect(route.headers.get("cache-control")).toBe("no-cache");
    expect(await route.text()).toContain("first build");
    expect((await get("/assets/gone-12345678.js")).status).toBe(404);
    expect((await get("/.env")).status).toBe(404);
  });

  test("a second deploy switches under load with no failed request; a rollback brings the first build back", async () => {
    const releasesBefore = (await api.request("GET", "/api/v1/apps/site/releases", { cookie })).body.releases as Array<{
      id: string;
      number: number;
    }>;
    const first = releasesBefore.find((r) => r.number === 1);
    expect(first).toBeDefined();

    await repo.commit(site("second build"), "second");
    const load = startLoad({ url: url("/"), host: "site.localhost", concurrency: 4 });
    await waitFor(async () => (await get("/")).status === 200, { timeoutMs: 10_000, what: "the site answering" });
    await run("deploy");
    await waitFor(async () => (await (await get("/")).text()).includes("second build"), { timeoutMs: 10_000, what: "the second build" });
    const result = await load.stop();
    expect(result.requests).toBeGreaterThan(0);
    expect({ failed: result.failed, non2xx: result.non2xx, errors: result.errors.slice(0, 3) }).toEqual({
      failed: 0,
      non2xx: 0,
      errors: [],
    });

    const rollback = startLoad({ url: url("/"), host: "site.localhost", concurrency: 4 });
    await run("rollback", { releaseId: first?.id });
    const back = await rollback.stop();
    expect({ failed: back.failed, non2xx: back.non2xx }).toEqual({ failed: 0, non2xx: 0 });
    const home = await (await get("/")).text();
    expect(home).toContain("first build");
    expect(home).not.toContain("second build");
  });

  test("a custom domain serves the site through the router, with the same rules", async () => {
    const changed = await api.request("PATCH", "/api/v1/apps/site", { cookie, body: { domains: ["site.example.com"] } });
    expect(changed.status).toBe(200);
    if (changed.body.job) await api.services.orchestrator.waitFor(changed.body.job.id, 60_000);
    await waitFor(async () => (await get("/", "site.example.com")).status === 200, { timeoutMs: 20_000, what: "the route" });
    const home = await get("/", "site.example.com");
    const html = await home.text();
    expect(html).toContain("first build");
    const script = /src="(\/assets\/index-[A-Za-z0-9_-]{8,}\.js)"/.exec(html)?.[1] as string;
    const asset = await get(script, "site.example.com");
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    for (const path of ["/.git/config", "/passwd.txt", "/git.txt", "/package.json"]) {
      expect({ path, status: (await get(path, "site.example.com")).status }).toEqual({ path, status: 404 });
    }
    expect((await get("/some/route", "site.example.com")).status).toBe(200);

    // Requests through the router are counted for the app like its own host's.
    const log = await Bun.file(api.services.proxy.paths.accessLog("site")).text();
    expect(log).toContain('"host":"site.example.com"');
  });

  test("reconciling after a restart finds the site's slots running: nothing is rerouted or marked down", async () => {
    const before = (await api.request("GET", "/api/v1/apps/site", { cookie })).body.app;
    const tally = await reconcileSlots(api.services);
    expect(tally.rerouted).toBe(0);
    const after = (await api.request("GET", "/api/v1/apps/site", { cookie })).body.app;
    expect({ status: after.status, liveColor: after.liveColor }).toEqual({ status: before.status, liveColor: before.liveColor });
    expect(await (await get("/")).text()).toContain("first build");
  });
});

describe.skipIf(!findNginx())(`an app that changes between a process and a static site (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;
  const server = {
    "package.json": JSON.stringify({ name: "mixed", private: true, scripts: { start: "bun server.ts" } }),
    "server.ts": `Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response("from a process") });\n`,
  };
  const get = () => fetch(`http://127.0.0.1:${api.config.proxyPort}/`, { headers: { host: "mixed.localhost" } });

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    repo = await createRepo(server, "main", "process");
    const body = { name: "mixed", repoUrl: repo.url, healthTimeoutSec: 20, watchSeconds: 0, drainSeconds: 1 };
    expect((await api.request("POST", "/api/v1/apps", { cookie, body })).status).toBe(201);
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  async function run(path: string, body: unknown = {}) {
    const res = await api.request("POST", `/api/v1/apps/mixed/${path}`, { cookie, body });
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 300_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
    expect({ path, status: job.status, error: job.error }).toEqual({ path, status: "succeeded", error: null });
  }
  const releaseIds = async () =>
    ((await api.request("GET", "/api/v1/apps/mixed/releases", { cookie })).body.releases as Array<{ id: string; number: number }>)
      .sort((a, b) => a.number - b.number)
      .map((r) => r.id);

  test("process → static → process, with no failed request; a release from before nginx served sites is served by nginx", async () => {
    await run("deploy");
    expect(await (await get()).text()).toBe("from a process");

    await repo.commit({ "package.json": null, "server.ts": null, "index.html": "<h1>a plain site</h1>" }, "static");
    const load = startLoad({ url: `http://127.0.0.1:${api.config.proxyPort}/`, host: "mixed.localhost", concurrency: 4 });
    await run("deploy");
    expect(await (await get()).text()).toContain("a plain site");
    const [processRelease, staticRelease] = await releaseIds();
    await run("rollback", { releaseId: processRelease });
    expect(await (await get()).text()).toBe("from a process");
    const result = await load.stop();
    expect({ failed: result.failed, non2xx: result.non2xx }).toEqual({ failed: 0, non2xx: 0 });

    // As a release made by an earlier version records it: a Bun process serving the directory.
    await api.services.db
      .update(releases)
      .set({ startCommand: [process.execPath, "/opt/switchyard/old/backend/adapters/static-server.ts", "."], details: {} })
      .where(eq(releases.id, staticRelease as string));
    await run("rollback", { releaseId: staticRelease });
    expect(await (await get()).text()).toContain("a plain site");
  });
});

describe("publishing a static slot", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-static-"));
  const id = (n: number) => `0b6e8a3c-2f1d-4c4e-9a51-6f0d2b7c9e1${n}`;
  const release = (n: number) => join(dataDir, "apps", "blog", "releases", id(n));
  const sites = staticSites(dataDir);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  test("an output directory that is a link out of the release is refused", () => {
    mkdirSync(join(release(0), "real"), { recursive: true });
    writeFileSync(join(release(0), "real", "index.html"), "hi");
    symlinkSync("/etc", join(release(0), "dist"));
    expect(() => sites.publish("blog", "blue", { id: id(0), dir: release(0), outputDir: "dist" })).toThrow(StaticSiteError);
    expect(() => sites.publish("blog", "blue", { id: id(0), dir: release(0), outputDir: "../.." })).toThrow(StaticSiteError);
    expect(sites.slot("blog", "blue")).toBeNull();
  });

  test("the copy has the site's files only: no links, no .git, no node_modules; copies no slot uses are removed", () => {
    symlinkSync("/etc/passwd", join(release(0), "real", "passwd"));
    mkdirSync(join(release(0), "real", "deep", ".git"), { recursive: true });
    mkdirSync(join(release(0), "real", "node_modules", "x"), { recursive: true });
    writeFileSync(join(release(0), "real", "deep", "page.html"), "deep");
    symlinkSync(dataDir, join(release(0), "real", "deep", "data"));
    const published = sites.publish("blog", "green", { id: id(0), dir: release(0), outputDir: "real" });
    expect(published.skippedLinks.sort()).toEqual(["deep/data", "passwd"]);
    expect(readdirSync(published.dir).sort()).toEqual(["deep", "index.html"]);
    expect(readdirSync(join(published.dir, "deep"))).toEqual(["page.html"]);
    expect(sites.slot("blog", "green")).toMatchObject({ dir: published.dir, releaseId: id(0) });
    sites.switchTo("blog", "green");
    expect(sites.liveColor("blog")).toBe("green");

    for (const n of [1, 2]) {
      mkdirSync(release(n), { recursive: true });
      writeFileSync(join(release(n), "index.html"), `v${n}`);
      sites.publish("blog", "blue", { id: id(n), dir: release(n), outputDir: "." });
    }
    // The live copy and the blue slot's newest stay; the one blue served before is gone.
    expect(readdirSync(join(dataDir, "static", "blog", "releases")).sort()).toEqual([id(0), id(2)]);
    sites.unpublish("blog", "green");
    expect(sites.liveColor("blog")).toBeNull();
  });
});
