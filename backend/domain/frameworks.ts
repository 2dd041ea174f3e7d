/**
 * What each framework needs to build, start and serve: the command that starts its server from
 * the build's output, or the directory its static build leaves. Detection (detect.ts) uses it
 * after the app's settings and the Procfile, which always win.
 */
import type { FrameworkId } from "../contract/api.ts";
import type { ProjectFiles } from "./detect.ts";

export interface PackageJson {
  main?: string;
  module?: string;
  packageManager?: unknown;
  scripts?: Record<string, string>;
  engines?: Record<string, string>;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
}

export interface FrameworkInfo {
  id: FrameworkId;
  name: string;
  /** The dependency that told. */
  dependency: string;
}

/** Meta-frameworks before the servers and bundlers they are built on (a SvelteKit app depends on vite too). */
const FRAMEWORKS: Array<{ id: FrameworkId; name: string; match: (dep: string) => boolean }> = [
  { id: "next", name: "Next.js", match: (d) => d === "next" },
  { id: "sveltekit", name: "SvelteKit", match: (d) => d === "@sveltejs/kit" },
  { id: "astro", name: "Astro", match: (d) => d === "astro" },
  { id: "nuxt", name: "Nuxt", match: (d) => d === "nuxt" },
  // The router library alone is a dependency of many single-page apps: only its framework packages tell.
  { id: "react-router", name: "React Router / Remix", match: (d) => d.startsWith("@remix-run/") || d.startsWith("@react-router/") },
  { id: "hono", name: "Hono", match: (d) => d === "hono" },
  { id: "elysia", name: "Elysia", match: (d) => d === "elysia" },
  { id: "express", name: "Express", match: (d) => d === "express" },
  { id: "fastify", name: "Fastify", match: (d) => d === "fastify" },
  { id: "vite", name: "Vite", match: (d) => d === "vite" },
];

function dependencies(pkg: PackageJson): string[] {
  return [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
}

/** The framework, best-effort, from package.json's dependencies and devDependencies. */
export function detectFramework(pkg: PackageJson | null): FrameworkInfo | null {
  if (!pkg) return null;
  const deps = dependencies(pkg);
  for (const f of FRAMEWORKS) {
    const dependency = deps.find(f.match);
    if (dependency) return { id: f.id, name: f.name, dependency };
  }
  return null;
}

/** How a framework's app is built and run, relative to the app's directory. */
export interface FrameworkPlan {
  /** Shell text that starts the built server; null: the framework has no fixed one (scripts.start or an entry file decide). */
  start: string | null;
  /** When true, `start` is used even over scripts.start (which would be wrong for this output). */
  startWins: boolean;
  /** Run after the build script (Next's standalone output needs its assets copied in). */
  afterBuild: string | null;
  /** A static build's output directory; null when the framework runs a server. */
  staticDir: string | null;
  /** The runtime its start command needs. */
  runtime: "bun" | "node" | null;
  notes: string[];
}

const CONFIG_EXTENSIONS = ["js", "mjs", "cjs", "ts", "mts"];

function configText(files: ProjectFiles, base: string): string | null {
  for (const ext of CONFIG_EXTENSIONS) {
    const text = files.read(`${base}.${ext}`);
    if (text !== null) return text;
  }
  return null;
}

/** A `key: "value"` of a config file, when written literally (the usual case); null otherwise. */
function literal(text: string | null, key: string): string | null {
  const m = new RegExp(`${key}\\s*:\\s*["'\`]\\.?\\/?([A-Za-z0-9_./-]+?)\\/?["'\`]`).exec(text ?? "");
  return m && !m[1]?.includes("..") ? (m[1] as string) : null;
}

const none = (notes: string[] = []): FrameworkPlan => ({
  start: null,
  startWins: false,
  afterBuild: null,
  staticDir: null,
  runtime: null,
  notes,
});

/** The plan for a detected framework. */
export function frameworkPlan(framework: FrameworkInfo | null, pkg: PackageJson | null, files: ProjectFiles): FrameworkPlan {
  if (!framework || !pkg) return none();
  const deps = dependencies(pkg);
  const has = (d: string) => deps.includes(d);
  switch (framework.id) {
    case "next": {
      if (/output\s*:\s*["'`]standalone["'`]/.test(configText(files, "next.config") ?? "")) {
        return {
          start: "env HOSTNAME=127.0.0.1 node .next/standalone/server.js",
          startWins: true,
          // As Next's docs for standalone output require: the server does not serve these from elsewhere.
          afterBuild:
            "mkdir -p .next/standalone/.next && rm -rf .next/standalone/.next/static && cp -R .next/static .next/standalone/.next/static && if [ -d public ]; then rm -rf .next/standalone/public && cp -R public .next/standalone/public; fi",
          staticDir: null,
          runtime: "node",
          notes: [
            "Next.js with output: 'standalone': after the build, .next/static and public/ are copied into .next/standalone/, which starts with node on 127.0.0.1.",
          ],
        };
      }
      if (literal(configText(files, "next.config"), "output") === "export") {
        return {
          ...none(["Next.js with output: 'export': a static site."]),
          staticDir: literal(configText(files, "next.config"), "distDir") ?? "out",
        };
      }
      return { ...none(["Next.js: next start serves the build (it reads PORT)."]), start: "next start", runtime: "node" };
    }
    case "sveltekit": {
      if (has("@sveltejs/adapter-node")) {
        const out = literal(configText(files, "svelte.config"), "out") ?? "build";
        return { ...none([`SvelteKit with adapter-node: node ${out} (it reads PORT and HOST).`]), start: `node ${out}`, runtime: "node" };
      }
      if (has("@sveltejs/adapter-static")) {
        const out = literal(configText(files, "svelte.config"), "pages") ?? "build";
        return { ...none(["SvelteKit with adapter-static: a static site."]), staticDir: out };
      }
      return none([
        "SvelteKit without adapter-node or adapter-static: its adapter builds nothing this server can run; add @sveltejs/adapter-node (or set a start command).",
      ]);
    }
    case "astro": {
      const outDir = literal(configText(files, "astro.config"), "outDir") ?? "dist";
      if (has("@astrojs/node")) {
        return {
          ...none([`Astro with @astrojs/node: node ./${outDir}/server/entry.mjs (it reads PORT and HOST).`]),
          start: `node ./${outDir}/server/entry.mjs`,
          runtime: "node",
        };
      }
      return { ...none([`Astro without a server adapter: a static site in ${outDir}/.`]), staticDir: outDir };
    }
    case "nuxt":
      return {
        ...none(["Nuxt: node .output/server/index.mjs (it reads PORT and HOST)."]),
        start: "node .output/server/index.mjs",
        runtime: "node",
      };
    case "react-router": {
      if (has("@react-router/dev") || has("@react-router/serve")) {
        return {
          ...none(["React Router: react-router-serve ./build/server/index.js (from @react-router/serve; it reads PORT)."]),
          start: "react-router-serve ./build/server/index.js",
          runtime: "node",
        };
      }
      return {
        ...none(["Remix: remix-serve ./build/index.js (from @remix-run/serve; it reads PORT)."]),
        start: "remix-serve ./build/index.js",
        runtime: "node",
      };
    }
    case "hono":
    case "elysia":
      return { ...none([`${framework.name}: started with Bun from scripts.start or its entry file.`]), runtime: "bun" };
    case "express":
    case "fastify":
      return none([`${framework.name}: started from scripts.start or its entry file.`]);
    case "vite": {
      const outDir = literal(configText(files, "vite.config"), "outDir") ?? "dist";
      return { ...none([`Vite: a static site in ${outDir}/.`]), staticDir: outDir };
    }
  }
}
