import { describe, expect, test } from "bun:test";
import { DetectError, detectProject, type ProjectFiles, startArgv } from "../../backend/domain/detect.ts";
import { releaseCommandOf } from "../../backend/domain/release-command.ts";

/** A checkout as detection sees it, held in memory: detection is a pure decision over these files. */
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

describe("project detection", () => {
  test("a Bun app with bun.lock: frozen install, build and start from package.json", async () => {
    const r = await detectProject(
      project({ "package.json": pkg({ scripts: { build: "tsc", start: "bun server.ts" } }), "bun.lock": "{}" }),
      {},
    );
    expect(r).toMatchObject({
      runtime: "bun",
      install: ["bun", "install", "--frozen-lockfile"],
      build: "bun run build",
      start: "bun server.ts",
    });
    expect(r.notes[0]).toBe("Runtime bun: found bun.lock.");
  });

  test("a Node app with package-lock.json uses npm ci and npm run build", async () => {
    const r = await detectProject(
      project({ "package.json": pkg({ scripts: { build: "x", start: "node s.js" } }), "package-lock.json": "{}" }),
      {},
    );
    expect(r).toMatchObject({
      runtime: "node",
      install: ["npm", "ci", "--no-audit", "--no-fund"],
      build: "npm run build",
      start: "node s.js",
    });
  });

  test("Procfile web: wins over scripts.start; settings win over both", async () => {
    const dir = project({
      "package.json": pkg({ scripts: { start: "bun a.ts" } }),
      Procfile: "worker: bun w.ts\nweb: bun web.ts --port $PORT\n",
    });
    expect((await detectProject(dir, {})).start).toBe("bun web.ts --port $PORT");
    const r = await detectProject(dir, { startCommand: "bun custom.ts", installCommand: "make deps", runtime: "node" });
    expect(r).toMatchObject({ runtime: "node", start: "bun custom.ts", install: ["/bin/sh", "-c", "make deps"] });
  });

  test("an entry file is found when there is no start script", async () => {
    expect((await detectProject(project({ "package.json": pkg({}), "server.ts": "" }), {})).start).toBe("bun server.ts");
    expect((await detectProject(project({ "package.json": pkg({ module: "src/app.ts" }), "src/app.ts": "" }), {})).start).toBe(
      "bun src/app.ts",
    );
  });

  test("static sites: index.html at the root or in a build output directory", async () => {
    const plain = await detectProject(project({ "index.html": "<h1>hi</h1>" }), {});
    expect(plain).toMatchObject({ runtime: "static", install: null, start: null, staticDir: "." });
    const built = await detectProject(project({ "package.json": pkg({ scripts: { build: "vite build" } }), "dist/index.html": "" }), {});
    expect(built).toMatchObject({ runtime: "static", staticDir: "dist", build: "bun run build", start: null });
  });

  test("nothing to start, or a broken package.json, is a DetectError that says what to do", async () => {
    await expect(detectProject(project({ "package.json": pkg({}) }), {})).rejects.toThrow("Set a start command in the app's settings.");
    await expect(detectProject(project({ "package.json": "{ nope" }), {})).rejects.toBeInstanceOf(DetectError);
    await expect(detectProject(project({ "README.md": "x" }), { runtime: "static" })).rejects.toThrow("A static site needs an index.html");
  });
});

describe("package managers", () => {
  const app = { "package.json": pkg({ scripts: { build: "x", start: "node s.js" } }) };

  test.each([
    ["package-lock.json", "npm", ["npm", "ci", "--no-audit", "--no-fund"], "npm run build"],
    ["pnpm-lock.yaml", "pnpm", ["pnpm", "install", "--frozen-lockfile"], "pnpm run build"],
    ["yarn.lock", "yarn", ["yarn", "install", "--frozen-lockfile"], "yarn run build"],
    ["bun.lock", "bun", ["bun", "install", "--frozen-lockfile"], "bun run build"],
  ])("%s: %s installs frozen and runs the build script", async (lock, name, install, build) => {
    const r = await detectProject(project({ ...app, [lock]: "" }), {});
    expect(r.packageManager).toEqual({ name: name as never, version: null, berry: false, source: lock });
    expect(r).toMatchObject({ install, build, installDir: "." });
  });

  test("Yarn 2+ (a .yarnrc.yml) installs with --immutable", async () => {
    const r = await detectProject(project({ ...app, "yarn.lock": "", ".yarnrc.yml": "nodeLinker: node-modules\n" }), {});
    expect(r.install).toEqual(["yarn", "install", "--immutable"]);
    expect(r.packageManager?.berry).toBe(true);
  });

  test("packageManager in package.json wins over the lock file, with its version (the hash dropped)", async () => {
    const files = project({
      "package.json": pkg({ packageManager: "pnpm@9.12.1+sha512.abc", scripts: { start: "node s.js" } }),
      "package-lock.json": "{}",
    });
    const r = await detectProject(files, {});
    expect(r.packageManager).toMatchObject({ name: "pnpm", version: "9.12.1", source: "packageManager: pnpm@9.12.1+sha512.abc" });
    // Its own lock file is missing: nothing to freeze.
    expect(r.install).toEqual(["pnpm", "install"]);
    expect(r.notes).toContain("Install: pnpm install (no lock file to freeze).");
  });

  test("the app's setting wins over both", async () => {
    const r = await detectProject(project({ ...app, "package-lock.json": "{}", "yarn.lock": "" }), { packageManager: "yarn" });
    expect(r.packageManager).toMatchObject({ name: "yarn", source: "the app's settings" });
    expect(r.install).toEqual(["yarn", "install", "--frozen-lockfile"]);
    expect(r.build).toBe("yarn run build");
  });

  test("packageManager: bun@… pins Bun itself unless a Bun version is set", async () => {
    const files = project({ "package.json": pkg({ packageManager: "bun@1.2.4", scripts: { start: "bun s.ts" } }), "bun.lock": "" });
    expect((await detectProject(files, {})).runtimes.bun).toEqual({ range: "1.2.4", source: "packageManager in package.json" });
    expect((await detectProject(files, { bunVersion: "1.1" })).runtimes.bun).toEqual({ range: "1.1", source: "the app's settings" });
  });

  test("no lock file and no field: Bun installs", async () => {
    const r = await detectProject(project(app), {});
    expect(r.packageManager).toMatchObject({ name: "bun", source: "no lock file" });
    expect(r.install).toEqual(["bun", "install"]);
  });
});

describe("monorepo root directory", () => {
  const repo = {
    "package.json": pkg({ workspaces: ["apps/*"] }),
    "pnpm-lock.yaml": "",
    ".nvmrc": "22\n",
    "apps/web/package.json": pkg({ scripts: { build: "vite build" }, devDependencies: { vite: "6" } }),
    "apps/api/package.json": pkg({ scripts: { start: "node server.js" } }),
    "apps/api/.bun-version": "1.2.3\n",
    "apps/own/package.json": pkg({ scripts: { start: "node s.js" } }),
    "apps/own/package-lock.json": "{}",
  };

  test("a workspace's lock file at the root: install at the root, build and serve in the app's directory", async () => {
    const r = await detectProject(project(repo), { rootDir: "apps/web" });
    expect(r).toMatchObject({
      rootDir: "apps/web",
      installDir: ".",
      install: ["pnpm", "install", "--frozen-lockfile"],
      build: "pnpm run build",
      runtime: "static",
      staticDir: "apps/web/dist",
      staticDirFixed: true,
    });
    expect(r.notes).toContain("Install at the repository root: its pnpm-lock.yaml covers the workspace.");
  });

  test("the app's own version files come first, then the repository root's", async () => {
    const r = await detectProject(project(repo), { rootDir: "apps/api" });
    expect(r.runtimes).toEqual({ bun: { range: "1.2.3", source: ".bun-version" }, node: { range: "22", source: ".nvmrc" } });
    expect(r.start).toBe("node server.js");
  });

  test("a package with its own lock file installs in its own directory", async () => {
    const r = await detectProject(project(repo), { rootDir: "apps/own" });
    expect(r).toMatchObject({ installDir: "apps/own", install: ["npm", "ci", "--no-audit", "--no-fund"] });
  });

  test("an output directory from the settings is relative to the root directory", async () => {
    const r = await detectProject(project(repo), { rootDir: "apps/web", outputDir: "build/client" });
    expect(r).toMatchObject({ staticDir: "apps/web/build/client", staticDirFixed: true });
  });

  test("a root directory that is not there is a DetectError", async () => {
    await expect(detectProject(project(repo), { rootDir: "apps/none" })).rejects.toThrow(
      "The root directory apps/none/ is not in the repository.",
    );
  });

  test("start runs in the root directory", () => {
    expect(startArgv("node server.js", "apps/api")).toEqual(["/bin/sh", "-c", "cd 'apps/api' && exec node server.js"]);
  });
});

describe("Procfile processes", () => {
  test("every line but web and release, names lower-cased; names that cannot be a process type are skipped with a note", async () => {
    const r = await detectProject(
      project({
        "package.json": pkg({}),
        Procfile:
          "web: bun web.ts\nrelease: bun migrate.ts\nWorker: bun worker.ts\nclock: bun clock.ts\n9lives: bun x.ts\nworker: bun again.ts\n",
      }),
      {},
    );
    expect(r.processes).toEqual({ worker: "bun worker.ts", clock: "bun clock.ts" });
    expect(r.notes.some((n) => n.startsWith("Procfile 9lives: skipped"))).toBe(true);
  });
});

describe("runtime versions in detection", () => {
  test("a setting wins over the files; a bad one is a DetectError naming its source", async () => {
    const files = project({ "package.json": pkg({ engines: { node: ">=20" }, scripts: { start: "node s.js" } }), ".nvmrc": "lts/*" });
    expect((await detectProject(files, { nodeVersion: "22" })).runtimes.node).toEqual({ range: "22", source: "the app's settings" });
    await expect(detectProject(files, {})).rejects.toThrow('Node version "lts/*" from .nvmrc is not a version or range');
  });
});

describe("release command", () => {
  const procfile = (text: string) => project({ "package.json": pkg({ scripts: { start: "bun s.ts" } }), Procfile: text });

  test("a Procfile release: line fills it, with a note in the detect output", async () => {
    const r = await detectProject(procfile("web: bun web.ts\nrelease:   bun run migrate.ts --yes  \n"), {});
    expect(r.release).toBe("bun run migrate.ts --yes");
    expect(r.start).toBe("bun web.ts");
    expect(r.notes).toContain("Release command: bun run migrate.ts --yes (Procfile release:).");
  });

  test("the app's setting wins over the Procfile", async () => {
    const r = await detectProject(procfile("release: bun old.ts\n"), { releaseCommand: "bun new.ts" });
    expect(r.release).toBe("bun new.ts");
    expect(r.notes).toContain("Release command: bun new.ts (from settings).");
  });

  test("none without a setting or a release: line; other Procfile kinds and look-alikes do not count", async () => {
    for (const text of ["web: bun web.ts\nworker: bun w.ts\n", "# release: bun x.ts\n", "releases: bun x.ts\n", "release:\n"]) {
      const r = await detectProject(procfile(text), {});
      expect(r.release).toBeNull();
      expect(r.notes.some((n) => n.startsWith("Release command"))).toBe(false);
    }
    expect((await detectProject(project({ "package.json": pkg({ scripts: { start: "bun s.ts" } }) }), {})).release).toBeNull();
  });

  test("a run again uses the setting, else the command the live release was deployed with", () => {
    expect(releaseCommandOf("bun a.ts", { details: { releaseCommand: "bun b.ts" } })).toBe("bun a.ts");
    expect(releaseCommandOf(null, { details: { releaseCommand: "bun b.ts", secretKeys: [] } })).toBe("bun b.ts");
    expect(releaseCommandOf(null, { details: { secretKeys: [] } })).toBeNull();
    expect(releaseCommandOf(null, { details: null })).toBeNull();
    expect(releaseCommandOf(null, null)).toBeNull();
  });
});

describe("start command argv", () => {
  test("a single simple command is exec'd so it receives signals itself", () => {
    expect(startArgv("bun server.ts --port=3000")).toEqual(["/bin/sh", "-c", "exec bun server.ts --port=3000"]);
  });
  test("shell syntax is left to the shell as written", () => {
    expect(startArgv("bun migrate.ts && bun server.ts")).toEqual(["/bin/sh", "-c", "bun migrate.ts && bun server.ts"]);
    expect(startArgv("PORT=$PORT bun s.ts")).toEqual(["/bin/sh", "-c", "PORT=$PORT bun s.ts"]);
  });
});
