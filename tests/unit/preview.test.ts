import { describe, expect, test } from "bun:test";
import { lsRemoteArgv, missingBranch, parseHeads } from "../../backend/commands/git.ts";
import type { ProjectFiles } from "../../backend/domain/detect.ts";
import { detectFramework, detectPackageManager, previewProject, readProcfile } from "../../backend/domain/preview.ts";

/** A checkout held in memory, as detection reads it. */
function project(files: Record<string, string>): ProjectFiles {
  const paths = Object.keys(files);
  return {
    exists: (path) => {
      const clean = path.replace(/^\.\//, "");
      return paths.includes(clean) || paths.some((p) => p.startsWith(`${clean}/`));
    },
    read: (path) => files[path.replace(/^\.\//, "")] ?? null,
  };
}
const pkg = (o: object) => JSON.stringify(o);

describe("package manager", () => {
  test("the packageManager field wins over lock files", () => {
    const files = project({ "package.json": pkg({ packageManager: "pnpm@9.1.0" }), "package-lock.json": "{}" });
    expect(detectPackageManager(files)).toEqual({ name: "pnpm", source: "packageManager: pnpm@9.1.0" });
  });

  test.each([
    ["bun.lock", "bun"],
    ["bun.lockb", "bun"],
    ["pnpm-lock.yaml", "pnpm"],
    ["yarn.lock", "yarn"],
    ["package-lock.json", "npm"],
  ])("%s means %s", (lock, name) => {
    expect(detectPackageManager(project({ "package.json": pkg({}), [lock]: "" }))).toEqual({ name, source: lock } as never);
  });

  test("an unknown packageManager falls back to the lock file; no lock file, no package.json: none", () => {
    expect(detectPackageManager(project({ "package.json": pkg({ packageManager: "deno@2" }), "yarn.lock": "" }))?.name).toBe("yarn");
    expect(detectPackageManager(project({ "package.json": pkg({}) }))).toBeNull();
    expect(detectPackageManager(project({ "index.html": "<h1>hi</h1>" }))).toBeNull();
  });
});

describe("framework", () => {
  const withDeps = (dependencies: Record<string, string>, devDependencies: Record<string, string> = {}) =>
    detectFramework(project({ "package.json": pkg({ dependencies, devDependencies }) }));

  test.each([
    [{ next: "15", react: "19" }, {}, "next"],
    [{}, { "@sveltejs/kit": "2", vite: "6" }, "sveltekit"],
    [{ astro: "5" }, {}, "astro"],
    [{ nuxt: "3" }, {}, "nuxt"],
    [{ "@remix-run/node": "2" }, { vite: "6" }, "react-router"],
    [{ "react-router": "7", "@react-router/node": "7" }, {}, "react-router"],
    [{ hono: "4" }, {}, "hono"],
    [{ elysia: "1" }, {}, "elysia"],
    [{ express: "5" }, {}, "express"],
    [{ fastify: "5" }, {}, "fastify"],
    [{ react: "19", "react-router": "7" }, { vite: "6" }, "vite"],
  ])("%p %p → %s", (deps, dev, id) => {
    expect(withDeps(deps, dev)?.id).toBe(id as never);
  });

  test("none from plain dependencies or without package.json", () => {
    expect(withDeps({ zod: "4" })).toBeNull();
    expect(detectFramework(project({ "index.html": "" }))).toBeNull();
    expect(detectFramework(project({ "package.json": "{not json" }))).toBeNull();
  });
});

describe("Procfile", () => {
  test("web, release and every other process type in order, each once", () => {
    const files = project({
      Procfile: "web: bun server.ts\nworker: bun worker.ts\n# note\nrelease: bun migrate.ts\nclock: bun clock.ts\nworker: again\n",
    });
    expect(readProcfile(files)).toEqual({ web: "bun server.ts", release: "bun migrate.ts", others: ["worker", "clock"] });
  });

  test("none without a Procfile", () => {
    expect(readProcfile(project({ "package.json": pkg({}) }))).toBeNull();
  });
});

describe("preview", () => {
  test("a Bun app: commands as shell text, PORT, no output directory", async () => {
    const p = await previewProject(
      project({
        "package.json": pkg({ scripts: { build: "bun build.ts", start: "bun server.ts" }, dependencies: { hono: "4" } }),
        "bun.lock": "",
      }),
      {},
    );
    expect(p).toMatchObject({
      runtime: "bun",
      packageManager: { name: "bun", source: "bun.lock" },
      framework: { id: "hono", name: "Hono", dependency: "hono" },
      installCommand: "bun install --frozen-lockfile",
      buildCommand: "bun run build",
      startCommand: "bun server.ts",
      outputDir: null,
      procfile: null,
      port: { variable: "PORT" },
      problem: null,
    });
    expect(p.notes.length).toBeGreaterThan(2);
  });

  test("a Vite site before its build: static, served from dist/ (or vite's outDir), no port", async () => {
    const vite = {
      "package.json": pkg({ scripts: { build: "vite build" }, devDependencies: { vite: "6" } }),
      "index.html": "<div id=app>",
    };
    const p = await previewProject(project(vite), {});
    expect(p).toMatchObject({
      runtime: "static",
      framework: { id: "vite" },
      outputDir: "dist",
      startCommand: null,
      port: { variable: null },
    });
    const custom = await previewProject(project({ ...vite, "vite.config.ts": "export default { build: { outDir: 'site' } }" }), {});
    expect(custom.outputDir).toBe("site");
  });

  test("a monorepo package: its root directory, the package manager of the workspace, runtime versions and processes", async () => {
    const p = await previewProject(
      project({
        "package.json": pkg({ workspaces: ["apps/*"] }),
        "pnpm-lock.yaml": "",
        ".nvmrc": "22",
        "apps/api/package.json": pkg({ scripts: { build: "tsc", start: "node dist/server.js" }, dependencies: { express: "4" } }),
        "apps/api/Procfile": "web: node dist/server.js\nworker: node dist/worker.js\n",
      }),
      { rootDir: "apps/api", bunVersion: "1.2" },
    );
    expect(p).toMatchObject({
      rootDir: "apps/api",
      runtime: "node",
      packageManager: { name: "pnpm", source: "pnpm-lock.yaml" },
      framework: { id: "express" },
      installCommand: "pnpm install --frozen-lockfile",
      buildCommand: "pnpm run build",
      startCommand: "node dist/server.js",
      versions: { bun: { range: "1.2", source: "the app's settings" }, node: { range: "22", source: ".nvmrc" } },
      processes: { worker: "node dist/worker.js" },
      problem: null,
    });
    expect(p.notes).toContain("Install at the repository root: its pnpm-lock.yaml covers the workspace.");
  });

  test("a version that is not one is the preview's problem", async () => {
    const p = await previewProject(project({ "package.json": pkg({ scripts: { start: "node s.js" } }), ".nvmrc": "lts/*" }), {});
    expect(p.problem).toContain('Node version "lts/*" from .nvmrc is not a version or range');
  });

  test("a plain static site is served from where its index.html is", async () => {
    expect((await previewProject(project({ "public/index.html": "<h1>hi</h1>" }), {})).outputDir).toBe("public");
    expect((await previewProject(project({ "index.html": "<h1>hi</h1>" }), {})).outputDir).toBe(".");
  });

  test("settings override detection, as they do for a deploy", async () => {
    const p = await previewProject(project({ "package.json": pkg({ scripts: { start: "bun server.ts" } }) }), {
      startCommand: "bun other.ts",
      installCommand: "bun install --production",
      runtime: "node",
    });
    expect(p).toMatchObject({ runtime: "node", startCommand: "bun other.ts", installCommand: "bun install --production" });
  });

  test("nothing to start: the deploy's reason, with what was found", async () => {
    const p = await previewProject(project({ "package.json": pkg({ packageManager: "npm@10.0.0" }), Procfile: "worker: bun w.ts" }), {});
    expect(p.problem).toStartWith("Found nothing to start");
    expect(p).toMatchObject({
      runtime: null,
      startCommand: null,
      packageManager: { name: "npm" },
      procfile: { web: null, others: ["worker"] },
    });
  });
});

describe("repository check", () => {
  const sha = (c: string) => c.repeat(40);

  test("ls-remote lists every head, after -- so a URL is never an option", () => {
    expect(lsRemoteArgv("file:///srv/a.git")).toEqual(["git", "ls-remote", "--heads", "--", "file:///srv/a.git"]);
  });

  test("heads are read by name; other lines are ignored", () => {
    const heads = parseHeads(`${sha("a")}\trefs/heads/main\n${sha("b")}\trefs/heads/feature/x\nwarning: something\n`);
    expect([...heads]).toEqual([
      ["main", sha("a")],
      ["feature/x", sha("b")],
    ]);
  });

  test("a branch that is there is fine; one that is not lists a few, the usual defaults first", () => {
    const heads = new Map(["zeta", "alpha", "main", "beta", "gamma", "delta", "develop"].map((n) => [n, sha("c")]));
    expect(missingBranch("alpha", heads)).toBeNull();
    expect(missingBranch("mian", heads)).toEqual({
      message: "there is no branch mian in the repository; it has main, develop, alpha, beta, delta and 2 more",
      branches: ["main", "develop", "alpha", "beta", "delta"],
    });
    expect(missingBranch("main", new Map())).toEqual({ message: "the repository has no branches yet: push a commit first", branches: [] });
  });
});
