import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { apps } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { connectGitHub, type GitHubServer, gitHubConfig, startGitHubServer } from "../helpers/github-server.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

const PUBLIC_URL = "http://localhost:3000";
/** What a slot's supervisor may carry of the panel's environment: where programs and the home directory are. */
const SUPERVISOR_ENV = ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"];

/** A Vite-like project: index.html at the root is the source; the build writes dist/. */
const viteLike = {
  "package.json": JSON.stringify({ name: "site", private: true, scripts: { build: "bun build.ts" } }, null, 2),
  "index.html": '<!doctype html><script type="module" src="/src/main.js"></script>',
  "src/main.js": "console.log('source');\n",
  ".env": "VITE_SECRET=from-the-repository\n",
  "node_modules/x/package.json": JSON.stringify({ name: "x", version: "1.0.0" }),
  "build.ts": `import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
mkdirSync("dist/assets", { recursive: true });
mkdirSync("dist/node_modules/y", { recursive: true });
writeFileSync("dist/index.html", '<!doctype html><script type="module" src="/assets/app.js"></script><h1>built</h1>');
writeFileSync("dist/assets/app.js", "console.log('built app');\\n");
writeFileSync("dist/.secret", "hidden\\n");
writeFileSync("dist/node_modules/y/package.json", "{}\\n");
symlinkSync("../.git/config", "dist/leak.txt");
symlinkSync("../package.json", "dist/pkg.json");
`,
};

/** Answers the environment of its parent process (the slot's supervisor). */
const parentEnvApp = {
  "package.json": JSON.stringify({ name: "peek", private: true, scripts: { start: "bun server.ts" } }),
  "server.ts": `const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch() {
    try {
      const environ = await Bun.file("/proc/" + process.ppid + "/environ").text();
      return Response.json({ ppid: process.ppid, env: environ.split("\\0").filter(Boolean), error: null });
    } catch (error) {
      return Response.json({ ppid: process.ppid, env: null, error: error.code ?? String(error) });
    }
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
};

describe(`static output, GitHub token and panel environment (${TEST_DB})`, () => {
  let gh: GitHubServer;
  let evil: GitHubServer;
  let api: TestApi;
  let cookie: string;
  const repos: TestRepo[] = [];

  beforeAll(async () => {
    const shop = await createRepo(bunApp("v1"), "main", "v1");
    const stolen = await createRepo(bunApp("evil"), "main", "evil");
    repos.push(shop, stolen);
    gh = startGitHubServer({ repos: [{ owner: "acme", name: "shop", bare: shop.bare, private: true }] });
    // Another host speaking git over plain http, recording every request's Authorization header.
    evil = startGitHubServer({ repos: [{ owner: "evil", name: "repo", bare: stolen.bare }] });
    api = await createTestApi({
      background: true,
      config: gitHubConfig(gh, PUBLIC_URL),
    });
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api?.close();
    gh?.stop();
    evil?.stop();
    for (const r of repos) r.cleanup();
  });

  const call = (method: string, path: string, body?: unknown) =>
    api.request(method, path, { cookie, ...(body === undefined ? {} : { body }) });

  async function deployed(name: string) {
    const res = await call("POST", `/api/v1/apps/${name}/deploy`, {});
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    const { status, error } = (await call("GET", `/api/v1/jobs/${res.body.job.id}`)).body.job as { status: string; error: string | null };
    return { status, error };
  }

  const viaNginx = (app: string, path: string) =>
    fetch(`http://127.0.0.1:${api.config.proxyPort}${path}`, { headers: { host: `${app}.localhost` } });

  test("a built static site serves its build output only: no repository files, dotfiles or node_modules", async () => {
    const site = await createRepo(viteLike);
    repos.push(site);
    expect((await call("POST", "/api/v1/apps", { name: "site", repoUrl: site.url, healthTimeoutSec: 20, watchSeconds: 0 })).status).toBe(
      201,
    );
    expect(await deployed("site")).toEqual({ status: "succeeded", error: null });

    const asset = await viaNginx("site", "/assets/app.js");
    expect(asset.status).toBe(200);
    expect(await asset.text()).toContain("built app");
    expect(await (await viaNginx("site", "/")).text()).toContain("built");
    for (const path of [
      "/.git/config",
      "/.git/HEAD",
      "/package.json",
      "/build.ts",
      "/src/main.js",
      "/node_modules/x/package.json",
      "/.env",
      "/.secret",
      "/node_modules/y/package.json",
      "/%2Egit/config",
      "/assets/../.secret",
      "/leak.txt",
      "/pkg.json",
    ]) {
      const res = await viaNginx("site", path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
  });

  test("a plain index.html at the repository root is still a site, without its .git", async () => {
    const plain = await createRepo({ "index.html": "<h1>plain</h1>", ".htpasswd": "admin:x\n", "about.html": "<p>about</p>" });
    repos.push(plain);
    expect((await call("POST", "/api/v1/apps", { name: "plain", repoUrl: plain.url, healthTimeoutSec: 20, watchSeconds: 0 })).status).toBe(
      201,
    );
    expect(await deployed("plain")).toEqual({ status: "succeeded", error: null });
    expect(await (await viaNginx("plain", "/")).text()).toContain("plain");
    expect((await viaNginx("plain", "/about.html")).status).toBe(200);
    for (const path of ["/.git/config", "/.htpasswd", "/.git/"]) {
      expect({ path, status: (await viaNginx("plain", path)).status }).toEqual({ path, status: 404 });
    }
  });

  test("pointing a GitHub app at another host unlinks its token: that host never gets an Authorization header", async () => {
    expect(await connectGitHub(api.app, cookie, PUBLIC_URL)).toBe("/settings?github=connected");

    const created = await call("POST", "/api/v1/apps", {
      name: "shop",
      github: { owner: "acme", repo: "shop" },
      healthTimeoutSec: 20,
      watchSeconds: 0,
      drainSeconds: 0,
    });
    expect(created.status).toBe(201);
    expect(created.body.app.githubRepo).toBe("acme/shop");
    const [linked] = await api.services.db.select().from(apps).where(eq(apps.name, "shop"));
    const linkedAccount = linked?.githubAccountId as string;
    expect(linkedAccount).toBeString();
    expect(gh.hooks).toHaveLength(1);
    expect(await deployed("shop")).toEqual({ status: "succeeded", error: null });
    expect(gh.requests.some((r) => r.path.startsWith("/acme/shop.git/") && r.authorization?.startsWith("Basic "))).toBe(true);

    const changed = await call("PATCH", "/api/v1/apps/shop", { repoUrl: `${evil.url}/evil/repo.git` });
    expect(changed.status).toBe(200);
    expect(changed.body.app).toMatchObject({ repoUrl: `${evil.url}/evil/repo.git`, githubRepo: null });
    expect(gh.hooks).toHaveLength(0);

    await deployed("shop");
    const gitCalls = evil.requests.filter((r) => r.path.startsWith("/evil/repo.git/"));
    expect(gitCalls.length).toBeGreaterThan(0);
    expect(gitCalls.map((r) => r.authorization)).toEqual(gitCalls.map(() => null));

    // An app still linked while its URL points elsewhere (changed before unlinking existed): the clone sends no token either.
    await api.services.db.update(apps).set({ githubRepo: "acme/shop", githubAccountId: linkedAccount }).where(eq(apps.name, "shop"));
    const before = evil.requests.length;
    await deployed("shop");
    const again = evil.requests.slice(before).filter((r) => r.path.startsWith("/evil/repo.git/"));
    expect(again.length).toBeGreaterThan(0);
    expect(again.map((r) => r.authorization)).toEqual(again.map(() => null));
  });

  test("an app reading its supervisor's environment finds nothing of the panel's", async () => {
    // The panel here is this test process; what it was started with (TEST_DB, PWD…) is its environment.
    const panelOnly = Object.keys(process.env).filter((name) => !SUPERVISOR_ENV.includes(name));
    expect(panelOnly.length).toBeGreaterThan(0);
    const peek = await createRepo(parentEnvApp);
    repos.push(peek);
    expect((await call("POST", "/api/v1/apps", { name: "peek", repoUrl: peek.url, healthTimeoutSec: 20, watchSeconds: 0 })).status).toBe(
      201,
    );
    expect(await deployed("peek")).toEqual({ status: "succeeded", error: null });
    const seen = (await (await viaNginx("peek", "/")).json()) as { ppid: number; env: string[] | null; error: string | null };
    expect(seen.ppid).toBeGreaterThan(1);
    // A panel run as root runs the app as another user, which may not read it at all; what the
    // supervisor was given is then read here.
    if (process.getuid?.() === 0) expect(seen.error).toBe("EACCES");
    const environ = seen.env ?? readFileSync(`/proc/${seen.ppid}/environ`, "utf8").split("\0").filter(Boolean);
    const names = environ.map((line) => line.slice(0, line.indexOf("=")));
    expect(names.filter((name) => panelOnly.includes(name))).toEqual([]);
    expect(names.filter((name) => !SUPERVISOR_ENV.includes(name))).toEqual([]);
  });
});
