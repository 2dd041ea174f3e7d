import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../backend/adapters/exec.ts";
import { buildScopeArgv } from "../../backend/commands/systemd.ts";
import { envOnStdin, serverBuildSpawn } from "../../backend/jobs/steps/user-command.ts";

const HELPER = join(import.meta.dir, "..", "..", "infrastructure", "helper", "switchyard-helper");
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A test root with a build dir in its data dir, where the helper prints commands instead of running them. */
function testRoot(): { root: string; buildDir: string } {
  const root = mkdtempSync(join(tmpdir(), "sy-build-scope-"));
  roots.push(root);
  const buildDir = join(root, "var/lib/switchyard/apps/web/builds/job1");
  mkdirSync(buildDir, { recursive: true });
  return { root, buildDir };
}

function helper(args: string[], o: { root: string; cwd: string; stdin?: string }) {
  const proc = Bun.spawnSync(["bash", HELPER, ...args], {
    cwd: o.cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SWITCHYARD_HELPER_ROOT: o.root },
    stdin: new TextEncoder().encode(o.stdin ?? ""),
  });
  return { code: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

/** The argv a `would run:` line stands for (bash's own %q quoting, read back by bash). */
function printedArgv(line: string): string[] {
  const proc = Bun.spawnSync(["bash", "-c", `eval "set -- $1"; printf '%s\\0' "$@"`, "x", line.replace(/^would run: /, "")]);
  return proc.stdout.toString().split("\0").slice(0, -1);
}

const SCOPE = "sy-build-0123456789ab";

describe("helper build-scope", () => {
  test("runs the command in a scope with the ceiling, low weights and nice, as the panel user, like the panel's own argv", () => {
    const { root, buildDir } = testRoot();
    const r = helper(["build-scope", SCOPE, "2048", "--", "/bin/sh", "-c", "npm run build"], { root, cwd: buildDir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const argv = printedArgv(r.stdout.trim());
    expect(argv.slice(0, 3)).toEqual(["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
    const panelArgv = buildScopeArgv({ unit: SCOPE, user: "switchyard", memoryMaxMb: 2048 }, ["/bin/sh"]);
    // The same scope as the panel's own builder (which it uses when it runs as root)…
    expect(argv[3]).toBe("systemd-run");
    expect(panelArgv[0]).toBe("/usr/bin/systemd-run");
    expect(argv.slice(4, argv.indexOf("--"))).toEqual(panelArgv.slice(1, panelArgv.indexOf("--")));
    // …with the same environment loader inside the scope…
    const own = serverBuildSpawn({ scope: SCOPE, memoryMaxMb: 2048, root: true }, ["/bin/sh", "-c", "npm run build"], {}).argv;
    expect(argv.slice(argv.indexOf("--"))).toEqual(own.slice(own.indexOf("--")));
    // …and then the command, through the environment loader.
    expect(argv.slice(argv.indexOf("--") + 1, argv.indexOf("--") + 3)).toEqual(["/bin/bash", "-c"]);
    expect(argv.slice(-4)).toEqual(["build", "/bin/sh", "-c", "npm run build"]);
  });

  test("the loader takes the build's environment from stdin, values with newlines too, and refuses bad names", () => {
    const { root, buildDir } = testRoot();
    const r = helper(["build-scope", SCOPE, "1024", "--", "/bin/sh", "-c", 'printf "%s|%s|%s" "$A" "$B" "$HOME"'], { root, cwd: buildDir });
    const argv = printedArgv(r.stdout.trim());
    // What runs inside the scope, as the panel user: everything after systemd-run's `--`.
    const inScope = argv.slice(argv.indexOf("--") + 1);
    const ok = Bun.spawnSync(["env", "-i", ...inScope], { stdin: new TextEncoder().encode(envOnStdin({ A: "1", B: "two\nlines" })) });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout.toString()).toBe("1|two\nlines|");
    const bad = Bun.spawnSync(["env", "-i", ...inScope], { stdin: new TextEncoder().encode("NOT A NAME=1\0") });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toContain("refusing the build environment");
  });

  test("refuses bad names, limits, relative commands and working directories outside the data dir", () => {
    const { root, buildDir } = testRoot();
    const refused = (args: string[], cwd = buildDir) => {
      const r = helper(args, { root, cwd });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      return r.stderr;
    };
    expect(refused(["build-scope", "sy-web-blue.service", "2048", "--", "/bin/true"])).toContain("refusing build scope name");
    expect(refused(["build-scope", "sy-build-0123456789ab;x", "2048", "--", "/bin/true"])).toContain("refusing build scope name");
    expect(refused(["build-scope", SCOPE, "100", "--", "/bin/true"])).toContain("refusing build memory limit");
    expect(refused(["build-scope", SCOPE, "99999", "--", "/bin/true"])).toContain("refusing build memory limit");
    expect(refused(["build-scope", SCOPE, "2048M", "--", "/bin/true"])).toContain("refusing build memory limit");
    expect(refused(["build-scope", SCOPE, "2048", "/bin/true", "x"])).toContain("usage");
    expect(refused(["build-scope", SCOPE, "2048", "--", "npm", "run", "build"])).toContain("absolute path");
    expect(refused(["build-scope", SCOPE, "2048", "--", "/bin/true"], tmpdir())).toContain("refusing to build outside");
    expect(refused(["build-scope", SCOPE, "2048"])).toContain("usage");
  });

  test("build-stop stops only a build scope", () => {
    const { root, buildDir } = testRoot();
    const r = helper(["build-stop", SCOPE], { root, cwd: buildDir });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`would run: systemctl stop ${SCOPE}.scope`);
    expect(helper(["build-stop", "sy-web-blue.service"], { root, cwd: buildDir }).code).toBe(2);
    expect(helper(["build-stop"], { root, cwd: buildDir }).code).toBe(2);
  });
});

describe("the panel's own server build", () => {
  test("a systemd-run in the repository's node_modules/.bin is never what runs", async () => {
    const { buildDir } = testRoot();
    const bin = join(buildDir, "node_modules", ".bin");
    mkdirSync(bin, { recursive: true });
    const marker = join(buildDir, "ran-as-root");
    for (const name of ["systemd-run", "sudo"]) {
      writeFileSync(join(bin, name), `#!/bin/sh\ntouch ${marker}\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const env = { PATH: `${bin}:/usr/bin:/bin`, LD_PRELOAD: "" };
    for (const root of [true, false]) {
      const spawn = serverBuildSpawn({ scope: SCOPE, memoryMaxMb: 1024, root }, ["/bin/true"], env);
      // Whether or not this machine has systemd or sudo, the repository's copy must not run.
      await run(spawn.argv, { cwd: buildDir, env: spawn.env, stdin: spawn.stdin, timeoutMs: 20_000 }).catch(() => {});
      expect(existsSync(marker)).toBe(false);
    }
    // The same spawn with the build's PATH would have found the fake: the test does test something.
    await run(["systemd-run", "--version"], { cwd: buildDir, env: { PATH: env.PATH } });
    expect(existsSync(marker)).toBe(true);
  });
});
