import { describe, expect, test } from "bun:test";
import { STATIC_HIDDEN, STATIC_IMMUTABLE } from "../../backend/commands/nginx.ts";
import { staticDirOf } from "../../backend/jobs/targets/static.ts";

// nginx's PCRE and JavaScript agree on these patterns (lookaheads, classes, anchors).
const immutable = new RegExp(STATIC_IMMUTABLE);
const hidden = new RegExp(STATIC_HIDDEN);

describe("static sites: what is cached for a year", () => {
  test.each([
    "/assets/index-BxYz12ab.js",
    "/assets/index-C-3_aBcd.css",
    "/assets/logo-abcdefgh.svg",
    "/assets/nested/chunk-DiwrgTda.js",
    "/static/js/main.3f2a9c1b.js",
    "/main.a1b2c3d4e5f6.css",
    "/_app/immutable/entry/start.js",
    "/_next/static/chunks/app.js",
    "/_astro/index.astro_astro_type_script.js",
  ])("%s carries its content's hash", (path) => {
    expect(immutable.test(path)).toBe(true);
  });

  test.each([
    "/",
    "/index.html",
    "/about/",
    "/favicon.ico",
    "/robots.txt",
    "/assets/logo.svg",
    "/js/jquery-standalone.js",
    "/bootstrap.bundle.min.js",
    "/images/photo-of-us.jpg",
  ])("%s is revalidated", (path) => {
    expect(immutable.test(path)).toBe(false);
  });
});

describe("static sites: what is never served", () => {
  test.each(["/.git/config", "/.env", "/a/.hidden/x", "/node_modules/x/package.json", "/a/node_modules", "/.well-known"])("%s", (path) => {
    expect(hidden.test(path)).toBe(true);
  });

  test.each(["/", "/index.html", "/.well-known/security.txt", "/assets/a.js", "/my.node_modules.txt", "/a.b/c"])("%s is served", (path) => {
    expect(hidden.test(path)).toBe(false);
  });
});

describe("static sites: a release's output directory", () => {
  test("recorded with the release", () => {
    expect(staticDirOf({ details: { staticDir: "dist" }, startCommand: [] })).toBe("dist");
  });

  test("a release made when a Bun process served static sites: the directory its start command named", () => {
    const legacy = ["/usr/local/bin/bun", "/opt/switchyard/releases/1.2.0/backend/adapters/static-server.ts", "public"];
    expect(staticDirOf({ details: null, startCommand: legacy })).toBe("public");
  });

  test("none recorded", () => {
    expect(staticDirOf({ details: {}, startCommand: ["/bin/sh", "-c", "bun run start"] })).toBeNull();
  });
});
