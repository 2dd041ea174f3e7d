import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { apps } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { connectGitHub, type GitHubServer, gitHubConfig, startGitHubServer } from "../helpers/github-server.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { freePort } from "../helpers/ports.ts";

const PUBLIC_URL = "http://localhost:3000";

describe(`repository check and detection preview (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let gh: GitHubServer;
  /** A second GitHub-like server on another origin: the token must never go there. */
  let elsewhere: GitHubServer;
  let bun: TestRepo;
  let site: TestRepo;
  let procfile: TestRepo;
  let nothing: TestRepo;
  /** The process's temporary directory for this test alone, to see the preview's checkout removed. */
  let temp: string;
  const previousTmp = process.env.TMPDIR;
  const answers: string[] = [];

  beforeAll(async () => {
    temp = mkdtempSync(join(tmpdir(), "sy-repocheck-"));
    process.env.TMPDIR = temp;
    bun = await createRepo({ ...bunApp("v1"), "bun.lock": "{}" }, "main", "the bun app");
    await bun.commit({ "FEATURE.md": "x" }, "a feature", "feature/x");
    site = await createRepo({
      "package.json": JSON.stringify({
        name: "site",
        private: true,
        scripts: { build: "vite build" },
        devDependencies: { vite: "^6.0.0" },
      }),
      "index.html": '<div id="app"></div><script type="module" src="/main.js"></script>',
      "main.js": "document.querySelector('#app').textContent = 'hi';",
    });
    procfile = await createRepo({
      "package.json": JSON.stringify({ name: "procs", private: true, dependencies: { express: "^5.0.0" } }),
      "package-lock.json": "{}",
      Procfile: "web: node server.js\nworker: node worker.js\nrelease: node migrate.js\n",
    });
    nothing = await createRepo({ "README.md": "# nothing to run" });
    gh = startGitHubServer({ repos: [{ owner: "acme", name: "shop", bare: bun.bare, private: true }] });
    elsewhere = startGitHubServer({ repos: [{ owner: "acme", name: "shop", bare: bun.bare }] });
    api = await createTestApi({ config: gitHubConfig(gh, PUBLIC_URL) });
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api?.close();
    gh?.stop();
    elsewhere?.stop();
    for (const r of [bun, site, procfile, nothing]) r?.cleanup();
    process.env.TMPDIR = previousTmp;
    if (previousTmp === undefined) delete process.env.TMPDIR;
    rmSync(temp, { recursive: true, force: true });
  });

  async function call(method: string, path: string, body?: unknown) {
    const res = await api.request(method, path, { cookie, ...(body === undefined ? {} : { body }) });
    answers.push(JSON.stringify(res.body));
    return res;
  }
  const create = (body: Record<string, unknown>) => call("POST", "/api/v1/apps", body);
  const detect = (query: Record<string, string>) => call("GET", `/api/v1/detect?${new URLSearchParams(query)}`);
  const issue = (res: { body: any }) => res.body.error?.details?.issues?.[0];
  const appRow = async (name: string) => (await api.services.db.select().from(apps).where(eq(apps.name, name)))[0];
  const leftovers = () => readdirSync(temp).filter((f) => f.startsWith("sy-detect-"));

  describe("creating an app", () => {
    test("a repository that is not there: 400 on repoUrl with git's reason, and no app", async () => {
      const missing = `file://${join(temp, "missing.git")}`;
      const res = await create({ name: "ghost", repoUrl: missing });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("validation_failed");
      expect(issue(res)).toMatchObject({ path: "repoUrl" });
      expect(res.body.error.message).toStartWith("repoUrl: could not read the repository:");
      expect(res.body.error.message).toContain("does not appear to be a git repository");
      expect(await appRow("ghost")).toBeUndefined();
    });

    test("a server that does not answer: 400 on repoUrl", async () => {
      const res = await create({ name: "ghost", repoUrl: `http://127.0.0.1:${freePort()}/acme/shop.git` });
      expect(res.status).toBe(400);
      expect(issue(res).path).toBe("repoUrl");
      expect(await appRow("ghost")).toBeUndefined();
    });

    test("a branch that is not there: 400 on branch, naming the branches there are", async () => {
      const res = await create({ name: "ghost", repoUrl: bun.url, branch: "mian" });
      expect(res.status).toBe(400);
      expect(issue(res).path).toBe("branch");
      expect(res.body.error.message).toBe("branch: there is no branch mian in the repository; it has main, feature/x.");
      expect(res.body.error.details.branches).toEqual(["main", "feature/x"]);
      expect(await appRow("ghost")).toBeUndefined();
    });

    test("a good repository and branch: 201, on any branch it has", async () => {
      const res = await create({ name: "good", repoUrl: bun.url });
      expect(res.status).toBe(201);
      expect(res.body.app).toMatchObject({ name: "good", repoUrl: bun.url, branch: "main" });
      expect((await create({ name: "good-feature", repoUrl: bun.url, branch: "feature/x" })).status).toBe(201);
    });

    test("a taken name is a 409 whatever the repository", async () => {
      const res = await create({ name: "good", repoUrl: `file://${join(temp, "missing.git")}` });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("app_exists");
    });
  });

  describe("GET /detect", () => {
    test("a Bun app: runtime, package manager, commands, PORT, the commit; the checkout is removed", async () => {
      const sha = (await Bun.$`git --git-dir=${bun.bare} rev-parse main`.text()).trim();
      const res = await detect({ repoUrl: bun.url, branch: "main" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        repoUrl: bun.url,
        branch: "main",
        runtime: "bun",
        packageManager: { name: "bun", source: "bun.lock" },
        framework: null,
        installCommand: "bun install --frozen-lockfile",
        buildCommand: "bun run build",
        startCommand: "bun server.ts",
        outputDir: null,
        procfile: null,
        port: { variable: "PORT" },
        commit: { sha, message: "the bun app", author: "Ada Lovelace" },
        problem: null,
      });
      expect(res.body.notes.length).toBeGreaterThan(0);
      expect(leftovers()).toEqual([]);
    });

    test("settings given in the query override detection", async () => {
      const res = await detect({ repoUrl: bun.url, startCommand: "bun other.ts", runtime: "node" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ branch: "main", runtime: "node", startCommand: "bun other.ts" });
    });

    test("a Vite site: static, served from dist/, no port of its own", async () => {
      const res = await detect({ repoUrl: site.url, branch: "main" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        runtime: "static",
        framework: { id: "vite", name: "Vite" },
        buildCommand: "bun run build",
        startCommand: null,
        outputDir: "dist",
        port: { variable: null },
      });
    });

    test("a Procfile app: web starts it, release runs first, the worker is listed", async () => {
      const res = await detect({ repoUrl: procfile.url, branch: "main" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        runtime: "node",
        packageManager: { name: "npm", source: "package-lock.json" },
        framework: { id: "express" },
        startCommand: "node server.js",
        releaseCommand: "node migrate.js",
        procfile: { web: "node server.js", release: "node migrate.js", others: ["worker"] },
      });
    });

    test("a repository with nothing to start: 200 with the problem a deploy would stop at", async () => {
      const res = await detect({ repoUrl: nothing.url, branch: "main" });
      expect(res.status).toBe(200);
      expect(res.body.problem).toContain("index.html");
      expect(res.body.runtime).toBeNull();
      expect(res.body.commit.message).toBe("initial commit");
    });

    test("bad input and git's refusals are 400s naming the field; nothing is left behind", async () => {
      const cases: Array<[Record<string, string>, string, RegExp]> = [
        [{}, "repoUrl", /^repoUrl is required/],
        [{ repoUrl: "file:relative" }, "repoUrl", /absolute path/],
        [{ repoUrl: "ssh://git@example.com/a.git" }, "repoUrl", /https/],
        [{ repoUrl: bun.url, branch: "-x" }, "branch", /valid branch/],
        [{ repoUrl: bun.url, runtime: "python" }, "runtime", /must be one of/],
        [{ repoUrl: bun.url, startCommand: "a\nb" }, "startCommand", /one line/],
        [{ repoUrl: bun.url, branch: "nope" }, "branch", /there is no branch nope/],
        [{ repoUrl: `file://${join(temp, "missing.git")}` }, "repoUrl", /does not appear to be a git repository/],
      ];
      for (const [query, field, message] of cases) {
        const res = await detect(query);
        expect({ query, status: res.status, field: issue(res)?.path }).toEqual({ query, status: 400, field });
        expect(res.body.error.message).toMatch(message);
      }
      expect(leftovers()).toEqual([]);
    });

    test("a viewer may not ask", async () => {
      const made = await call("POST", "/api/v1/users", {
        email: "v@example.com",
        name: "V",
        password: "correct-horse-battery",
        role: "viewer",
      });
      expect(made.status).toBe(201);
      const login = await api.request("POST", "/api/v1/auth/login", {
        body: { email: "v@example.com", password: "correct-horse-battery" },
      });
      const viewer = login.headers.getSetCookie()[0]?.split(";")[0] ?? "";
      const res = await api.request("GET", `/api/v1/detect?repoUrl=${encodeURIComponent(bun.url)}`, { cookie: viewer });
      expect(res.status).toBe(403);
    });
  });

  describe("a GitHub repository over git smart HTTP", () => {
    const authorized = (server: GitHubServer) => server.requests.filter((r) => r.path.startsWith("/acme/shop.git/"));

    test("without the token a private repository is refused: 400 on repoUrl", async () => {
      const res = await create({ name: "plain", repoUrl: `${gh.url}/acme/shop.git` });
      expect(res.status).toBe(400);
      expect(issue(res).path).toBe("repoUrl");
      expect(authorized(gh).length).toBeGreaterThan(0);
      expect(authorized(gh).every((r) => r.authorization === null)).toBe(true);
    });

    test("created from GitHub, the check sends the token as a header to GITHUB_URL's origin only, and it is never shown", async () => {
      expect(await connectGitHub(api.app, cookie, PUBLIC_URL)).toBe("/settings?github=connected");
      const [token] = [...gh.tokens.keys()];
      if (!token) throw new Error("no token issued");
      const basic = `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;

      const before = gh.requests.length;
      const res = await create({ name: "shop", github: { owner: "acme", repo: "shop" }, autoDeploy: false });
      expect(res.status).toBe(201);
      const gitCalls = gh.requests.slice(before).filter((r) => r.path.startsWith("/acme/shop.git/"));
      expect(gitCalls.length).toBeGreaterThan(0);
      expect(gitCalls.every((r) => r.authorization === basic && !r.query.includes(token) && !r.path.includes(token))).toBe(true);

      // The preview of a GitHub repository clones with the signed-in user's token the same way.
      const preview = await detect({ repoUrl: `${gh.url}/acme/shop.git` });
      expect(preview.status).toBe(200);
      expect(preview.body).toMatchObject({ runtime: "bun", startCommand: "bun server.ts" });

      // Another origin gets no token, so the same repository there is refused.
      const other = await detect({ repoUrl: `${elsewhere.url}/acme/shop.git` });
      expect(other.status).toBe(400);
      expect(issue(other).path).toBe("repoUrl");
      expect(authorized(elsewhere).length).toBeGreaterThan(0);
      expect(authorized(elsewhere).every((r) => r.authorization === null)).toBe(true);

      for (const answer of answers) {
        expect(answer).not.toContain(token);
        expect(answer).not.toContain(basic.slice("Basic ".length));
      }
      expect(leftovers()).toEqual([]);
    });
  });
});
