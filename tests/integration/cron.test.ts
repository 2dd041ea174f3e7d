/**
 * Cron jobs of a deployed app: they run on schedule (to the second, so no test waits a minute) in
 * the live release with its env and volumes, and their history shows exit code, duration and
 * masked output; Run now; the overlap policies (skip records a skipped run, queue runs after);
 * the timeout; a failing command; bad input named by field.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { directSystemdHost } from "../../backend/adapters/runtime/systemd.ts";
import { openDatabase } from "../../backend/db/client.ts";
import { findAppByName } from "../../backend/db/queries/apps.ts";
import { insertCronRun, listCronRuns, pruneCronRuns } from "../../backend/db/queries/cron.ts";
import type { App } from "../../backend/db/schema/index.ts";
import { ingestCronRuns, syncCronUnits } from "../../backend/jobs/cron.ts";
import { startCronScheduler, stopCronScheduler } from "../../backend/jobs/cron-scheduler.ts";
import { createServices } from "../../backend/main.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

interface Run {
  id: string;
  trigger: string;
  status: string;
  exitCode: number | null;
  durationMs: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  message: string | null;
  output?: string[];
}

describe(`cron jobs (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  const repos: TestRepo[] = [];
  const APP = "ticker";

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    const repo = await createRepo(bunApp("v1"));
    repos.push(repo);
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: APP, repoUrl: repo.url, volumes: [{ path: "data" }] },
    });
    expect(created.status).toBe(201);
    const env = await api.request("PUT", `/api/v1/apps/${APP}/env`, {
      cookie,
      body: { vars: [{ key: "API_SECRET", value: "s3cr3t-token-value", secret: true }] },
    });
    expect(env.status).toBe(200);
    const deploy = await api.request("POST", `/api/v1/apps/${APP}/deploy`, { cookie, body: {} });
    expect(deploy.status).toBe(202);
    await api.services.orchestrator.waitFor(deploy.body.job.id, 300_000);
    expect((await api.request("GET", `/api/v1/jobs/${deploy.body.job.id}`, { cookie })).body.job.status).toBe("succeeded");
  });
  afterAll(async () => {
    await api?.close();
    for (const r of repos) r.cleanup();
  });

  const volume = () => join(api.config.dataDir, "apps", APP, "volumes", "data");

  async function create(body: Record<string, unknown>): Promise<string> {
    const res = await api.request("POST", `/api/v1/apps/${APP}/cron`, { cookie, body });
    expect(res.status).toBe(201);
    return res.body.cronJob.id;
  }

  async function runs(jobId: string): Promise<Run[]> {
    const res = await api.request("GET", `/api/v1/apps/${APP}/cron/${jobId}/runs`, { cookie });
    expect(res.status).toBe(200);
    return res.body.runs;
  }

  async function runNow(jobId: string): Promise<Run> {
    const res = await api.request("POST", `/api/v1/apps/${APP}/cron/${jobId}/run`, { cookie });
    expect(res.status).toBe(202);
    return res.body.run;
  }

  async function finished(jobId: string, runId: string): Promise<Run> {
    return waitFor(
      async () => {
        const run = (await api.request("GET", `/api/v1/apps/${APP}/cron/${jobId}/runs/${runId}`, { cookie })).body.run as Run;
        return ["queued", "running"].includes(run.status) ? null : run;
      },
      { what: `run ${runId} to finish`, timeoutMs: 60_000 },
    );
  }

  test("a job with seconds runs on schedule in the live release, writes to the volume, and shows its history", async () => {
    const id = await create({
      name: "tick",
      schedule: "*/2 * * * * *",
      command: 'echo "tick $(cat version.txt)" >> data/ticks.txt && echo "ran with $API_SECRET in $(pwd)"',
    });
    const listed = (await api.request("GET", `/api/v1/apps/${APP}/cron`, { cookie })).body.cronJobs;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id, name: "tick", timezone: "UTC", overlap: "skip", timeoutSec: 3600, enabled: true });
    expect(new Date(listed[0].nextRunAt).getTime()).toBeGreaterThan(Date.now() - 2000);

    const done = await waitFor(
      async () => {
        const all = await runs(id);
        const ok = all.filter((r) => r.status === "succeeded" && r.trigger === "schedule");
        return ok.length >= 2 ? ok : null;
      },
      { what: "two scheduled runs to succeed", timeoutMs: 60_000 },
    );
    // Each due instant is a whole second of the schedule, and ran once.
    const dues = (await runs(id)).filter((r) => r.trigger === "schedule").map((r) => (r as unknown as { dueAt: string }).dueAt);
    expect(new Set(dues).size).toBe(dues.length);
    for (const due of dues) expect(new Date(due).getUTCSeconds() % 2).toBe(0);
    expect(readFileSync(join(volume(), "ticks.txt"), "utf8")).toMatch(/^tick v1\ntick v1\n/);

    const first = done[0] as Run;
    expect(first.exitCode).toBe(0);
    expect(first.durationMs).toBeGreaterThanOrEqual(0);
    const detail = (await api.request("GET", `/api/v1/apps/${APP}/cron/${id}/runs/${first.id}`, { cookie })).body.run as Run;
    expect(detail.output?.join("\n")).toMatch(/^ran with •+ in .*\/releases\//);
    expect(detail.output?.join("\n")).not.toContain("s3cr3t");

    // Disabled: no next run, and it stops running.
    const off = await api.request("PATCH", `/api/v1/apps/${APP}/cron/${id}`, { cookie, body: { enabled: false } });
    expect(off.status).toBe(200);
    expect(off.body.cronJob).toMatchObject({ enabled: false, nextRunAt: null });
    expect(off.body.cronJob.lastRun).not.toBeNull();

    const page = await api.request("GET", `/api/v1/apps/${APP}/cron/${id}/runs?limit=1`, { cookie });
    expect(page.body.runs).toHaveLength(1);
    expect(page.body.nextBefore).toBeString();
    const next = await api.request(
      "GET",
      `/api/v1/apps/${APP}/cron/${id}/runs?limit=1&before=${encodeURIComponent(page.body.nextBefore)}`,
      {
        cookie,
      },
    );
    expect(next.body.runs).toHaveLength(1);
    expect(next.body.runs[0].id).not.toBe(page.body.runs[0].id);
  });

  test("Run now runs a disabled job once, as a manual run", async () => {
    const id = await create({ name: "manual", schedule: "0 3 * * *", command: "echo by hand", enabled: false });
    const run = await runNow(id);
    expect(run.trigger).toBe("manual");
    const done = await finished(id, run.id);
    expect(done).toMatchObject({ status: "succeeded", exitCode: 0, output: ["by hand"] });
  });

  test("a failing command is failed with its exit code and output", async () => {
    const id = await create({ name: "fails", schedule: "0 3 * * *", command: "echo boom >&2; exit 3" });
    const done = await finished(id, (await runNow(id)).id);
    expect(done).toMatchObject({ status: "failed", exitCode: 3, output: ["boom"], message: "Exited with code 3." });
  });

  test("the timeout stops the command: timed_out", async () => {
    const id = await create({ name: "slow", schedule: "0 3 * * *", command: "sleep 300", timeoutSec: 1 });
    const done = await finished(id, (await runNow(id)).id);
    expect(done.status).toBe("timed_out");
    expect(done.message).toContain("timeout of 1 s");
  });

  test("overlap skip records the second run as skipped; queue runs it after the first", async () => {
    for (const overlap of ["skip", "queue"] as const) {
      const gate = join(volume(), `gate-${overlap}`);
      const id = await create({
        name: `overlap ${overlap}`,
        schedule: "0 3 * * *",
        overlap,
        command: `while [ ! -f data/gate-${overlap} ]; do sleep 0.05; done; echo done`,
      });
      const first = await runNow(id);
      await waitFor(async () => (await runs(id)).find((r) => r.id === first.id)?.startedAt, { what: "the first run to start" });
      await waitFor(() => existsSync(join(api.config.dataDir, "apps", APP, "cron", id, "lock")), {
        what: "the first run to hold the lock",
      });
      const second = await runNow(id);
      if (overlap === "skip") {
        const skipped = await finished(id, second.id);
        expect(skipped.status).toBe("skipped");
        expect(skipped.message).toContain("still running");
        writeFileSync(gate, "");
        expect((await finished(id, first.id)).status).toBe("succeeded");
      } else {
        await waitFor(async () => (await runs(id)).find((r) => r.id === second.id)?.status === "queued", {
          what: "the second run to queue",
        });
        writeFileSync(gate, "");
        const a = await finished(id, first.id);
        const b = await finished(id, second.id);
        expect([a.status, b.status]).toEqual(["succeeded", "succeeded"]);
        expect(new Date(b.startedAt ?? 0).getTime()).toBeGreaterThanOrEqual(new Date(a.finishedAt ?? 0).getTime());
      }
    }
  });

  test("bad input is a 400 naming the field", async () => {
    const good = { name: "x", schedule: "* * * * *", command: "true" };
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ ...good, schedule: "61 * * * *" }, "schedule", /minute/],
      [{ ...good, schedule: "every day" }, "schedule", /./],
      [{ ...good, schedule: "0 0 1 * mon" }, "schedule", /day of the week/],
      [{ ...good, timezone: "Mars/Base" }, "timezone", /time zone/],
      [{ ...good, command: "" }, "command", /empty/],
      [{ ...good, command: "a\nb" }, "command", /one line/],
      [{ ...good, timeoutSec: 0 }, "timeoutSec", /at least 1/],
      [{ ...good, timeoutSec: 86_401 }, "timeoutSec", /86400/],
      [{ ...good, overlap: "both" }, "overlap", /skip or queue/],
      [{ schedule: "* * * * *", command: "true" }, "name", /./],
    ];
    for (const [body, field, message] of cases) {
      const res = await api.request("POST", `/api/v1/apps/${APP}/cron`, { cookie, body });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      const issue = (res.body.error.details.issues as Array<{ path: string; message: string }>)[0];
      expect(issue?.path).toBe(field);
      expect(issue?.message).toMatch(message);
    }
    const id = await create({ ...good, name: "patched" });
    const tz = await api.request("PATCH", `/api/v1/apps/${APP}/cron/${id}`, { cookie, body: { schedule: "0 0 L * *" } });
    expect(tz.status).toBe(400);
    expect(tz.body.error.details.issues[0].path).toBe("schedule");
    expect(
      (await api.request("PATCH", `/api/v1/apps/${APP}/cron/${crypto.randomUUID()}`, { cookie, body: { enabled: false } })).status,
    ).toBe(404);
    expect((await api.request("GET", `/api/v1/apps/${APP}/cron/not-an-id/runs`, { cookie })).status).toBe(400);
    expect((await api.request("DELETE", `/api/v1/apps/${APP}/cron/${id}`, { cookie })).status).toBe(204);
    expect((await api.request("POST", `/api/v1/apps/${APP}/cron/${id}/run`, { cookie })).status).toBe(404);
  });

  test("with two panels scheduling, each due instant runs once", async () => {
    // A second panel on the same database and data dir, as during a self-update.
    const database = api.database.url ? await openDatabase({ url: api.database.url, pgliteDir: null, max: 2 }) : api.database;
    const second = createServices(api.config, database, {
      log: api.services.log,
      masterKey: api.services.masterKey,
      guiDir: null,
      runtime: api.services.runtime,
      proxy: api.services.proxy,
    });
    startCronScheduler(second);
    try {
      const id = await create({ name: "twice", schedule: "*/2 * * * * *", command: 'echo "$(date +%s%N)" >> data/twice.txt' });
      const done = await waitFor(
        async () => {
          const ok = (await runs(id)).filter((r) => r.trigger === "schedule" && r.status === "succeeded");
          return ok.length >= 3 ? ok : null;
        },
        { what: "three scheduled runs", timeoutMs: 60_000 },
      );
      expect((await api.request("PATCH", `/api/v1/apps/${APP}/cron/${id}`, { cookie, body: { enabled: false } })).status).toBe(200);
      const all = (await runs(id)).filter((r) => r.trigger === "schedule");
      await waitFor(async () => (await runs(id)).every((r) => !["queued", "running"].includes(r.status)), { what: "the last run to end" });
      const dues = all.map((r) => (r as unknown as { dueAt: string }).dueAt);
      expect(new Set(dues).size).toBe(dues.length);
      expect(done.length).toBeGreaterThanOrEqual(3);
      const lines = readFileSync(join(volume(), "twice.txt"), "utf8").trim().split("\n");
      expect(lines.length).toBe((await runs(id)).filter((r) => r.status === "succeeded").length);
    } finally {
      await stopCronScheduler(second);
      if (database !== api.database) await database.close();
    }
  });

  test("a run nobody reports on is closed as cancelled; history is pruned to 100 runs", async () => {
    const id = await create({ name: "history", schedule: "@daily", command: "true", enabled: false });
    const appId = (await api.request("GET", `/api/v1/apps/${APP}`, { cookie })).body.app.id as string;
    const orphan = await insertCronRun(api.services.db, {
      id: crypto.randomUUID(),
      cronJobId: id,
      appId,
      trigger: "schedule",
      status: "running",
      releaseId: null,
      dueAt: new Date(),
    });
    // The next start's pass, as seen a while later: no runner ever reported it.
    await ingestCronRuns(api.services, new Date(Date.now() + 5 * 60_000));
    const closed = (await runs(id)).find((r) => r.id === orphan.id);
    expect(closed?.status).toBe("cancelled");
    expect(closed?.message).toContain("never started");

    for (let i = 0; i < 104; i++) {
      await insertCronRun(api.services.db, {
        id: crypto.randomUUID(),
        cronJobId: id,
        appId,
        trigger: "schedule",
        status: "succeeded",
        releaseId: null,
        dueAt: new Date(Date.now() - i * 1000),
      });
    }
    expect(await pruneCronRuns(api.services.db)).toBeGreaterThanOrEqual(5);
    expect(await listCronRuns(api.services.db, id, { limit: 500 })).toHaveLength(100);
  });

  test("a run file that is not a runner's result is moved aside; the other runs are still taken in", async () => {
    const bad = await create({ name: "forged", schedule: "@daily", command: "true", enabled: false });
    const good = await create({ name: "honest", schedule: "@daily", command: "true", enabled: false });
    const runsDir = (jobId: string) => join(api.config.dataDir, "apps", APP, "cron", jobId, "runs");
    const result = (over: Record<string, unknown>) => ({
      status: "succeeded",
      trigger: "schedule",
      dueAt: new Date().toISOString(),
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: 5,
      exitCode: 0,
      message: null,
      pid: null,
      ...over,
    });
    const badId = crypto.randomUUID();
    const goodId = crypto.randomUUID();
    // The apps' user can write into a job's directory on a server: a bad date and a bad number.
    mkdirSync(runsDir(bad), { recursive: true });
    writeFileSync(join(runsDir(bad), `${badId}.json`), JSON.stringify(result({ dueAt: "not a date", durationMs: "soon" })));
    mkdirSync(runsDir(good), { recursive: true });
    writeFileSync(join(runsDir(good), `${goodId}.json`), JSON.stringify(result({})));
    await ingestCronRuns(api.services);
    expect((await runs(good)).map((r) => [r.id, r.status])).toEqual([[goodId, "succeeded"]]);
    expect(await runs(bad)).toEqual([]);
    expect(existsSync(join(runsDir(bad), `${badId}.json`))).toBe(false);
    expect(existsSync(join(runsDir(bad), `${badId}.json.rejected`))).toBe(true);
    // The next pass has nothing left to stumble on.
    await ingestCronRuns(api.services);
  });

  test("the CLI lists, adds, runs and removes cron jobs through the API with a token", async () => {
    const token = (await api.request("POST", "/api/v1/tokens", { cookie, body: { name: "cli" } })).body.token as string;
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => api.app.fetch(req) });
    const dataDir = mkdtempSync(join(tmpdir(), "sy-cli-"));
    const cli = async (...args: string[]) => {
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        SWITCHYARD_DATA_DIR: dataDir,
        SWITCHYARD_URL: `http://127.0.0.1:${server.port}`,
        SWITCHYARD_TOKEN: token,
      };
      delete env.DATABASE_URL;
      await using proc = Bun.spawn([process.execPath, join(import.meta.dir, "../../backend/cli.ts"), ...args], {
        env,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      return { out, err, code };
    };
    try {
      const added = await cli(
        "cron",
        "add",
        APP,
        "from-cli",
        "0 4 * * *",
        "echo from the cli",
        "--timezone",
        "Europe/Paris",
        "--overlap",
        "queue",
      );
      expect(added).toMatchObject({ code: 0, err: "" });
      expect(added.out).toMatch(/^Added from-cli \(.{36}\); next run 20/);
      const listed = await cli("cron", "list", APP);
      expect(listed.out).toContain("  0 4 * * * Europe/Paris  $ echo from the cli");
      const ran = await cli("cron", "run", APP, "from-cli");
      expect(ran).toMatchObject({ code: 0, err: "" });
      expect(ran.out).toMatch(/from the cli\n.*succeeded +manual +exit 0/);
      expect((await cli("cron", "runs", APP, "from-cli")).out).toContain("succeeded");
      const refused = await cli("cron", "add", APP, "bad", "0 0 L * *", "true");
      expect(refused.code).not.toBe(0);
      expect(refused.err).toContain("schedule: is not supported");
      expect(await cli("cron", "remove", APP, "from-cli")).toMatchObject({ code: 0, out: `Removed from-cli from ${APP}.\n` });
      expect((await cli("cron", "run", APP, "from-cli")).err).toContain("has no cron job from-cli");
    } finally {
      server.stop(true);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("a run in progress when the panel stops is recorded as cancelled", async () => {
    const id = await create({ name: "long", schedule: "@daily", command: "echo started; sleep 300", enabled: false });
    const run = await runNow(id);
    // The runner holds the job's lock once its command runs.
    await waitFor(() => existsSync(join(api.config.dataDir, "apps", APP, "cron", id, "lock")), { what: "the run to start" });
    await stopCronScheduler(api.services);
    try {
      const stopped = (await api.request("GET", `/api/v1/apps/${APP}/cron/${id}/runs/${run.id}`, { cookie })).body.run as Run;
      expect(stopped).toMatchObject({ status: "cancelled", message: "Stopped before it finished.", output: ["started"] });
    } finally {
      startCronScheduler(api.services);
    }
  });

  test("server mode: the timer and service are written, and the service's run is taken into the history", async () => {
    const root = mkdtempSync(join(tmpdir(), "sy-cron-units-"));
    const unitDir = join(root, "etc/systemd/system");
    mkdirSync(unitDir, { recursive: true });
    // systemd is not running here: unit files are written for real, systemctl's verbs recorded (the
    // root helper's acceptance of these units is checked in tests/unit/cron.test.ts).
    const calls: string[] = [];
    const systemd = {
      ...directSystemdHost(unitDir),
      systemctl: async (args: string[]) => {
        calls.push(args.slice(1).join(" "));
        return { code: 0, signalCode: null, timedOut: false, cancelled: false, stdout: "", stderr: "", ms: 0 };
      },
    };
    const units = { systemd, unitDir };
    // The same panel, as a server's: its runtime is systemd's.
    const server = { ...api.services, runtime: { ...api.services.runtime, kind: "systemd" as const } };
    const app = (await findAppByName(api.services.db, APP)) as App;
    try {
      const id = await create({
        name: "on a server",
        schedule: "*/15 9-17 * * mon-fri",
        timezone: "Europe/Berlin",
        command: "echo from the timer; cat version.txt",
        enabled: false,
      });
      const unitId = id.replace(/-/g, "").slice(0, 8);
      await syncCronUnits(server, app, [], units);
      // Disabled: no timer, but the service is there for Run now.
      expect(existsSync(join(unitDir, `sy-${APP}-cron-${unitId}.timer`))).toBe(false);
      expect(existsSync(join(unitDir, `sy-${APP}-cron-${unitId}.service`))).toBe(true);

      expect((await api.request("PATCH", `/api/v1/apps/${APP}/cron/${id}`, { cookie, body: { enabled: true } })).status).toBe(200);
      await syncCronUnits(server, app, [], units);
      const timer = readFileSync(join(unitDir, `sy-${APP}-cron-${unitId}.timer`), "utf8");
      expect(timer).toContain("OnCalendar=Mon,Tue,Wed,Thu,Fri *-*-* 09..17:00/15:00 Europe/Berlin\n");
      // (The app's other jobs, from the tests above, get theirs too.)
      const mine = () => calls.filter((c) => c.includes(unitId));
      expect(mine()).toEqual([`enable sy-${APP}-cron-${unitId}.timer`, `restart sy-${APP}-cron-${unitId}.timer`]);
      expect(calls).toContain("daemon-reload");
      const service = readFileSync(join(unitDir, `sy-${APP}-cron-${unitId}.service`), "utf8");
      expect(service).toContain("User=switchyard-apps\n");
      expect(service).toContain(`BindPaths=${volume()}:`);

      // The service, run as systemd would: its directory, its env file and Environment= lines, its ExecStart.
      const field = (key: string) => [...service.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1] as string);
      const env: Record<string, string> = {};
      for (const line of readFileSync(field("EnvironmentFile")[0] as string, "utf8").split("\n")) {
        const at = line.indexOf("=");
        if (at > 0) env[line.slice(0, at)] = line.slice(at + 1).replace(/^"(.*)"$/, "$1");
      }
      for (const quoted of field("Environment")) {
        const [key, ...value] = quoted.replace(/^"|"$/g, "").split("=");
        env[key as string] = value.join("=");
      }
      await using proc = Bun.spawn((field("ExecStart")[0] as string).split(" "), {
        cwd: field("WorkingDirectory")[0],
        env,
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(await proc.exited).toBe(0);
      await ingestCronRuns(api.services);
      const [run] = await runs(id);
      expect(run).toMatchObject({ trigger: "schedule", status: "succeeded", exitCode: 0 });
      const detail = (await api.request("GET", `/api/v1/apps/${APP}/cron/${id}/runs/${run?.id}`, { cookie })).body.run as Run;
      expect(detail.output).toEqual(["from the timer", "v1"]);

      // Unchanged: nothing is rewritten. Deleted: both units go.
      const before = statSync(join(unitDir, `sy-${APP}-cron-${unitId}.timer`)).mtimeMs;
      await syncCronUnits(server, app, [], units);
      expect(statSync(join(unitDir, `sy-${APP}-cron-${unitId}.timer`)).mtimeMs).toBe(before);
      expect(mine()).toHaveLength(2);
      expect((await api.request("DELETE", `/api/v1/apps/${APP}/cron/${id}`, { cookie })).status).toBe(204);
      await syncCronUnits(server, app, [id], units);
      expect(existsSync(join(unitDir, `sy-${APP}-cron-${unitId}.timer`))).toBe(false);
      expect(existsSync(join(unitDir, `sy-${APP}-cron-${unitId}.service`))).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("an app with no live release refuses Run now", async () => {
    const repo = await createRepo(bunApp("v1"));
    repos.push(repo);
    expect((await api.request("POST", "/api/v1/apps", { cookie, body: { name: "undeployed", repoUrl: repo.url } })).status).toBe(201);
    const res = await api.request("POST", "/api/v1/apps/undeployed/cron", {
      cookie,
      body: { name: "x", schedule: "@daily", command: "true" },
    });
    expect(res.status).toBe(201);
    expect(res.body.cronJob.nextRunAt).toBeNull();
    const run = await api.request("POST", `/api/v1/apps/undeployed/cron/${res.body.cronJob.id}/run`, { cookie });
    expect(run.status).toBe(409);
    expect(run.body.error.code).toBe("no_live_release");
  });
});
