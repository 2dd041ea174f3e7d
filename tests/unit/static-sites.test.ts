import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyRegularFile, copySite } from "../../backend/adapters/proxy/static.ts";
import { STATIC_HIDDEN, STATIC_IMMUTABLE } from "../../backend/commands/nginx.ts";
import { staticDirOf } from "../../backend/jobs/targets/static.ts";

// nginx's PCRE and JavaScript agree on these patterns (lookaheads, classes, anchors).
const immutable = new RegExp(STATIC_IMMUTABLE);
const hidden = new RegExp(STATIC_HIDDEN);

describe("static sites: what is cached for a year", () => {
  test.each([
    "/assets/index-BxYz12ab.js",
    "/assets/index-C-3_aBcd.css",
    "/assets/logo-abcd1fgh.svg",
    "/assets/nested/chunk-DiwrgTda.js",
    "/chunk-ABCD1234.js",
    "/js/app-3f2a9c1b7d4e5f60a1b2.js",
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
    "/assets/logo-abcdefgh.svg",
    "/docs/v2-migration2.html",
    "/annual-report-2024.pdf",
    "/apple-touch-icon-180x180.png",
    "/page-v1234567.html",
    "/page.3f2a9c1b.html",
    "/_next/static/page.html",
    "/assets/team/ceo-portrait.jpg",
    "/assets/readme-20240101.txt",
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

describe("static sites: copying a release", () => {
  const base = mkdtempSync(join(tmpdir(), "sy-static-copy-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  test("a file or directory swapped for a link after the listing is not followed", () => {
    const src = join(base, "dist");
    mkdirSync(join(src, "assets"), { recursive: true });
    writeFileSync(join(src, "index.html"), "<h1>hi</h1>");
    writeFileSync(join(base, "secret"), "root:$6$hash");
    mkdirSync(join(base, "private"));
    writeFileSync(join(base, "private", "key"), "KEY");
    // What the listing saw (a file and a directory) and what is there by the time they are opened: links.
    const listed = readdirSync(src, { withFileTypes: true });
    writeFileSync(join(src, "x.txt"), "was a file");
    const asFile = readdirSync(src, { withFileTypes: true }).find((e) => e.name === "x.txt");
    rmSync(join(src, "x.txt"));
    symlinkSync(join(base, "secret"), join(src, "x.txt"));
    rmSync(join(src, "assets"), { recursive: true });
    symlinkSync(join(base, "private"), join(src, "assets"));
    const raced = (dir: string) => (dir === src && asFile ? [...listed, asFile] : readdirSync(dir, { withFileTypes: true }));
    const out = join(base, "copy");
    const skipped = copySite(src, out, raced);
    expect(skipped.sort()).toEqual(["assets", "x.txt"]);
    expect(readFileSync(join(out, "index.html"), "utf8")).toBe("<h1>hi</h1>");
    expect(existsSync(join(out, "x.txt"))).toBe(false);
    expect(existsSync(join(out, "assets", "key"))).toBe(false);
    expect(statSync(join(out, "index.html")).mode & 0o777).toBe(0o644);
  });

  test("only a regular file is copied", () => {
    writeFileSync(join(base, "plain"), "data");
    symlinkSync(join(base, "plain"), join(base, "plain-link"));
    expect(copyRegularFile(join(base, "plain"), join(base, "plain-copy"))).toBe(true);
    expect(readFileSync(join(base, "plain-copy"), "utf8")).toBe("data");
    expect(copyRegularFile(join(base, "plain-link"), join(base, "link-copy"))).toBe(false);
    expect(existsSync(join(base, "link-copy"))).toBe(false);
    expect(copyRegularFile(base, join(base, "dir-copy"))).toBe(false);
  });
});
