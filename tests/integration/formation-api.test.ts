/**
 * The formation API: a bad formation (an unknown process type, web at 0, 33
 * instances, a count that is not a number) is refused with a 400 naming the field; counts set
 * before the first release apply at its deploy; the lifecycle endpoints answer with their jobs
 * and are audited; an unknown process type is a 404.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { auditLog } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

const APP_FILES = {
  "package.json": JSON.stringify({ name: "formed", private: true }),
  Procfile: "web: bun server.ts\nworker: bun worker.ts\n",
  "server.ts": `const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  fetch: () => new Response(String(process.pid)),
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
  "worker.ts": `const timer = setInterval(() => {}, 1000);
process.on("SIGTERM", () => { clearInterval(timer); process.exit(0); });
`,
};

describe(`formation API (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;
  const APP = "formed";

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    repo = await createRepo(APP_FILES);
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: APP, repoUrl: repo.url, healthTimeoutSec: 8, watchSeconds: 0, drainSeconds: 1 },
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  const put = (body: unknown) => api.request("PUT", `/api/v1/apps/${APP}/formation`, { cookie, body });

  async function refused(body: unknown, field: string, message: RegExp) {
    const res = await put(body);
    expect({ body, status: res.status }).toEqual({ body, status: 400 });
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.message).toStartWith(`${field}:`);
    const [issue] = res.body.error.details.issues as Array<{ path: string; message: string }>;
    expect(issue?.path).toBe(field);
    expect(issue?.message).toMatch(message);
  }

  async function finished(res: { status: number; body: { job: { id: string } } }) {
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 300_000);
    return (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job as {
      status: string;
      kind: string;
      error: string | null;
    };
  }

  test("before the first release: any well-formed type may be set ahead; malformed ones are refused", async () => {
    await refused({ "Not A Type": 1 }, "Not A Type", /process type/);
    await refused({ web: 33 }, "web", /between 0 and 32/);
    await refused({ web: "x" }, "web", /whole number/);
    await refused({}, "body", /names no process type/);
    // Web 0 is refused before the first release too: it would start one instance anyway.
    await refused({ web: 0 }, "web", /a web process type needs at least one instance; to take the app offline, stop it/);
    const bad = await put([1, 2]);
    expect(bad.status).toBe(400);
    const early = await put({ web: 2, worker: 1 });
    // Nothing runs yet, so no job: the counts apply at the first deploy.
    expect(early.status).toBe(200);
    expect(early.body.job).toBeNull();
    expect(early.body.processes.map((p: { type: string; instances: number }) => [p.type, p.instances])).toEqual([
      ["web", 2],
      ["worker", 1],
    ]);
    // Not yet known to any release: restart of a process type is a 404, and of web a 409 (not live).
    expect((await api.request("POST", `/api/v1/apps/${APP}/processes/worker/restart`, { cookie })).status).toBe(404);
    expect((await api.request("POST", `/api/v1/apps/${APP}/processes/web/restart`, { cookie })).status).toBe(409);
  });

  test("the first deploy runs the formation set ahead; then unknown types, web 0, 33 and 'x' are refused naming the field", async () => {
    const deployed = await finished(await api.request("POST", `/api/v1/apps/${APP}/deploy`, { cookie, body: {} }));
    expect({ status: deployed.status, error: deployed.error }).toEqual({ status: "succeeded", error: null });
    const listed = (await api.request("GET", `/api/v1/apps/${APP}/processes`, { cookie })).body;
    expect(listed.processes.map((p: { type: string; running: number }) => [p.type, p.running])).toEqual([
      ["web", 2],
      ["worker", 1],
    ]);
    expect(listed.limits).toEqual({
      memoryMax: null,
      cpuQuota: null,
      ioWeight: null,
      applied: api.services.runtime.kind === "systemd",
      notApplied: [],
    });

    await refused({ mailer: 1 }, "mailer", /not a process type of this app \(it has web, worker\)/);
    await refused({ web: 0 }, "web", /a web process type needs at least one instance/);
    await refused({ web: 33 }, "web", /between 0 and 32/);
    await refused({ worker: -1 }, "worker", /between 0 and 32/);
    await refused({ worker: "x" }, "worker", /whole number/);
    await refused({ worker: 1.5 }, "worker", /whole number/);
    await refused({ web: 2, worker: 40 }, "worker", /between 0 and 32/);
    // Nothing was saved by a refused request.
    const after = (await api.request("GET", `/api/v1/apps/${APP}/processes`, { cookie })).body;
    expect(after.processes.map((p: { type: string; instances: number }) => [p.type, p.instances])).toEqual([
      ["web", 2],
      ["worker", 1],
    ]);
    // The same counts again change nothing, so no job.
    const same = await put({ web: 2, worker: 1 });
    expect([same.status, same.body.job]).toEqual([200, null]);

    // The slot no longer runs what the rows say (a scale job that failed): the same body applies it again.
    const color = listed.processes[0].color as "blue" | "green";
    await api.services.runtime.stopWorkers(APP, color, { graceMs: 1_000 });
    const again = await put({ web: 2, worker: 1 });
    expect(again.body.job?.kind).toBe("scale");
    expect((await finished(again)).status).toBe("succeeded");
    const healed = (await api.request("GET", `/api/v1/apps/${APP}/processes`, { cookie })).body;
    expect(healed.processes.map((p: { type: string; running: number }) => [p.type, p.running])).toEqual([
      ["web", 2],
      ["worker", 1],
    ]);
  }, 600_000);

  test("web changes go blue-green (restart), worker changes in place (scale); both are audited", async () => {
    const web = await put({ web: 1 });
    expect(web.body.job.kind).toBe("restart");
    expect((await finished(web)).status).toBe("succeeded");
    const worker = await put({ worker: 0 });
    expect(worker.body.job.kind).toBe("scale");
    expect((await finished(worker)).status).toBe("succeeded");
    const listed = (await api.request("GET", `/api/v1/apps/${APP}/processes`, { cookie })).body;
    expect(listed.processes.map((p: { type: string; instances: number; running: number }) => [p.type, p.instances, p.running])).toEqual([
      ["web", 1, 1],
      ["worker", 0, 0],
    ]);
    const audits = await api.services.db.select().from(auditLog).where(eq(auditLog.action, "app.formation"));
    expect(audits.map((a) => a.details)).toEqual(
      expect.arrayContaining([expect.objectContaining({ formation: { web: 1 } }), expect.objectContaining({ formation: { worker: 0 } })]),
    );

    // Restarting a worker that runs no instance, or was stopped, is refused up front.
    const restart = () => api.request("POST", `/api/v1/apps/${APP}/processes/worker/restart`, { cookie });
    const zero = await restart();
    expect([zero.status, zero.body.error.message]).toEqual([409, expect.stringContaining("runs no instances; scale it up")]);
    expect((await finished(await put({ worker: 1 }))).status).toBe("succeeded");
    expect((await finished(await api.request("POST", `/api/v1/apps/${APP}/processes/worker/stop`, { cookie }))).status).toBe("succeeded");
    const stopped = await restart();
    expect([stopped.status, stopped.body.error.message]).toEqual([409, expect.stringContaining("worker is stopped; start it instead")]);
    expect((await finished(await api.request("POST", `/api/v1/apps/${APP}/processes/worker/start`, { cookie }))).status).toBe("succeeded");
    expect((await finished(await restart())).kind).toBe("scale");
  }, 600_000);

  test("process endpoints: unknown types are 404, web is stopped with the app, and stop/start/restart answer with jobs", async () => {
    const post = (path: string) => api.request("POST", `/api/v1/apps/${APP}${path}`, { cookie });
    expect((await post("/processes/mailer/restart")).status).toBe(404);
    expect((await post("/processes/mailer/stop")).status).toBe(404);
    expect((await post("/processes/BAD!/start")).status).toBe(400);
    const webStop = await post("/processes/web/stop");
    expect(webStop.status).toBe(400);
    expect(webStop.body.error.message).toStartWith("type:");
    expect((await finished(await post("/processes/web/restart"))).kind).toBe("restart");

    const stop = await finished(await post("/stop"));
    expect([stop.kind, stop.status]).toEqual(["stop", "succeeded"]);
    expect((await api.request("GET", `/api/v1/apps/${APP}`, { cookie })).body.app.status).toBe("stopped");
    const start = await finished(await post("/start"));
    expect([start.kind, start.status]).toEqual(["restart", "succeeded"]);
    expect((await api.request("GET", `/api/v1/apps/${APP}`, { cookie })).body.app.status).toBe("live");
    const actions = (await api.services.db.select({ action: auditLog.action }).from(auditLog)).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["app.stop", "app.start", "app.process_restart"]));
  }, 600_000);

  test("the CLI shows processes, scales and restarts through the API with a token", async () => {
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
      const proc = Bun.spawn([process.execPath, join(import.meta.dir, "../../backend/cli.ts"), ...args], {
        env,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      return { out, err, code };
    };
    try {
      const ps = await cli("ps", APP);
      expect(ps).toMatchObject({ code: 0, err: "" });
      expect(ps.out).toContain("web: 1/1 running  (bun server.ts)");
      expect(ps.out).toMatch(/web\.1 {2}running {2}pid \d+ port \d+/);
      expect(ps.out).toContain("limits: memory none");
      const scaled = await cli("scale", APP, "worker=2");
      expect(scaled).toMatchObject({ code: 0, err: "" });
      expect(scaled.out).toContain("2 × worker");
      const refused = await cli("scale", APP, "web=0");
      expect(refused.code).not.toBe(0);
      expect(refused.err).toContain("web: a web process type needs at least one instance");
      expect((await cli("scale", APP, "web")).err).toContain("'web' is not TYPE=N");
      const restarted = await cli("apps", "restart", APP, "worker");
      expect(restarted).toMatchObject({ code: 0, err: "" });
      expect(restarted.out).toContain("worker restarted.");
    } finally {
      server.stop(true);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 600_000);
});
