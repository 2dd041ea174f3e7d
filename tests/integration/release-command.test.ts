/**
 * The release command (migrations): a Procfile `release:` line runs in the new release's directory
 * with the release's env, between release and start, as its own logged step with secrets masked;
 * a failing one fails the deploy while the live release keeps serving through nginx; it can be run
 * again as a job; restarts do not run it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { TEST_DATABASE_URL, TEST_DB, withDatabase } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

const SECRET = "rc-s3cr3t-value";

/** Writes a table row in the app's database and a marker file in the release's directory, then counts its runs. */
const MIGRATE = `import { SQL } from "bun";
const version = await Bun.file("version.txt").text();
console.log("migrating " + version + " with API_KEY=" + process.env.API_KEY + " NODE_ENV=" + process.env.NODE_ENV + " PORT=" + (process.env.PORT ?? "unset"));
const db = new SQL(process.env.DATABASE_URL);
await db\`create table if not exists release_marks (version text not null)\`;
await db\`insert into release_marks (version) values (\${version})\`;
await db.close();
const runs = (await Bun.file("runs.txt").exists()) ? Number(await Bun.file("runs.txt").text()) : 0;
await Bun.write("runs.txt", String(runs + 1));
await Bun.write("marker.txt", version);
console.error("migrated to " + version);
`;

/** Serves the marker the release command wrote, and how often it ran, at /marker. */
const SERVER = `const version = await Bun.file("version.txt").text();
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch(req) {
    if (new URL(req.url).pathname === "/marker") {
      const marker = await Bun.file("marker.txt").text().catch(() => "none");
      const runs = await Bun.file("runs.txt").text().catch(() => "0");
      return new Response(marker + ":" + runs);
    }
    return new Response(version);
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`;

function migratingApp(version: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...bunApp(version),
    "server.ts": SERVER,
    "migrate.ts": MIGRATE,
    Procfile: "web: bun server.ts\nrelease: bun migrate.ts\n",
    ...extra,
  };
}

describe(`release command (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  const repos: TestRepo[] = [];
  // The app's own database on the machine's PostgreSQL, named for this run alone.
  const appDb = `sy_rc_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const appDbUrl = withDatabase(TEST_DATABASE_URL, appDb);
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });

  beforeAll(async () => {
    await admin.unsafe(`create database ${appDb}`);
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api?.close();
    for (const r of repos) r.cleanup();
    await admin.unsafe(`drop database if exists ${appDb} with (force)`);
    await admin.end();
  });

  async function repo(files: Record<string, string>): Promise<TestRepo> {
    const r = await createRepo(files);
    repos.push(r);
    return r;
  }

  async function createApp(name: string, repoUrl: string, extra: Record<string, unknown> = {}) {
    const res = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name, repoUrl, healthTimeoutSec: 20, watchSeconds: 1, drainSeconds: 1, ...extra },
    });
    expect(res.status).toBe(201);
  }

  async function run(method: string, path: string): Promise<string> {
    const res = await api.request(method, path, { cookie, body: {} });
    expect(res.status).toBe(202);
    return res.body.job.id as string;
  }

  async function finished(jobId: string) {
    await api.services.orchestrator.waitFor(jobId, 300_000);
    return (await api.request("GET", `/api/v1/jobs/${jobId}`, { cookie })).body;
  }

  async function logText(jobId: string): Promise<string> {
    const res = await api.request("GET", `/api/v1/jobs/${jobId}/logs`, { cookie });
    return (res.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n");
  }

  const stepList = (steps: Array<{ name: string; status: string }>) => steps.map((s) => `${s.name}:${s.status}`);

  async function throughNginx(app: string, path: string): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${api.config.proxyPort}${path}`, { headers: { host: `${app}.localhost` } });
    expect(res.status).toBe(200);
    return res.text();
  }

  async function marks(): Promise<string[]> {
    const sql = postgres(appDbUrl, { max: 1, onnotice: () => {} });
    try {
      return (await sql`select version from release_marks order by version`).map((r) => r.version as string);
    } finally {
      await sql.end();
    }
  }

  test("a Procfile release: line migrates before start, logged and masked; a failing one keeps the live release serving", async () => {
    const r = await repo(migratingApp("v1"));
    await createApp("migrates", r.url);
    const none = await api.request("GET", "/api/v1/apps/migrates/release-command", { cookie });
    expect(none.status).toBe(200);
    expect(none.body).toEqual({ command: null, lastRun: null });
    const env = await api.request("PUT", "/api/v1/apps/migrates/env", {
      cookie,
      body: {
        vars: [
          { key: "API_KEY", value: SECRET, secret: true },
          { key: "DATABASE_URL", value: appDbUrl, secret: true },
        ],
      },
    });
    expect(env.status).toBe(200);

    const first = await finished(await run("POST", "/api/v1/apps/migrates/deploy"));
    expect(first.job.status).toBe("succeeded");
    expect(stepList(first.steps).slice(4, 7)).toEqual(["release:succeeded", "release-command:succeeded", "start:succeeded"]);
    const log = await logText(first.job.id);
    expect(log).toContain("Release command: bun migrate.ts (Procfile release:).");
    expect(log).toContain("$ bun migrate.ts");
    expect(log).toContain("migrating v1 with API_KEY=•••• NODE_ENV=production PORT=unset");
    expect(log).toContain("migrated to v1");
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain(appDb);
    // The release command wrote into the release's directory (the app serves it) and the app's database.
    expect(await throughNginx("migrates", "/marker")).toBe("v1:1");
    expect(await marks()).toEqual(["v1"]);

    const info = await api.request("GET", "/api/v1/apps/migrates/release-command", { cookie });
    expect(info.status).toBe(200);
    expect(info.body.command).toBe("bun migrate.ts");
    expect(info.body.lastRun).toMatchObject({ status: "succeeded", jobId: first.job.id });
    expect(Number.isNaN(Date.parse(info.body.lastRun.at))).toBe(false);
    expect(info.body.lastRun.output).toContain("migrating v1 with API_KEY=•••• NODE_ENV=production PORT=unset");
    expect(JSON.stringify(info.body)).not.toContain(SECRET);
    const before = (await api.request("GET", "/api/v1/apps/migrates", { cookie })).body.app;

    // v2's migration fails: nothing is started or switched, v1 keeps answering through nginx.
    await r.commit(
      { "migrate.ts": 'console.error("migration refused with API_KEY=" + process.env.API_KEY); process.exit(3);\n' },
      "a migration that fails",
    );
    const second = await finished(await run("POST", "/api/v1/apps/migrates/deploy"));
    expect(second.job.status).toBe("failed");
    expect(second.job.error).toContain("exited with 3");
    expect(stepList(second.steps).slice(4, 7)).toEqual(["release:succeeded", "release-command:failed", "start:skipped"]);
    const failedLog = await logText(second.job.id);
    expect(failedLog).toContain("migration refused with API_KEY=••••");
    expect(failedLog).not.toContain(SECRET);
    expect(await throughNginx("migrates", "/")).toBe("v1");
    expect(await throughNginx("migrates", "/marker")).toBe("v1:1");
    const after = (await api.request("GET", "/api/v1/apps/migrates", { cookie })).body.app;
    expect(after.status).toBe("live");
    expect(after.liveColor).toBe(before.liveColor);
    expect(after.currentRelease.id).toBe(before.currentRelease.id);
    const releases = (await api.request("GET", "/api/v1/apps/migrates/releases", { cookie })).body.releases;
    expect(releases.map((x: { number: number; status: string }) => `v${x.number}:${x.status}`)).toEqual(["v2:failed", "v1:live"]);
    const lastFailed = (await api.request("GET", "/api/v1/apps/migrates/release-command", { cookie })).body.lastRun;
    expect(lastFailed).toMatchObject({ status: "failed", jobId: second.job.id });
    expect(lastFailed.output).toContain("migration refused with API_KEY=••••");

    // Run again: the live release's (v1's) command, in its directory, as a job of its own.
    const rerunId = await run("POST", "/api/v1/apps/migrates/release-command");
    const rerun = await finished(rerunId);
    expect(rerun.job.kind).toBe("release-command");
    expect(rerun.job.status).toBe("succeeded");
    expect(stepList(rerun.steps)).toEqual(["release-command:succeeded"]);
    expect(await logText(rerunId)).toContain("migrating v1 with API_KEY=••••");
    expect(await throughNginx("migrates", "/marker")).toBe("v1:2");
    expect(await marks()).toEqual(["v1", "v1"]);
    const latest = (await api.request("GET", "/api/v1/apps/migrates/release-command", { cookie })).body;
    expect(latest.lastRun).toMatchObject({ status: "succeeded", jobId: rerunId });
    expect(JSON.stringify(latest)).not.toContain(SECRET);

    // A restart boots the live release again without running its release command.
    const restart = await finished(await run("POST", "/api/v1/apps/migrates/restart"));
    expect(restart.job.status).toBe("succeeded");
    expect(restart.steps.map((s: { name: string }) => s.name)).not.toContain("release-command");
    expect(await throughNginx("migrates", "/marker")).toBe("v1:2");
    expect((await api.request("GET", "/api/v1/apps/migrates/release-command", { cookie })).body.lastRun.jobId).toBe(rerunId);
  });

  test("the setting wins over the Procfile, and a run again is refused with 409 when there is nothing to run", async () => {
    const r = await repo(bunApp("v1"));
    await createApp("plain", r.url);
    // Not deployed yet: no live release.
    const early = await api.request("POST", "/api/v1/apps/plain/release-command", { cookie, body: {} });
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe("no_live_release");
    const deployed = await finished(await run("POST", "/api/v1/apps/plain/deploy"));
    expect(deployed.job.status).toBe("succeeded");
    const skipped = deployed.steps.find((s: { name: string }) => s.name === "release-command");
    expect(skipped.status).toBe("skipped");
    expect(skipped.message).toContain("No release command");
    // Live, but no release command.
    const refused = await api.request("POST", "/api/v1/apps/plain/release-command", { cookie, body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("no_release_command");
    expect((await api.request("GET", "/api/v1/apps/plain/release-command", { cookie })).body).toEqual({ command: null, lastRun: null });

    // Set in the settings: it is what a run again uses from now on.
    const patched = await api.request("PATCH", "/api/v1/apps/plain", { cookie, body: { releaseCommand: "echo from-the-settings" } });
    expect(patched.status).toBe(200);
    expect(patched.body.app.releaseCommand).toBe("echo from-the-settings");
    const rerun = await finished(await run("POST", "/api/v1/apps/plain/release-command"));
    expect(rerun.job.status).toBe("succeeded");
    const info = (await api.request("GET", "/api/v1/apps/plain/release-command", { cookie })).body;
    expect(info.command).toBe("echo from-the-settings");
    expect(info.lastRun.output).toContain("from-the-settings");

    // A deploy cancelled before its release command ran does not count as a run.
    await r.commit(
      { "build.ts": 'console.log("build waiting");\nawait new Promise(() => setInterval(() => {}, 1000));\n' },
      "a build that hangs",
    );
    const hanging = await run("POST", "/api/v1/apps/plain/deploy");
    await waitFor(async () => (await logText(hanging)).includes("build waiting"), { what: "the build to start", timeoutMs: 120_000 });
    expect((await api.request("POST", `/api/v1/jobs/${hanging}/cancel`, { cookie, body: {} })).status).toBe(202);
    const cancelled = await finished(hanging);
    expect(cancelled.job.status).toBe("cancelled");
    expect(cancelled.steps.find((s: { name: string }) => s.name === "release-command").status).toBe("cancelled");
    expect((await api.request("GET", "/api/v1/apps/plain/release-command", { cookie })).body.lastRun.jobId).toBe(rerun.job.id);

    // Bad input names the problem; unknown apps are 404.
    const bad = await api.request("PATCH", "/api/v1/apps/plain", { cookie, body: { releaseCommand: 42 } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("releaseCommand");
    expect((await api.request("GET", "/api/v1/apps/no-such-app/release-command", { cookie })).status).toBe(404);
    expect((await api.request("POST", "/api/v1/apps/no-such-app/release-command", { cookie, body: {} })).status).toBe(404);
    expect((await api.request("GET", "/api/v1/apps/plain/release-command")).status).toBe(401);
  });
});
