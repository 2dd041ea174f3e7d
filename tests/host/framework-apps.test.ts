import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Third-party apps, installed from npm and built for real, deployed through a panel and answered
 * through nginx: an Express app with package-lock.json, a pnpm app (pnpm is installed from npm:
 * the machine has none), a SvelteKit 2 app with adapter-node on a Node 22 pinned in its settings
 * (installed from npm; the machine's is older), a Next.js app with standalone output and an npm
 * workspace deployed from its root directory with the Node of its .nvmrc.
 */

/** Lock files are made as a user makes them, by the package manager itself, at set-up. */
async function lockFor(files: Record<string, string>, argv: string[], lockName: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "sy-lock-"));
  try {
    for (const [path, text] of Object.entries(files)) {
      const file = join(dir, path);
      await Bun.write(file, text);
    }
    await using proc = Bun.spawn(argv, { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, CI: "1" } });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}: ${stderr}`);
    return readFileSync(join(dir, lockName), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const expressFiles = {
  "package.json": JSON.stringify({ name: "express-app", private: true, main: "server.js", dependencies: { express: "^4.21.0" } }, null, 2),
  "server.js": `const express = require("express");
const app = express();
app.get("/", (req, res) => res.send("express on node " + process.version));
app.listen(Number(process.env.PORT), "127.0.0.1");
`,
};

const pnpmFiles = {
  "package.json": JSON.stringify(
    { name: "fastify-app", private: true, scripts: { start: "node server.js" }, dependencies: { fastify: "^5.0.0" } },
    null,
    2,
  ),
  "server.js": `const app = require("fastify")();
app.get("/", async () => "fastify installed by pnpm " + require("fs").existsSync("node_modules/.pnpm"));
app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
`,
};

const svelteKitFiles = {
  "package.json": JSON.stringify(
    {
      name: "kit-app",
      private: true,
      type: "module",
      scripts: { build: "vite build" },
      devDependencies: {
        "@sveltejs/adapter-node": "^5.2.0",
        "@sveltejs/kit": "^2.20.0",
        "@sveltejs/vite-plugin-svelte": "^5.0.0",
        svelte: "^5.20.0",
        vite: "^6.2.0",
      },
    },
    null,
    2,
  ),
  "svelte.config.js": `import adapter from "@sveltejs/adapter-node";
export default { kit: { adapter: adapter() } };
`,
  "vite.config.js": `import { sveltekit } from "@sveltejs/kit/vite";
import { defineConfig } from "vite";
export default defineConfig({ plugins: [sveltekit()] });
`,
  "src/app.html": `<!doctype html>
<html><head><meta charset="utf-8" />%sveltekit.head%</head><body><div>%sveltekit.body%</div></body></html>
`,
  "src/routes/+page.server.js": `export function load() { return { node: process.version }; }
`,
  "src/routes/+page.svelte": `<script>let { data } = $props();</script>
<h1>SvelteKit on node {data.node}</h1>
`,
};

const nextFiles = {
  "package.json": JSON.stringify(
    {
      name: "next-app",
      private: true,
      scripts: { build: "next build", start: "next start" },
      dependencies: { next: "^15.5.0", react: "^19.1.0", "react-dom": "^19.1.0" },
    },
    null,
    2,
  ),
  "next.config.mjs": "export default { output: 'standalone' };\n",
  "app/layout.js": `export default function RootLayout({ children }) { return <html><body>{children}</body></html>; }
`,
  "app/page.js": `export const dynamic = "force-dynamic";
export default function Page() { return <h1>{"Next.js standalone on node " + process.version}</h1>; }
`,
  "public/robots.txt": "User-agent: *\n",
};

const workspaceFiles = {
  "package.json": JSON.stringify({ name: "monorepo", private: true, workspaces: ["apps/*"] }, null, 2),
  "apps/api/package.json": JSON.stringify(
    { name: "api", private: true, scripts: { start: "node server.js" }, dependencies: { express: "^4.21.0" } },
    null,
    2,
  ),
  "apps/api/server.js": `const app = require("express")();
app.get("/", (req, res) => res.send("workspace api from " + process.cwd().split("/").slice(-2).join("/")));
app.listen(Number(process.env.PORT), "127.0.0.1");
`,
  "apps/api/.nvmrc": "22\n",
};

describe.skipIf(!findNginx())("framework apps from npm, deployed and answered through nginx", () => {
  let api: TestApi;
  let cookie: string;
  const repos: TestRepo[] = [];

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api?.close();
    for (const r of repos) r.cleanup();
  });

  async function deployApp(name: string, files: Record<string, string>, settings: Record<string, unknown> = {}) {
    const repo = await createRepo(files);
    repos.push(repo);
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name, repoUrl: repo.url, healthTimeoutSec: 60, buildTimeoutSec: 900, ...settings },
    });
    expect(created.status).toBe(201);
    const res = await api.request("POST", `/api/v1/apps/${name}/deploy`, { cookie, body: {} });
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 900_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
    const logs = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}/logs`, { cookie })).body;
    const lines = (logs.lines as Array<{ line: string }>).map((l) => l.line);
    if (job.status !== "succeeded") console.error(lines.join("\n"));
    expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
    const releases = (await api.request("GET", `/api/v1/apps/${name}/releases`, { cookie })).body.releases;
    return { lines, release: releases[0] };
  }

  async function throughNginx(name: string, path = "/"): Promise<string> {
    return waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${api.config.proxyPort}${path}`, { headers: { host: `${name}.localhost` } }).catch(
          () => null,
        );
        return res?.status === 200 ? await res.text() : null;
      },
      { timeoutMs: 30_000, what: `${name} through nginx` },
    );
  }

  test("an Express app with package-lock.json: npm ci, started from its main file", async () => {
    const lock = await lockFor(expressFiles, ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], "package-lock.json");
    const { lines, release } = await deployApp("express-app", { ...expressFiles, "package-lock.json": lock });
    expect(lines).toContain("Framework: Express (express in package.json).");
    expect(lines).toContain("$ npm ci --no-audit --no-fund");
    expect(release.details.packageManager).toBe("npm");
    expect(release.details.framework).toBe("express");
    expect(await throughNginx("express-app")).toStartWith("express on node v");
  }, 900_000);

  test("a pnpm app: pnpm is installed from npm into the shared cache and installs from pnpm-lock.yaml", async () => {
    const lock = await lockFor(pnpmFiles, ["npx", "--yes", "pnpm@10", "install", "--lockfile-only"], "pnpm-lock.yaml");
    const { lines, release } = await deployApp("pnpm-app", { ...pnpmFiles, "pnpm-lock.yaml": lock });
    expect(lines.some((l) => /^pnpm 10\.\d+\.\d+ from npm \(pnpm\) in .*\/cache\/tools\/pnpm@10/.test(l))).toBe(true);
    expect(lines).toContain("$ pnpm install --frozen-lockfile");
    expect(release.details.packageManager).toBe("pnpm");
    expect(await throughNginx("pnpm-app")).toBe("fastify installed by pnpm true");
  }, 900_000);

  test("SvelteKit with adapter-node on a pinned Node 22, installed from npm and shown in the release", async () => {
    const lock = await lockFor(svelteKitFiles, ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], "package-lock.json");
    const { lines, release } = await deployApp("kit-app", { ...svelteKitFiles, "package-lock.json": lock }, { nodeVersion: "22" });
    expect(lines).toContain("Start: node build (SvelteKit).");
    const node = release.details.versions.node as string;
    expect(node).toMatch(/^22\.\d+\.\d+$/);
    expect(release.details.versions.binDirs[0]).toEndWith(`/cache/runtimes/node/${node}/bin`);
    expect(await throughNginx("kit-app")).toContain(`SvelteKit on node v${node}`);
  }, 900_000);

  test("Next.js with standalone output: its assets copied in, started from .next/standalone/server.js", async () => {
    const lock = await lockFor(nextFiles, ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], "package-lock.json");
    const { lines } = await deployApp("next-app", { ...nextFiles, "package-lock.json": lock });
    expect(lines).toContain(
      "Start: env HOSTNAME=127.0.0.1 node .next/standalone/server.js (Next.js; scripts.start next start does not serve this build).",
    );
    const page = await throughNginx("next-app");
    expect(page).toContain("Next.js standalone on node v");
    // .next/static and public/ are served by the standalone server only once they are copied in.
    const chunk = /\/_next\/static\/chunks\/[^"]+\.js/.exec(page)?.[0];
    expect(chunk).toBeDefined();
    expect(await throughNginx("next-app", chunk)).toContain("self");
    expect(await throughNginx("next-app", "/robots.txt")).toBe("User-agent: *\n");
  }, 900_000);

  test("an npm workspace: installed at the repository root, started in its root directory with the .nvmrc's Node", async () => {
    const lock = await lockFor(workspaceFiles, ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], "package-lock.json");
    const { lines, release } = await deployApp("workspace-api", { ...workspaceFiles, "package-lock.json": lock }, { rootDir: "apps/api" });
    expect(lines).toContain("Install at the repository root: its package-lock.json covers the workspace.");
    expect(release.details.rootDir).toBe("apps/api");
    expect(release.details.versions.node).toMatch(/^22\./);
    expect(await throughNginx("workspace-api")).toBe("workspace api from apps/api");
  }, 900_000);

  test("a version nothing satisfies fails the deploy at detect, saying where it came from", async () => {
    const repo = await createRepo({ ...expressFiles, ".nvmrc": "7.99\n" });
    repos.push(repo);
    expect((await api.request("POST", "/api/v1/apps", { cookie, body: { name: "bad-node", repoUrl: repo.url } })).status).toBe(201);
    const res = await api.request("POST", "/api/v1/apps/bad-node/deploy", { cookie, body: {} });
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
    expect(job.status).toBe("failed");
    expect(job.error).toContain('No published Node version matches "7.99" (from .nvmrc)');
  }, 120_000);
});
