import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cronJobFiles, ensureJobDirs, writeSpec } from "../../backend/adapters/cron/timers.ts";
import { buildCronService, buildCronTimer, cronStartArgv, cronSystemctlArgv, cronUnitName } from "../../backend/commands/cron-units.ts";
import {
  applyPatch,
  checkSchedule,
  cronJobInputSchema,
  cronJobPatchSchema,
  cronUnitId,
  nextRuns,
  onCalendar,
  outputTail,
} from "../../backend/domain/cron.ts";

const SYSTEMD_ANALYZE = Bun.which("systemd-analyze");

/** The next elapses systemd computes for an OnCalendar= expression (the machine's zone is UTC in these tests). */
function systemdElapses(expression: string, count: number): Date[] {
  const proc = Bun.spawnSync(["systemd-analyze", "calendar", `--iterations=${count}`, expression], { env: { ...process.env, TZ: "UTC" } });
  expect(proc.exitCode).toBe(0);
  return [...proc.stdout.toString().matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)].map(
    (m) => new Date(`${(m[1] ?? "").replace(" ", "T")}Z`),
  );
}

describe("checkSchedule", () => {
  test("accepts five fields, six with seconds, and nicknames", () => {
    expect(checkSchedule("*/15  *  * * *")).toEqual({ ok: true, schedule: "*/15 * * * *", onCalendar: "*-*-* *:00/15:00 UTC" });
    expect(checkSchedule("*/2 * * * * *")).toMatchObject({ ok: true, onCalendar: "*-*-* *:*:00/2 UTC" });
    expect(checkSchedule("@daily", "Europe/Berlin")).toMatchObject({ ok: true, onCalendar: "*-*-* 00:00:00 Europe/Berlin" });
    expect(checkSchedule("30 9-17 * * mon-fri")).toMatchObject({ ok: true, onCalendar: "Mon,Tue,Wed,Thu,Fri *-*-* 09..17:30:00 UTC" });
    expect(checkSchedule("0 0 1 jan,mar *")).toMatchObject({ ok: true, onCalendar: "*-01,03-01 00:00:00 UTC" });
    expect(checkSchedule("5 4 * * 7")).toMatchObject({ ok: true, onCalendar: "Sun *-*-* 04:05:00 UTC" });
  });

  test("refuses bad expressions with croner's reason in words", () => {
    expect(checkSchedule("")).toEqual({ ok: false, message: expect.stringContaining("must be a cron expression") });
    expect(checkSchedule("61 * * * *")).toEqual({ ok: false, message: expect.stringContaining("minute") });
    expect(checkSchedule("* * *")).toEqual({ ok: false, message: expect.stringContaining("has 3 fields") });
    expect(checkSchedule("every day")).toMatchObject({ ok: false });
    expect(checkSchedule("0 0 30 2 *")).toMatchObject({ ok: false });
  });

  test("refuses what a systemd timer cannot express", () => {
    expect(checkSchedule("0 0 L * *")).toEqual({ ok: false, message: expect.stringContaining("no systemd timer equivalent") });
    expect(checkSchedule("0 0 1 * mon")).toEqual({
      ok: false,
      message: expect.stringContaining("day of the month together with a day of the week"),
    });
    expect(checkSchedule("0 0 * * mon#2")).toMatchObject({ ok: false });
  });
});

describe("nextRuns", () => {
  test("to the second, in the job's time zone", () => {
    const from = new Date("2026-03-01T10:00:00.500Z");
    expect(nextRuns("*/2 * * * * *", "UTC", from, 3).map((d) => d.toISOString())).toEqual([
      "2026-03-01T10:00:02.000Z",
      "2026-03-01T10:00:04.000Z",
      "2026-03-01T10:00:06.000Z",
    ]);
    expect(nextRuns("0 3 * * *", "Europe/Berlin", from).map((d) => d.toISOString())).toEqual(["2026-03-02T02:00:00.000Z"]);
    expect(nextRuns("not cron", "UTC", from)).toEqual([]);
  });
});

describe.skipIf(!SYSTEMD_ANALYZE)("OnCalendar= matches croner (systemd-analyze calendar)", () => {
  for (const [schedule, timezone] of [
    ["*/2 * * * * *", "UTC"],
    ["*/15 * * * *", "UTC"],
    ["30 9-17 * * mon-fri", "Europe/Berlin"],
    ["0 0 1 jan,mar *", "UTC"],
    ["5 4 * * 7", "America/New_York"],
    ["1-10/3 2 * * *", "Asia/Tokyo"],
    ["@hourly", "UTC"],
    ["@weekly", "Europe/London"],
    ["0 12 */5 * *", "UTC"],
  ] as const) {
    test(`${schedule} in ${timezone}`, () => {
      const expression = onCalendar(schedule, timezone);
      const systemd = systemdElapses(expression, 6);
      expect(systemd.length).toBe(6);
      const first = systemd[0] as Date;
      const croner = nextRuns(schedule, timezone, new Date(first.getTime() - 1), 6);
      expect(croner.map((d) => d.toISOString())).toEqual(systemd.map((d) => d.toISOString()));
    });
  }
});

describe("input", () => {
  test("defaults and normalised schedule", () => {
    expect(cronJobInputSchema.parse({ name: "tidy", schedule: " 0  3 * * * ", command: "bun run tidy" })).toEqual({
      name: "tidy",
      schedule: "0 3 * * *",
      command: "bun run tidy",
      timezone: "UTC",
      overlap: "skip",
      timeoutSec: 3600,
      enabled: true,
    });
  });

  test("each bad field is named", () => {
    const issues = (body: unknown) => cronJobInputSchema.safeParse(body).error?.issues.map((i) => i.path.join(".")) ?? [];
    const good = { name: "a", schedule: "* * * * *", command: "true" };
    expect(issues({ ...good, schedule: "99 * * * *" })).toEqual(["schedule"]);
    expect(issues({ ...good, timezone: "Mars/Olympus" })).toEqual(["timezone"]);
    expect(issues({ ...good, command: "" })).toEqual(["command"]);
    expect(issues({ ...good, command: "echo a\necho b" })).toEqual(["command"]);
    expect(issues({ ...good, timeoutSec: 0 })).toEqual(["timeoutSec"]);
    expect(issues({ ...good, timeoutSec: 86_401 })).toEqual(["timeoutSec"]);
    expect(issues({ ...good, overlap: "parallel" })).toEqual(["overlap"]);
    expect(issues({ ...good, name: "" })).toEqual(["name"]);
    expect(issues({ ...good, extra: 1 })).toEqual([""]);
  });

  test("a patch is checked against the time zone it will have", () => {
    const job = cronJobInputSchema.parse({ name: "a", schedule: "0 3 * * *", command: "true" });
    expect(applyPatch(job, cronJobPatchSchema.parse({ schedule: "*/5 * * * *" }))).toEqual({
      ok: true,
      job: { ...job, schedule: "*/5 * * * *" },
    });
    expect(applyPatch(job, cronJobPatchSchema.parse({ schedule: "0 0 L * *" }))).toMatchObject({ ok: false });
    expect(cronJobPatchSchema.safeParse({ timezone: "Nowhere/Land" }).success).toBe(false);
  });
});

test("outputTail keeps the last 64 KiB from a line start", () => {
  expect(outputTail("a\nb\n")).toBe("a\nb\n");
  const long = `${"x".repeat(70 * 1024)}\nlast line\n`;
  expect(outputTail(long)).toBe("last line\n");
});

describe("units", () => {
  const id = "0f3a9c1e-1111-4222-8333-444455556666";
  const service = (overrides: Partial<Parameters<typeof buildCronService>[0]> = {}) =>
    buildCronService({
      app: "shop",
      unitId: cronUnitId(id),
      jobName: "nightly tidy",
      releaseId: "r1",
      releaseDir: "/var/lib/switchyard/apps/shop/releases/r1",
      envFile: "/var/lib/switchyard/apps/shop/env/r1.env",
      env: { PATH: "/var/lib/switchyard/bin:/usr/bin", NODE_ENV: "production", PORT: "3000" },
      user: "switchyard-apps",
      bun: "/var/lib/switchyard/bin/bun",
      runner: "/var/lib/switchyard/bin/cron-runner.ts",
      specFile: `/var/lib/switchyard/apps/shop/cron/${id}/spec.json`,
      jobDir: `/var/lib/switchyard/apps/shop/cron/${id}`,
      volumes: [],
      timeoutSec: 60,
      ...overrides,
    });

  test("names", () => {
    expect(cronUnitId(id)).toBe("0f3a9c1e");
    expect(cronUnitName("shop", "0f3a9c1e", "timer")).toBe("sy-shop-cron-0f3a9c1e.timer");
    expect(() => cronUnitName("Shop", "0f3a9c1e", "timer")).toThrow();
    expect(() => cronUnitName("shop", "xyz", "service")).toThrow();
    expect(cronSystemctlArgv("enable", "sy-shop-cron-0f3a9c1e.timer")).toEqual(["systemctl", "enable", "sy-shop-cron-0f3a9c1e.timer"]);
    expect(() => cronSystemctlArgv("start", "ssh.service")).toThrow();
  });

  test("the service, whole", () => {
    expect(service()).toBe(
      [
        "# Generated by Switchyard; changes are overwritten.",
        "[Unit]",
        "Description=Switchyard cron job nightly tidy of shop (release r1)",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        "User=switchyard-apps",
        "WorkingDirectory=/var/lib/switchyard/apps/shop/releases/r1",
        "EnvironmentFile=/var/lib/switchyard/apps/shop/env/r1.env",
        'Environment="PATH=/var/lib/switchyard/bin:/usr/bin"',
        'Environment="NODE_ENV=production"',
        `ExecStart=/var/lib/switchyard/bin/bun /var/lib/switchyard/bin/cron-runner.ts /var/lib/switchyard/apps/shop/cron/${id}/spec.json`,
        "KillMode=control-group",
        "KillSignal=SIGTERM",
        "TimeoutStartSec=120",
        "TimeoutStopSec=90",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RestrictNamespaces=yes",
        `ReadWritePaths=/var/lib/switchyard/apps/shop/cron/${id}`,
        "StandardOutput=journal",
        "StandardError=journal",
        "SyslogIdentifier=sy-shop-cron-0f3a9c1e",
        "LogExtraFields=SWITCHYARD_RELEASE=r1",
        "",
      ].join("\n"),
    );
  });

  test("volumes are bound into the release", () => {
    const text = service({
      volumes: [{ dir: "/var/lib/switchyard/apps/shop/volumes/data", mountAt: "/var/lib/switchyard/apps/shop/releases/r1/data" }],
    });
    expect(text).toContain(
      "ReadWritePaths=/var/lib/switchyard/apps/shop/volumes/data\nBindPaths=/var/lib/switchyard/apps/shop/volumes/data:/var/lib/switchyard/apps/shop/releases/r1/data\nUMask=0007\n",
    );
  });

  test("values are quoted and checked", () => {
    expect(service({ env: { A: 'x "y" 50%' } })).toContain('Environment="A=x \\"y\\" 50%%"');
    expect(() => service({ env: { "BAD KEY": "x" } })).toThrow();
    expect(() => service({ releaseDir: "/a/../b" })).toThrow();
    expect(() => service({ user: "root user" })).toThrow();
  });

  test("the timer, whole", () => {
    expect(
      buildCronTimer({ app: "shop", unitId: "0f3a9c1e", jobName: "nightly tidy", onCalendar: onCalendar("0 3 * * *", "Europe/Berlin") }),
    ).toBe(
      [
        "# Generated by Switchyard; changes are overwritten.",
        "[Unit]",
        "Description=Schedule of the Switchyard cron job nightly tidy of shop",
        "",
        "[Timer]",
        "OnCalendar=*-*-* 03:00:00 Europe/Berlin",
        "AccuracySec=1s",
        "Persistent=no",
        "Unit=sy-shop-cron-0f3a9c1e.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
      ].join("\n"),
    );
    expect(() => buildCronTimer({ app: "shop", unitId: "0f3a9c1e", jobName: "x", onCalendar: "daily\nExecStart=/bin/sh" })).toThrow();
  });
});

describe("the root helper installs exactly these units", () => {
  const HELPER = join(import.meta.dir, "..", "..", "infrastructure", "helper", "switchyard-helper");
  const id = "0f3a9c1e-1111-4222-8333-444455556666";
  const jobDir = `/var/lib/switchyard/apps/shop/cron/${id}`;
  const service = buildCronService({
    app: "shop",
    unitId: "0f3a9c1e",
    jobName: "tidy",
    releaseId: "r1",
    releaseDir: "/var/lib/switchyard/apps/shop/releases/r1",
    envFile: "/var/lib/switchyard/apps/shop/env/r1.env",
    env: { PATH: "/var/lib/switchyard/bin:/usr/bin" },
    user: "switchyard-apps",
    bun: "/var/lib/switchyard/bin/bun",
    runner: "/var/lib/switchyard/bin/cron-runner.ts",
    specFile: `${jobDir}/spec.json`,
    jobDir,
    volumes: [{ dir: "/var/lib/switchyard/apps/shop/volumes/data", mountAt: "/var/lib/switchyard/apps/shop/releases/r1/data" }],
    timeoutSec: 60,
  });
  const timer = buildCronTimer({
    app: "shop",
    unitId: "0f3a9c1e",
    jobName: "tidy",
    onCalendar: onCalendar("*/15 9-17 * * mon-fri", "Europe/Berlin"),
  });

  function helper(args: string[], stdin?: string): { code: number; out: string; err: string } {
    const root = mkdtempSync(join(tmpdir(), "sy-helper-"));
    try {
      const proc = Bun.spawnSync(["bash", HELPER, ...args], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SWITCHYARD_HELPER_ROOT: root },
        stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
      });
      return { code: proc.exitCode, out: proc.stdout.toString().trim(), err: proc.stderr.toString().trim() };
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  test("the service and the timer are accepted, and started by name", () => {
    expect(helper(["unit-install", "sy-shop-cron-0f3a9c1e.service"], service)).toEqual({
      code: 0,
      out: "would run: systemctl daemon-reload",
      err: "",
    });
    expect(helper(["unit-install", "sy-shop-cron-0f3a9c1e.timer"], timer)).toEqual({
      code: 0,
      out: "would run: systemctl daemon-reload",
      err: "",
    });
    expect(helper(["systemctl", "enable", "sy-shop-cron-0f3a9c1e.timer"]).out).toBe(
      "would run: systemctl enable sy-shop-cron-0f3a9c1e.timer",
    );
    expect(helper(["systemctl", "start", "sy-shop-cron-0f3a9c1e.service"]).code).toBe(0);
  });

  test("Run now starts a job's service without waiting for its run (--no-block, cron services only)", () => {
    expect(cronStartArgv("sy-shop-cron-0f3a9c1e.service")).toEqual(["systemctl", "start", "--no-block", "sy-shop-cron-0f3a9c1e.service"]);
    expect(() => cronStartArgv("sy-shop-cron-0f3a9c1e.timer")).toThrow();
    expect(helper(["systemctl", "start", "sy-shop-cron-0f3a9c1e.service", "--no-block"])).toEqual({
      code: 0,
      out: "would run: systemctl start --no-block sy-shop-cron-0f3a9c1e.service",
      err: "",
    });
    expect(helper(["systemctl", "start", "sy-shop-blue.service", "--no-block"]).code).toBe(2);
    expect(helper(["systemctl", "start", "sy-shop-cron-0f3a9c1e.timer", "--no-block"]).code).toBe(2);
    expect(helper(["systemctl", "stop", "sy-shop-cron-0f3a9c1e.service", "--no-block"]).code).toBe(2);
    expect(helper(["systemctl", "start", "sy-shop-cron-0f3a9c1e.service", "--now"]).code).toBe(2);
  });

  test("a timer may only start its own job's service and hold a schedule", () => {
    const other = helper(
      ["unit-install", "sy-shop-cron-0f3a9c1e.timer"],
      timer.replace("Unit=sy-shop-cron-0f3a9c1e.service", "Unit=sy-shop-blue.service"),
    );
    expect(other).toMatchObject({ code: 2, err: expect.stringContaining("refusing Unit=") });
    expect(helper(["unit-install", "sy-shop-cron-0f3a9c1e.timer"], `${timer}ExecStart=/bin/sh\n`)).toMatchObject({
      code: 2,
      err: expect.stringContaining("ExecStart"),
    });
    expect(helper(["unit-install", "sy-shop-cron-0f3a9c1e.service"], service.replace("User=switchyard-apps", "User=root")).code).toBe(2);
    expect(helper(["unit-install", "sy-shop-cron-0f3a9c1.timer"], timer).err).toContain("refusing unit name");
    const foreignVolume = service.replaceAll("/apps/shop/volumes/data", "/apps/bank/volumes/data");
    expect(helper(["unit-install", "sy-shop-cron-0f3a9c1e.service"], foreignVolume).err).toContain("refusing BindPaths");
  });
});

describe("the cron runner, as a timer starts it (no run id given)", () => {
  const RUNNER = join(import.meta.dir, "..", "..", "backend", "adapters", "cron", "runner.ts");

  async function runOnce(jobDir: string, spec: Record<string, unknown>): Promise<Array<Record<string, unknown>>> {
    const specFile = join(jobDir, "spec.json");
    await Bun.write(specFile, JSON.stringify({ jobId: "j1", timeoutSec: 5, overlap: "skip", jobDir, ...spec }));
    await using proc = Bun.spawn([process.execPath, RUNNER, specFile], { cwd: jobDir, stdout: "pipe", stderr: "pipe" });
    expect(await proc.exited).toBe(0);
    const results: Array<Record<string, unknown>> = [];
    for (const name of new Bun.Glob("runs/*.json").scanSync(jobDir)) {
      const result = (await Bun.file(join(jobDir, name)).json()) as Record<string, unknown>;
      results.push({
        ...result,
        output: await Bun.file(join(jobDir, name.replace(/\.json$/, ".out")))
          .text()
          .catch(() => null),
      });
      rmSync(join(jobDir, name));
      rmSync(join(jobDir, name.replace(/\.json$/, ".out")), { force: true });
    }
    return results;
  }

  test("records a scheduled run, a requested manual run, a skip while locked, and takes over a dead runner's lock", async () => {
    const jobDir = mkdtempSync(join(tmpdir(), "sy-cron-"));
    try {
      const [scheduled] = await runOnce(jobDir, { command: "echo hi; echo oops >&2; exit 4" });
      expect(scheduled).toMatchObject({
        jobId: "j1",
        trigger: "schedule",
        status: "failed",
        exitCode: 4,
        pid: null,
        message: "Exited with code 4.",
      });
      expect(String(scheduled?.output)).toContain("hi\n");
      expect(String(scheduled?.output)).toContain("oops\n");

      const runId = crypto.randomUUID();
      const second = crypto.randomUUID();
      await Bun.write(join(jobDir, `manual-${runId}.json`), JSON.stringify({ runId, dueAt: "2026-01-01T00:00:00.000Z" }));
      await Bun.write(join(jobDir, `manual-${second}.json`), JSON.stringify({ runId: second, dueAt: "2026-01-01T00:00:01.000Z" }));
      // Two Run now requests: both run, one after the other, in one start of the service.
      const manual = await runOnce(jobDir, { command: "true" });
      expect(manual.map((r) => r.id).sort()).toEqual([runId, second].sort());
      expect(manual).toMatchObject([
        { trigger: "manual", status: "succeeded", exitCode: 0 },
        { trigger: "manual", status: "succeeded", exitCode: 0 },
      ]);
      expect(new Bun.Glob("manual-*").scanSync(jobDir).next().done).toBe(true);

      await Bun.write(join(jobDir, "lock", "pid"), `${process.pid}\n`);
      expect(await runOnce(jobDir, { command: "true" })).toMatchObject([{ status: "skipped", startedAt: null }]);

      // A pid no process has: the runner that held it is gone.
      await Bun.write(join(jobDir, "lock", "pid"), "4194304\n");
      expect(await runOnce(jobDir, { command: "echo took over" })).toMatchObject([{ status: "succeeded", output: "took over\n" }]);
      expect(await Bun.file(join(jobDir, "lock", "pid")).exists()).toBe(false);
    } finally {
      rmSync(jobDir, { recursive: true, force: true });
    }
  });

  test("a spec the apps' user could have written is refused, and the panel keeps it out of their reach", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sy-cron-"));
    try {
      // Where the panel keeps a job's files on a server: the spec outside the job's group-writable directory.
      const files = cronJobFiles(dataDir, "shop", crypto.randomUUID());
      ensureJobDirs(files, true);
      writeSpec(files, { jobId: "j1", command: "true", timeoutSec: 5, overlap: "skip", jobDir: files.jobDir }, true);
      expect(files.spec.startsWith(`${files.jobDir}/`)).toBe(false);
      expect(statSync(files.jobDir).mode & 0o7777).toBe(0o2770);
      expect(statSync(join(files.spec, "..")).mode & 0o022).toBe(0);
      expect(statSync(files.spec).mode & 0o022).toBe(0);

      // A spec in a directory the group may write to, or writable itself, is not run.
      const shared = join(dataDir, "shared");
      mkdirSync(shared);
      chmodSync(shared, 0o2770);
      const specFile = join(shared, "spec.json");
      await Bun.write(specFile, JSON.stringify({ jobId: "j1", command: "echo ran", timeoutSec: 5, overlap: "skip", jobDir: shared }));
      chmodSync(specFile, 0o640);
      const refused = Bun.spawnSync([process.execPath, RUNNER, specFile], { cwd: shared, stdout: "pipe", stderr: "pipe" });
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr.toString()).toContain("refusing");
      expect(new Bun.Glob("runs/*").scanSync(shared).next().done).toBe(true);
      chmodSync(shared, 0o750);
      chmodSync(specFile, 0o660);
      expect(Bun.spawnSync([process.execPath, RUNNER, specFile], { cwd: shared, stdout: "pipe", stderr: "pipe" }).exitCode).not.toBe(0);
      chmodSync(specFile, 0o640);
      expect(Bun.spawnSync([process.execPath, RUNNER, specFile], { cwd: shared, stdout: "pipe", stderr: "pipe" }).exitCode).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
