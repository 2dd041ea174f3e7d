#!/usr/bin/env bun
/**
 * Serves a static site as an app slot: `bun static-server.ts <dir>` on PORT. Directory
 * requests get index.html; paths without an extension fall back to /index.html (single-page
 * apps) when it exists; nothing outside <dir> is reachable.
 */
import { existsSync, statSync } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";

const root = resolve(process.argv[2] ?? ".");
const port = Number(process.env.PORT ?? 3000);

function file(path: string): string | null {
  try {
    const stat = statSync(path);
    if (stat.isFile()) return path;
    if (stat.isDirectory() && existsSync(join(path, "index.html"))) return join(path, "index.html");
  } catch {}
  return null;
}

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
    const target = resolve(root, `.${normalize(`/${path}`)}`);
    if (target !== root && !target.startsWith(root + sep)) return new Response("Not found", { status: 404 });
    const found = file(target) ?? (extname(path) === "" ? (file(join(root, "200.html")) ?? file(join(root, "index.html"))) : null);
    if (!found) return new Response("Not found", { status: 404 });
    return new Response(Bun.file(found));
  },
});

process.on("SIGTERM", async () => {
  await server.stop();
  process.exit(0);
});
