import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectFiles } from "../../backend/adapters/project-files.ts";
import { filesUnder, procfileLine } from "../../backend/domain/detect.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A checkout next to a secret outside it, with links from the checkout to the secret. */
function checkout(): { dir: string; secret: string } {
  const base = mkdtempSync(join(tmpdir(), "sy-project-files-"));
  dirs.push(base);
  const dir = join(base, "checkout");
  const outside = join(base, "outside");
  mkdirSync(join(dir, "web"), { recursive: true });
  mkdirSync(outside);
  const secret = join(outside, "secret");
  writeFileSync(secret, "web: root:x:0:0:root:/root:/bin/bash\n");
  writeFileSync(join(outside, "package.json"), '{"name":"secret"}');
  writeFileSync(join(dir, "package.json"), '{"name":"app"}');
  writeFileSync(join(dir, "web", "package.json"), '{"name":"web"}');
  symlinkSync(secret, join(dir, ".nvmrc"));
  symlinkSync(secret, join(dir, "Procfile"));
  symlinkSync(outside, join(dir, "linked"));
  symlinkSync(join(dir, "package.json"), join(dir, "inside-link.json"));
  return { dir, secret };
}

describe("project files", () => {
  test("reads regular files in the checkout", () => {
    const files = projectFiles(checkout().dir);
    expect(files.read("package.json")).toBe('{"name":"app"}');
    expect(files.exists("package.json")).toBe(true);
    expect(filesUnder(files, "web").read("package.json")).toBe('{"name":"web"}');
    expect(files.exists("web")).toBe(true);
    expect(files.read("missing")).toBeNull();
  });

  test("never reads through a symbolic link: a link is as good as absent", () => {
    const files = projectFiles(checkout().dir);
    expect(files.read(".nvmrc")).toBeNull();
    expect(files.exists(".nvmrc")).toBe(false);
    expect(files.read("Procfile")).toBeNull();
    expect(procfileLine(files, "web")).toBeNull();
    // A linked directory, as a root directory or on the way to a file.
    expect(files.read("linked/package.json")).toBeNull();
    expect(files.exists("linked")).toBe(false);
    expect(filesUnder(files, "linked").read("package.json")).toBeNull();
    // Even a link that stays inside.
    expect(files.read("inside-link.json")).toBeNull();
  });

  test("a checkout (or root directory) that is itself a link is not read", () => {
    const { dir } = checkout();
    expect(projectFiles(join(dir, "linked")).read("package.json")).toBeNull();
  });

  test("paths that climb out of the checkout are refused", () => {
    const { dir } = checkout();
    const files = projectFiles(join(dir, "web"));
    expect(files.read("../package.json")).toBeNull();
    expect(files.read("/etc/passwd")).toBeNull();
    expect(files.exists("../web")).toBe(false);
  });
});
