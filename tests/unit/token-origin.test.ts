import { describe, expect, test } from "bun:test";
import { gitEnv, tokenOrigin } from "../../backend/commands/git.ts";
import { detectProject, type ProjectFiles } from "../../backend/domain/detect.ts";

describe("where a GitHub token may go", () => {
  test("only to the GitHub server's own origin, over https", () => {
    expect(tokenOrigin("https://github.com/acme/shop.git", "https://github.com")).toBe("https://github.com");
    expect(tokenOrigin("https://ghe.example.com/acme/shop.git", "https://ghe.example.com/")).toBe("https://ghe.example.com");
    for (const url of [
      "http://github.com/acme/shop.git",
      "https://github.com.evil.example/acme/shop.git",
      "https://evil.example/acme/shop.git",
      "https://github.com:8443/acme/shop.git",
      "https://x@github.com/acme/shop.git",
      "file:///srv/git/shop.git",
      "http://127.0.0.1:9999/evil/repo.git",
      "not a url",
    ]) {
      expect({ url, origin: tokenOrigin(url, "https://github.com") }).toEqual({ url, origin: null });
    }
  });

  test("plain http only for a GitHub server on a loopback address, and then only to that port", () => {
    expect(tokenOrigin("http://127.0.0.1:4000/a/b.git", "http://127.0.0.1:4000")).toBe("http://127.0.0.1:4000");
    expect(tokenOrigin("http://127.0.0.1:4001/a/b.git", "http://127.0.0.1:4000")).toBeNull();
    expect(tokenOrigin("http://ghe.example.com/a/b.git", "http://ghe.example.com")).toBeNull();
  });

  test("without an origin no header is configured", () => {
    expect(gitEnv({ token: "ghs_secret" }).GIT_CONFIG_COUNT).toBeUndefined();
  });
});

describe("static sites are served from their build output", () => {
  const project = (files: Record<string, string>): ProjectFiles => ({
    exists: (p) => Object.keys(files).some((f) => f === p || f.startsWith(`${p}/`)),
    read: (p) => files[p] ?? null,
  });

  test("a project with a build never serves its root, even with an index.html there", async () => {
    const vite = await detectProject(
      project({ "package.json": JSON.stringify({ scripts: { build: "vite build" } }), "index.html": "<script src=/src/main.ts>" }),
      {},
    );
    expect(vite).toMatchObject({ runtime: "static", build: "bun run build", staticDir: null });
  });

  test("without a build: dist/, build/, out/, public/, then the root", async () => {
    expect((await detectProject(project({ "index.html": "", "public/index.html": "" }), {})).staticDir).toBe("public");
    expect((await detectProject(project({ "index.html": "" }), {})).staticDir).toBe(".");
  });
});
