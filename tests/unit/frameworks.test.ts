import { describe, expect, test } from "bun:test";
import { detectProject, type ProjectFiles } from "../../backend/domain/detect.ts";

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
const app = (deps: Record<string, string>, scripts: Record<string, string> = { build: "x" }, extra: Record<string, string> = {}) =>
  project({ "package.json": JSON.stringify({ dependencies: deps, scripts }), "package-lock.json": "{}", ...extra });

describe("framework builds, starts and outputs", () => {
  test("Next.js standalone: assets copied in after the build, started with node on 127.0.0.1 (over scripts.start)", async () => {
    const r = await detectProject(
      app({ next: "15" }, { build: "next build", start: "next start" }, { "next.config.mjs": "export default { output: 'standalone' };" }),
      {},
    );
    expect(r.framework?.id).toBe("next");
    expect(r.runtime).toBe("node");
    expect(r.start).toBe("env HOSTNAME=127.0.0.1 node .next/standalone/server.js");
    expect(r.build).toBe(
      "npm run build && mkdir -p .next/standalone/.next && rm -rf .next/standalone/.next/static && cp -R .next/static .next/standalone/.next/static && if [ -d public ]; then rm -rf .next/standalone/public && cp -R public .next/standalone/public; fi",
    );
  });

  test("Next.js otherwise: scripts.start, else next start; output: 'export' is a static site in out/", async () => {
    expect((await detectProject(app({ next: "15" }, { build: "next build", start: "next start -H 0.0.0.0" }), {})).start).toBe(
      "next start -H 0.0.0.0",
    );
    expect((await detectProject(app({ next: "15" }), {})).start).toBe("next start");
    const exported = await detectProject(
      app({ next: "15" }, { build: "next build" }, { "next.config.js": 'module.exports = { output: "export" }' }),
      {},
    );
    expect(exported).toMatchObject({ runtime: "static", staticDir: "out", staticDirFixed: true, start: null });
  });

  test("SvelteKit: adapter-node starts node build; adapter-static serves build/", async () => {
    const node = await detectProject(app({ "@sveltejs/kit": "2", "@sveltejs/adapter-node": "5", vite: "6" }), {});
    expect(node).toMatchObject({ runtime: "node", start: "node build", build: "npm run build" });
    expect(node.framework?.id).toBe("sveltekit");
    const stat = await detectProject(app({ "@sveltejs/kit": "2", "@sveltejs/adapter-static": "3" }), {});
    expect(stat).toMatchObject({ runtime: "static", staticDir: "build", start: null });
  });

  test("Astro: @astrojs/node starts its entry; without it, dist/ is served (its dev-server scripts.start ignored)", async () => {
    expect((await detectProject(app({ astro: "5", "@astrojs/node": "9" }), {})).start).toBe("node ./dist/server/entry.mjs");
    const stat = await detectProject(app({ astro: "5" }, { build: "astro build", start: "astro dev" }), {});
    expect(stat).toMatchObject({ runtime: "static", staticDir: "dist", start: null });
  });

  test("Nuxt starts .output/server/index.mjs", async () => {
    expect((await detectProject(app({ nuxt: "3" }), {})).start).toBe("node .output/server/index.mjs");
  });

  test("React Router 7 and Remix start their servers", async () => {
    expect((await detectProject(app({ "@react-router/node": "7", "@react-router/serve": "7", "@react-router/dev": "7" }), {})).start).toBe(
      "react-router-serve ./build/server/index.js",
    );
    expect((await detectProject(app({ "@remix-run/node": "2", "@remix-run/serve": "2" }), {})).start).toBe("remix-serve ./build/index.js");
  });

  test("Hono and Elysia run on Bun from their entry file; Express and Fastify from scripts.start or theirs", async () => {
    const hono = await detectProject(app({ hono: "4" }, {}, { "src/index.ts": "" }), {});
    expect(hono).toMatchObject({ runtime: "bun", start: "bun src/index.ts" });
    const elysia = await detectProject(app({ elysia: "1" }, { start: "bun run src/index.ts" }), {});
    expect(elysia).toMatchObject({ runtime: "bun", start: "bun run src/index.ts" });
    expect((await detectProject(app({ express: "4" }, {}, { "server.js": "" }), {})).start).toBe("node server.js");
    expect((await detectProject(app({ fastify: "5" }, { start: "node app.js" }), {})).framework?.id).toBe("fastify");
  });

  test("Vite: a static site in dist/, or its build.outDir", async () => {
    expect(await detectProject(app({ vite: "6" }, { build: "vite build" }), {})).toMatchObject({ runtime: "static", staticDir: "dist" });
    const custom = await detectProject(
      app({ vite: "6" }, { build: "vite build" }, { "vite.config.ts": "export default { build: { outDir: 'www' } }" }),
      {},
    );
    expect(custom.staticDir).toBe("www");
  });

  test("a plain static site: index.html at the root with nothing to build", async () => {
    const r = await detectProject(project({ "index.html": "<h1>hi</h1>" }), {});
    expect(r).toMatchObject({ runtime: "static", staticDir: ".", framework: null, install: null });
  });

  test("settings always win over the framework", async () => {
    const r = await detectProject(app({ "@sveltejs/kit": "2", "@sveltejs/adapter-node": "5" }), {
      startCommand: "node custom.js",
      buildCommand: "make",
    });
    expect(r).toMatchObject({ start: "node custom.js", build: "make" });
    const out = await detectProject(app({ vite: "6" }, { build: "vite build" }), { outputDir: "public-build" });
    expect(out.staticDir).toBe("public-build");
  });

  test("every decision has a note", async () => {
    const r = await detectProject(app({ "@sveltejs/kit": "2", "@sveltejs/adapter-node": "5" }), {});
    expect(r.notes).toEqual([
      "Framework: SvelteKit (@sveltejs/kit in package.json).",
      "SvelteKit with adapter-node: node build (it reads PORT and HOST).",
      "Runtime node: SvelteKit starts with node.",
      "Package manager: npm (from package-lock.json).",
      "Install: npm ci --no-audit --no-fund.",
      "Start: node build (SvelteKit).",
      "Build: npm run build (scripts.build: x).",
    ]);
  });
});
