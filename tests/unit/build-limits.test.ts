import { describe, expect, test } from "bun:test";
import { buildIoClass, run } from "../../backend/adapters/exec.ts";
import { checkIntegrity } from "../../backend/adapters/npm-registry.ts";
import { buildScopeArgv } from "../../backend/commands/systemd.ts";
import {
  buildScopeName,
  buildSettingsBody,
  defaultBuildMemoryMb,
  groupRssBytes,
  lowPriorityArgv,
  memoryExceededMessage,
  parseProcStat,
  readBuildSettings,
  waitingMessage,
} from "../../backend/domain/build-limits.ts";
import { envOnStdin, serverBuildSpawn } from "../../backend/jobs/steps/user-command.ts";

const GiB = 1024 ** 3;

describe("build settings", () => {
  test("memory defaults to 2048 MiB, or half of a small machine's RAM, never under 256", () => {
    expect(defaultBuildMemoryMb(16 * GiB)).toBe(2048);
    expect(defaultBuildMemoryMb(2 * GiB)).toBe(1024);
    expect(defaultBuildMemoryMb(0.25 * GiB)).toBe(256);
    expect(readBuildSettings(undefined, 16 * GiB)).toEqual({ concurrency: 1, memoryMaxMb: 2048 });
  });

  test("stored values out of bounds fall back to their defaults, good ones are kept", () => {
    expect(readBuildSettings({ concurrency: 3, memoryMaxMb: 4096 }, 16 * GiB)).toEqual({ concurrency: 3, memoryMaxMb: 4096 });
    expect(readBuildSettings({ concurrency: 99, memoryMaxMb: 4096 }, 16 * GiB)).toEqual({ concurrency: 1, memoryMaxMb: 4096 });
    expect(readBuildSettings({ concurrency: 2, memoryMaxMb: "lots" }, 16 * GiB)).toEqual({ concurrency: 2, memoryMaxMb: 2048 });
  });

  test("the body names each bad field", () => {
    expect(buildSettingsBody.safeParse({ concurrency: 8, memoryMaxMb: 65536 }).success).toBe(true);
    expect(buildSettingsBody.safeParse({}).success).toBe(true);
    for (const [body, field] of [
      [{ concurrency: 0 }, "concurrency"],
      [{ concurrency: 9 }, "concurrency"],
      [{ concurrency: 1.5 }, "concurrency"],
      [{ memoryMaxMb: 255 }, "memoryMaxMb"],
      [{ memoryMaxMb: 65537 }, "memoryMaxMb"],
      [{ memoryMaxMb: "2G" }, "memoryMaxMb"],
    ] as const) {
      const parsed = buildSettingsBody.safeParse(body);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path).toEqual([field]);
    }
    expect(buildSettingsBody.safeParse({ parallel: 2 }).success).toBe(false);
  });
});

describe("low priority", () => {
  test("the idle scheduling class, nice 10 and ionice idle, or best-effort 7 where idle is refused, or no ionice", () => {
    expect(lowPriorityArgv(["/bin/sh", "-c", "make"], "idle")).toEqual([
      "chrt",
      "--idle",
      "0",
      "nice",
      "-n",
      "10",
      "ionice",
      "-t",
      "-c",
      "3",
      "/bin/sh",
      "-c",
      "make",
    ]);
    expect(lowPriorityArgv(["make"], "best-effort")).toEqual([
      "chrt",
      "--idle",
      "0",
      "nice",
      "-n",
      "10",
      "ionice",
      "-t",
      "-c",
      "2",
      "-n",
      "7",
      "make",
    ]);
    expect(lowPriorityArgv(["make"], null)).toEqual(["chrt", "--idle", "0", "nice", "-n", "10", "make"]);
  });

  test("a command run that way really is niced", async () => {
    const result = await run(lowPriorityArgv(["/bin/sh", "-c", "cut -d' ' -f19 /proc/self/stat"], buildIoClass()), { capture: true });
    expect(result.code).toBe(0);
    expect(Number(result.stdout.trim())).toBeGreaterThanOrEqual(10);
  });
});

describe("the memory watch", () => {
  test("/proc/<pid>/stat is read past a command name with spaces and parentheses", () => {
    const rest = "S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 10 1 0 12345 1000000 2500 18446744073709551615";
    expect(parseProcStat(`4243 (my (odd) name) ${rest}`)).toEqual({ pid: 4243, pgid: 4242, nice: 10, rssPages: 2500 });
    expect(parseProcStat("garbage")).toBeNull();
  });

  test("only the command's process group counts", () => {
    const stats = [
      { pid: 1, pgid: 1, nice: 0, rssPages: 1000 },
      { pid: 10, pgid: 10, nice: 10, rssPages: 100 },
      { pid: 11, pgid: 10, nice: 10, rssPages: 50 },
    ];
    expect(groupRssBytes(stats, 10, 4096)).toBe(150 * 4096);
  });

  test("a group over the ceiling is killed, grandchildren too, and says so", async () => {
    // A child of the shell holds ~200 MiB; the ceiling is 64 MiB.
    const hog = "const a = []; for (let i = 0; i < 50; i++) a.push(Buffer.alloc(4 * 1024 * 1024, 1)); setInterval(() => a.length, 1000);";
    const result = await run(["/bin/sh", "-c", `${process.execPath} -e '${hog}'; echo survived`], {
      capture: true,
      memoryMaxBytes: 64 * 1024 * 1024,
    });
    expect(result.memoryExceeded).toBe(true);
    expect(result.peakRssBytes).toBeGreaterThan(64 * 1024 * 1024);
    expect(result.stdout).not.toContain("survived");
  });

  test("a command under the ceiling runs as usual", async () => {
    const result = await run(["/bin/sh", "-c", "echo ok"], { capture: true, memoryMaxBytes: 512 * 1024 * 1024 });
    expect(result).toMatchObject({ code: 0, memoryExceeded: false, stdout: "ok\n" });
  });

  test("the message says what to change", () => {
    expect(memoryExceededMessage(2048)).toBe("the build used more than 2048 MiB; raise the build memory limit in Settings → Builds");
  });
});

describe("build slots", () => {
  test("the wait says who holds the slots", () => {
    expect(waitingMessage([{ app: "x", jobId: "0b5e0c2e-0000-4000-8000-000000000000" }])).toBe(
      "waiting for a build slot: 1 build running (app x)",
    );
    expect(
      waitingMessage([
        { app: "a", jobId: "1" },
        { app: null, jobId: "0b5e0c2e-0000" },
      ]),
    ).toBe("waiting for a build slot: 2 builds running (app a, job 0b5e0c2e)");
  });
});

describe("server builds", () => {
  test("a scope named after the job, with the ceiling, low weights and nice, as the panel user", () => {
    const unit = buildScopeName("0B5E0C2E-1234-4000-8000-000000000000");
    expect(unit).toBe("sy-build-0b5e0c2e1234");
    expect(buildScopeArgv({ unit, user: "switchyard", memoryMaxMb: 2048 }, ["/bin/sh", "-c", "npm run build"])).toEqual([
      "/usr/bin/systemd-run",
      "--scope",
      "--quiet",
      "--collect",
      "--unit=sy-build-0b5e0c2e1234",
      "--uid=switchyard",
      "--gid=switchyard",
      "--nice=10",
      "--property=MemoryMax=2048M",
      "--property=MemorySwapMax=0",
      "--property=CPUWeight=20",
      "--property=IOWeight=20",
      "--",
      "/bin/sh",
      "-c",
      "npm run build",
    ]);
    expect(() => buildScopeArgv({ unit, user: "switchyard", memoryMaxMb: 2048 }, ["npm"])).toThrow("absolute path");
    expect(() => buildScopeArgv({ unit: "sy-web-1", user: "switchyard", memoryMaxMb: 2048 }, ["/bin/true"])).toThrow();
    expect(() => buildScopeName("not a job")).toThrow();
  });

  test("the privileged spawn is an absolute program in a clean environment; the build's own comes on stdin", () => {
    const env = { PATH: "/srv/app/node_modules/.bin:/usr/bin", LD_PRELOAD: "/srv/app/evil.so", SECRET: "s3cret" };
    for (const root of [true, false]) {
      const spawn = serverBuildSpawn({ scope: "sy-build-0123456789ab", memoryMaxMb: 1024, root }, ["/usr/bin/npm", "run", "build"], env);
      expect(spawn.argv[0]?.startsWith("/")).toBe(true);
      expect(spawn.env).toEqual({ PATH: "/usr/sbin:/usr/bin:/sbin:/bin" });
      expect(spawn.stdin).toBe(envOnStdin(env));
      expect(spawn.argv.join(" ")).not.toContain("s3cret");
      expect(spawn.argv.slice(-3)).toEqual(["/usr/bin/npm", "run", "build"]);
    }
    const root = serverBuildSpawn({ scope: "sy-build-0123456789ab", memoryMaxMb: 1024, root: true }, ["/usr/bin/npm"], env);
    expect(root.argv[0]).toBe("/usr/bin/systemd-run");
    const viaHelper = serverBuildSpawn({ scope: "sy-build-0123456789ab", memoryMaxMb: 1024, root: false }, ["/usr/bin/npm"], env);
    expect(viaHelper.argv.slice(0, 3)).toEqual(["/usr/bin/sudo", "-n", "/usr/local/lib/switchyard/helper"]);
  });

  test("the environment goes to the helper as NUL-ended entries", () => {
    expect(envOnStdin({ A: "1", B: "two\nlines", C: undefined })).toBe("A=1\0B=two\nlines\0");
  });
});

describe("runtimes and package managers from the registry", () => {
  const bytes = new TextEncoder().encode("tarball");
  const sha512 = `sha512-${new Bun.CryptoHasher("sha512").update(bytes).digest("base64")}`;

  test("are installed only when they match the registry's sha512", () => {
    expect(() => checkIntegrity("pnpm", "9.0.0", bytes, sha512)).not.toThrow();
    expect(() => checkIntegrity("pnpm", "9.0.0", bytes, `sha1-abc ${sha512}`)).not.toThrow();
    expect(() => checkIntegrity("pnpm", "9.0.0", new TextEncoder().encode("other"), sha512)).toThrow("integrity check");
  });

  test("are not installed when the registry gives no sha512", () => {
    expect(() => checkIntegrity("pnpm", "9.0.0", bytes, undefined)).toThrow("no sha512");
    expect(() => checkIntegrity("pnpm", "9.0.0", bytes, "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=")).toThrow("no sha512");
  });
});
