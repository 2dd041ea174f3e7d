#!/usr/bin/env bun
/**
 * Serves a static site as an app slot: `bun static-server.ts <dir>` on PORT, run in the release
 * directory. Directory requests get index.html; paths without an extension fall back to
 * /index.html (single-page apps) when it exists. Nothing outside <dir> is reachable, and nothing
 * hidden inside it: dotfiles and dot-directories (.git, .env; .well-known excepted) and
 * node_modules answer 404 wherever they are, also when reached through a symbolic link.
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { extname, join, normalize, relative, resolve, sep } from "node:path";

const base = realpathSync(process.cwd());
const root = resolve(base, process.argv[2] ?? ".");
const port = Number(process.env.PORT ?? 3000);

// A served directory that is itself a link (dist -> ..) would publish what it points at.
if (!existsSync(root) || realpathSync(root) !== root) {
  console.error(`static-server: ${process.argv[2]} is not a directory of the release (a missing path or a symbolic link)`);
  process.exit(1);
}

/** True when a path relative to the root names something never served. */
function hidden(relativePath: string): boolean {
  return relativePath
    .split(/[\\/]/)
    .some((segment) => segment === "node_modules" || (segment.startsWith(".") && segment !== ".well-known"));
}

/** The file itself, after links, when it is inside the root and not hidden. */
function servable(path: string): string | null {
  try {
    const real = realpathSync(path);
    if (real !== root && !real.startsWith(root + sep)) return null;
    return hidden(relative(root, real)) ? null : real;
  } catch {
    return null;
  }
}

function file(path: string): string | null {
  try {
    const stat = statSync(path);
    if (stat.isFile()) return servable(path);
    if (stat.isDirectory() && existsSync(join(path, "index.html"))) return servable(join(path, "index.html"));
  } catch {}
  return null;
}

const notFound = () => new Response("Not found", { status: 404 });

const server = Bun.serve({
  port,
  hostname: process.env.HOST ?? "127.0.0.1",
  fetch(req) {
    if (req.method !== "GET" && req.method !== "HEAD")
      return new Response("Method not allowed", { status: 405, headers: { allow: "GET, HEAD" } });
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url).pathname);
    } catch {
      return new Response("Bad request", { status: 400 });
    }
    if (path.includes("\0")) return new Response("Bad request", { status: 400 });
    const clean = normalize(`/${path}`);
    // Refused before the single-page fallback, which would otherwise answer /.env with index.html.
    if (hidden(clean)) return notFound();
    const target = resolve(root, `.${clean}`);
    if (target !== root && !target.startsWith(root + sep)) return notFound();
    const found = file(target) ?? (extname(path) === "" ? (file(join(root, "200.html")) ?? file(join(root, "index.html"))) : null);
    if (!found) return notFound();
    return new Response(Bun.file(found));
  },
});

process.on("SIGTERM", async () => {
  await server.stop();
  process.exit(0);
});
