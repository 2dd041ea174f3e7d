import { join, normalize, resolve, sep } from "node:path";
import { isFile } from "../adapters/host.ts";

const IMMUTABLE = "public, max-age=31536000, immutable";

/**
 * Serves the built SPA: files under `dir` as they are, hashed assets (`_app/immutable/`) cached
 * for a year, and `index.html` (never cached) for every other path so client routing works.
 */
export function createStaticHandler(dir: string | null): (url: URL, method: string) => Response | null {
  if (!dir || !isFile(join(dir, "index.html"))) {
    return () =>
      new Response("The Switchyard GUI is not built. Run `bun run build` (or `npm start`, which builds it).\n", {
        status: 503,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
  }
  const root = resolve(dir);
  const index = join(root, "index.html");
  return (url, method) => {
    if (method !== "GET" && method !== "HEAD") return null;
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return new Response("Bad path", { status: 400 });
    }
    const file = resolve(root, `.${normalize(`/${path}`)}`);
    if ((file === root || file.startsWith(root + sep)) && isFile(file) && file !== index) {
      const immutable = file.startsWith(join(root, "_app", "immutable") + sep);
      return new Response(Bun.file(file), { headers: { "cache-control": immutable ? IMMUTABLE : "public, max-age=300" } });
    }
    if (path.startsWith("/_app/")) return new Response("Not found", { status: 404 });
    return new Response(Bun.file(index), { headers: { "cache-control": "no-cache", "content-type": "text/html; charset=utf-8" } });
  };
}
