import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { engineFor } from "../../backend/adapters/databases/engine.ts";
import { databasePassword, findDatabaseByName } from "../../backend/db/queries/databases.ts";
import { pollDatabaseStats } from "../../backend/jobs/database-stats.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN_URL = process.env.SWITCHYARD_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const RUN = Math.random()
  .toString(36)
  .slice(2, 8)
  .replace(/^[0-9]/, "x");

/** An app that counts visits in Redis through REDIS_URL. */
const SERVER = `const version = await Bun.file("version.txt").text();
const redis = process.env.REDIS_URL ? new Bun.RedisClient(process.env.REDIS_URL) : null;
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch(req) {
    if (new URL(req.url).pathname === "/redis") return new Response(String(await redis.incr("visits")));
    return new Response(version);
  },
});
process.on("SIGTERM", () => { server.stop(); redis?.close(); process.exit(0); });
`;

/** A build that waits until the test opens its gate (a file), so a deploy can be held mid-way. */
const gatedBuild = (gate: string, version: string) => `import { existsSync } from "node:fs";
while (!existsSync(${JSON.stringify(gate)})) await Bun.sleep(100);
await Bun.write("version.txt", ${JSON.stringify(version)});
`;

function ping(url: string): string {
  const out = Bun.spawnSync(["redis-cli", "-u", url, "--no-auth-warning", "ping"]);
  return `${out.stdout}${out.stderr}`.trim();
}

describe(`database password rotation (${TEST_DB})`, () => {
  let api: TestApi;
  let owner: string;
  const repos: TestRepo[] = [];
  const gateDir = mkdtempSync(join(tmpdir(), "sy-gate-"));
  const gate = join(gateDir, "open");
  const dbs = [`kva-${RUN}`, `kvb-${RUN}`];
  const apps = [`rota-${RUN}`, `rotb-${RUN}`];

  beforeAll(async () => {
    // Builds may run as the apps' user: the gate must be visible to it.
    chmodSync(gateDir, 0o755);
    // The panel's default number of job workers.
    api = await createTestApi({ background: true, config: { SWITCHYARD_DATABASE_ADMIN_URL: ADMIN_URL } });
    owner = await api.setupOwner();
  });

  afterAll(async () => {
    for (const name of dbs) {
      const row = await findDatabaseByName(api.services.db, name).catch(() => null);
      if (row)
        await engineFor(api.services, row.engine)
          .drop({ name, config: row.config, password: databasePassword(api.services.masterKey, row) })
          .catch(() => {});
    }
    await api.close();
    for (const r of repos) r.cleanup();
    rmSync(gateDir, { recursive: true, force: true });
  });

  async function finished(jobId: string) {
    await api.services.orchestrator.waitFor(jobId, 600_000);
    return (await api.request("GET", `/api/v1/jobs/${jobId}`, { cookie: owner })).body;
  }

  async function database(name: string) {
    const res = await api.request("GET", `/api/v1/databases/${name}`, { cookie: owner });
    expect(res.status).toBe(200);
    return res.body.database;
  }

  async function url(name: string): Promise<string> {
    return (await api.request("POST", `/api/v1/databases/${name}/credentials`, { cookie: owner })).body.url;
  }

  const through = (app: string, path: string) =>
    fetch(`http://127.0.0.1:${api.config.proxyPort}${path}`, { headers: { host: `${app}.localhost` } });

  async function rotationGone(name: string) {
    await waitFor(async () => (await database(name)).rotation === null, { timeoutMs: 600_000, what: `the rotation of ${name} to finish` });
  }

  test("two databases provisioned, each attached to a deployed app", async () => {
    writeFileSync(gate, "");
    for (const [i, name] of dbs.entries()) {
      const res = await api.request("POST", "/api/v1/databases", { cookie: owner, body: { name, engine: "redis" } });
      expect(res.status).toBe(202);
      expect((await finished(res.body.job.id)).job.status).toBe("succeeded");
      const repo = await createRepo(bunApp("v1", { "server.ts": SERVER, "build.ts": gatedBuild(gate, "v1") }));
      repos.push(repo);
      const app = apps[i] as string;
      const created = await api.request("POST", "/api/v1/apps", {
        cookie: owner,
        body: { name: app, repoUrl: repo.url, healthTimeoutSec: 30, watchSeconds: 1, drainSeconds: 2 },
      });
      expect(created.status).toBe(201);
      expect((await api.request("POST", `/api/v1/databases/${name}/attach`, { cookie: owner, body: { app } })).status).toBe(200);
    }
    for (const app of apps) {
      const deploy = await api.request("POST", `/api/v1/apps/${app}/deploy`, { cookie: owner, body: {} });
      expect((await finished(deploy.body.job.id)).job.status).toBe("succeeded");
      expect(await (await through(app, "/redis")).text()).toBe("1");
    }
    expect((await database(dbs[0] as string)).rotation).toBeNull();
  });

  test("two rotations at once both end while their deploys are held; the old passwords stop working only after the deploys succeeded", async () => {
    rmSync(gate);
    const before = await Promise.all(dbs.map(url));
    const rotations = await Promise.all(dbs.map((name) => api.request("POST", `/api/v1/databases/${name}/rotate`, { cookie: owner })));
    for (const res of rotations) expect(res.status).toBe(202);
    // Both rotation jobs end although the deploys they queued cannot finish yet: nothing holds a worker waiting.
    const done = await Promise.all(rotations.map((res) => finished(res.body.job.id)));
    const deployJobs: string[] = [];
    for (const [i, d] of done.entries()) {
      expect({ status: d.job.status, error: d.job.error }).toEqual({ status: "succeeded", error: null });
      expect(d.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
        "rotate:succeeded",
        "update-apps:succeeded",
        "redeploy:succeeded",
        "finish:skipped",
      ]);
      expect(d.job.result.deploys.map((x: { app: string }) => x.app)).toEqual([apps[i]]);
      deployJobs.push(d.job.result.deploys[0].jobId);
      const logs = await api.request("GET", `/api/v1/jobs/${d.job.id}/logs`, { cookie: owner });
      const text = (logs.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n");
      expect(text).toContain("the old password stays valid until the deploys of");
    }
    // Held: the rotation waits, visible in the API, and both passwords work.
    const after = await Promise.all(dbs.map(url));
    for (const [i, name] of dbs.entries()) {
      const shown = await database(name);
      expect(shown.rotation).toMatchObject({
        state: "waiting-for-deploys",
        jobId: done[i].job.id,
        apps: [{ app: apps[i], deployJobId: deployJobs[i], status: "waiting", reason: null }],
        reason: null,
      });
      expect(ping(before[i] as string)).toBe("PONG");
      expect(ping(after[i] as string)).toBe("PONG");
      expect(after[i]).not.toBe(before[i]);
    }
    // A second rotation while one waits is refused, naming the deploy it waits for.
    const again = await api.request("POST", `/api/v1/databases/${dbs[0]}/rotate`, { cookie: owner });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("rotation_pending");
    expect(again.body.error.message).toContain(apps[0]);
    expect(again.body.error.message).toContain(deployJobs[0]);

    writeFileSync(gate, "");
    for (const [i, name] of dbs.entries()) {
      expect((await finished(deployJobs[i] as string)).job.status).toBe("succeeded");
      await rotationGone(name);
      expect(ping(before[i] as string)).toMatch(/WRONGPASS|NOAUTH/);
      expect(ping(after[i] as string)).toBe("PONG");
      // The app runs with the new URL and its data.
      expect(await (await through(apps[i] as string, "/redis")).text()).toBe("2");
    }
  });

  test("a failed deploy leaves the old password valid and the rotation flagged; a later good deploy finishes it", async () => {
    const [name, app] = [dbs[1] as string, apps[1] as string];
    const repo = repos[1] as TestRepo;
    await repo.commit({ "build.ts": `console.error("the build is broken"); process.exit(1);\n` }, "broken build");
    const before = await url(name);
    const res = await api.request("POST", `/api/v1/databases/${name}/rotate`, { cookie: owner });
    expect(res.status).toBe(202);
    const done = await finished(res.body.job.id);
    expect(done.job.status).toBe("succeeded");
    const deployJob = done.job.result.deploys[0].jobId as string;
    expect((await finished(deployJob)).job.status).toBe("failed");
    const flagged = await waitFor(
      async () => {
        const rotation = (await database(name)).rotation;
        return rotation?.state === "needs-attention" ? rotation : null;
      },
      { timeoutMs: 120_000, what: "the rotation to need attention" },
    );
    expect(flagged.apps).toEqual([expect.objectContaining({ app, deployJobId: deployJob, status: "failed" })]);
    expect(flagged.apps[0].reason).toContain(`deploy ${deployJob} failed`);
    expect(flagged.reason).toContain(app);
    // The old password still works, and the live slot keeps serving with it.
    const after = await url(name);
    expect(ping(before)).toBe("PONG");
    expect(ping(after)).toBe("PONG");
    expect(await (await through(app, "/redis")).text()).toBe("3");
    // The database poll (the fallback after a panel restart) leaves it as it is.
    await pollDatabaseStats(api.services);
    expect((await database(name)).rotation.state).toBe("needs-attention");
    expect(ping(before)).toBe("PONG");

    // Fixed and deployed: the rotation finishes and the old password stops working.
    await repo.commit({ "build.ts": gatedBuild(gate, "v2") }, "fixed build");
    const deploy = await api.request("POST", `/api/v1/apps/${app}/deploy`, { cookie: owner, body: {} });
    expect((await finished(deploy.body.job.id)).job.status).toBe("succeeded");
    await rotationGone(name);
    expect(ping(before)).toMatch(/WRONGPASS|NOAUTH/);
    expect(ping(after)).toBe("PONG");
    expect(await (await through(app, "/")).text()).toBe("v2");
    expect(await (await through(app, "/redis")).text()).toBe("4");
  });
});
