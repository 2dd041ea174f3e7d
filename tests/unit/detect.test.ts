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
