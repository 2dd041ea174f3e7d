/**
 * Every Procfile process: a `worker` line runs beside the web from the live release, with the
 * app's env and its volume, and is replaced at each deploy after the web switch (the old one
 * stops gracefully); a deploy that fails leaves the old worker running; `web` scaled to 3 answers
 * through nginx from 3 processes; a worker is restarted, stopped (across a deploy) and started.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setInstances } from "../../backend/db/queries/processes.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

/** Web answers its version and pid; the worker writes "<version> <pid> start|tick|stop" lines to the volume. */
function procfileApp(version: string, web: "good" | "unhealthy" = "good"): Record<string, string> {
  return {
    "package.json": JSON.stringify({ name: "procs", private: true, scripts: { build: "bun build.ts" } }),
    "build.ts": `await Bun.write("version.txt", ${JSON.stringify(version)});\n`,
    Procfile: `web: bun server.ts\nworker: bun worker.ts\nrelease: echo released ${version}\n`,
    "server.ts": `const version = await Bun.file("version.txt").text();
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    if (${JSON.stringify(web)} === "unhealthy") return new Response("not ready", { status: 503 });
    if (url.pathname === "/pid") return new Response(String(process.pid));
    return new Response(version);
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
    "worker.ts": `import { appendFileSync, mkdirSync } from "node:fs";
const version = await Bun.file("version.txt").text();
mkdirSync("data", { recursive: true });
const line = (what) => appendFileSync("data/worker.log", version + " " + process.pid + " " + what + " " + (process.env.PORT ?? "-") + "\\n");
line("start");
const timer = setInterval(() => line("tick"), 100);
process.on("SIGTERM", () => { clearInterval(timer); line("stop"); process.exit(0); });
`,
  };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe(`Procfile workers and web instances (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;
  const APP = "procs";

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    repo = await createRepo(procfileApp("v1"));
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: APP, repoUrl: repo.url, healthTimeoutSec: 8, watchSeconds: 1, drainSeconds: 2, volumes: [{ path: "data/" }] },
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  const workerLog = () => {
    const file = join(api.config.dataDir, "apps", APP, "volumes", "data", "worker.log");
    return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];
  };
  /** The pids of the worker processes that logged `start` for a version. */
  const workerPids = (version: string) => [
    ...new Set(
      workerLog()
        .filter((l) => l.startsWith(`${version} `) && l.endsWith(" start -"))
        .map((l) => Number(l.split(" ")[1])),
    ),
  ];
  const ticksOf = (pid: number) => workerLog().filter((l) => l.split(" ")[1] === String(pid) && l.split(" ")[2] === "tick").length;

  async function run(method: string, path: string, body: unknown = {}) {
    const res = await api.request(method, `/api/v1/apps/${APP}${path}`, { cookie, body });
    expect({ path, status: res.status }).toEqual({ path, status: 202 });
    await api.services.orchestrator.waitFor(res.body.job.id, 300_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
    const lines = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}/logs`, { cookie })).body.lines as Array<{ line: string }>;
    return { status: job.status as string, error: job.error as string | null, log: lines.map((l) => l.line).join("\n"), body: res.body };
  }

  async function processes() {
    const res = await api.request("GET", `/api/v1/apps/${APP}/processes`, { cookie });
    expect(res.status).toBe(200);
    return res.body as {
      processes: Array<{
        type: string;
        command: string | null;
        instances: number;
        stopped: boolean;
        running: number;
        units: Array<{ pid: number; port: number | null; state: string; rssBytes: number | null }>;
      }>;
      limits: { applied: boolean; notApplied: string[] };
    };
  }

  const throughNginx = (path: string) =>
    fetch(`http://127.0.0.1:${api.config.proxyPort}${path}`, { headers: { host: `${APP}.localhost`, connection: "close" } });

  test("the worker runs from the live release, is replaced at each deploy, and survives a failed one", async () => {
    const v1 = await run("POST", "/deploy");
    expect({ status: v1.status, error: v1.error }).toEqual({ status: "succeeded", error: null });
    expect(v1.log).toContain("released v1");
    expect(v1.log).toContain("workers: 1 × worker");
    const [first] = await waitFor(() => (workerPids("v1").length === 1 ? workerPids("v1") : null), {
      timeoutMs: 10_000,
      what: "the v1 worker",
    });
    await waitFor(() => ticksOf(first as number) > 0, { timeoutMs: 10_000, what: "the v1 worker's ticks" });
    // No PORT for a worker: it takes no traffic.
    expect(workerLog()[0]).toEndWith("start -");

    const listed = await processes();
    expect(listed.processes.map((p) => [p.type, p.command, p.instances, p.running])).toEqual([
      ["web", "bun server.ts", 1, 1],
      ["worker", "bun worker.ts", 1, 1],
    ]);
    expect(listed.processes[1]?.units[0]?.pid).toBe(first as number);
    expect(listed.processes[1]?.units[0]?.port).toBeNull();
    expect(listed.processes[0]?.units[0]?.rssBytes).toBeGreaterThan(0);
    expect(listed.limits.applied).toBe(api.services.runtime.kind === "systemd");

    let previous = first as number;
    for (const version of ["v2", "v3"]) {
      await repo.commit(procfileApp(version), version);
      const job = await run("POST", "/deploy");
      expect({ version, status: job.status }).toEqual({ version, status: "succeeded" });
      expect(await (await throughNginx("/")).text()).toBe(version);
      const [next] = await waitFor(() => (workerPids(version).length === 1 ? workerPids(version) : null), {
        timeoutMs: 10_000,
        what: `the ${version} worker`,
      });
      expect(next).not.toBe(previous);
      // The old one stopped gracefully (its SIGTERM handler ran), after the new web took the traffic.
      await waitFor(() => !alive(previous), { timeoutMs: 15_000, what: "the old worker to exit" });
      expect(workerLog().some((l) => l.startsWith(`${version === "v2" ? "v1" : "v2"} ${previous} stop`))).toBe(true);
      const log = job.log;
      expect(log.indexOf("Traffic moved")).toBeLessThan(log.indexOf("Started the"));
      previous = next as number;
    }

    // A deploy whose web never becomes healthy leaves v3's worker running, untouched.
    await repo.commit(procfileApp("v4", "unhealthy"), "v4 unhealthy");
    const bad = await run("POST", "/deploy");
    expect(bad.status).toBe("failed");
    expect(bad.error).toContain("did not become healthy");
    expect(alive(previous)).toBe(true);
    expect(workerPids("v4")).toEqual([]);
    const ticks = ticksOf(previous);
    await waitFor(() => ticksOf(previous) > ticks, { timeoutMs: 10_000, what: "the v3 worker to keep working" });
    expect((await processes()).processes[1]?.units[0]?.pid).toBe(previous);

    // Back to the warm standby (v2): only a switch, and v2's worker starts after it; v3's stops.
    const releases = (await api.request("GET", `/api/v1/apps/${APP}/releases`, { cookie })).body.releases as Array<{
      id: string;
      number: number;
      status: string;
    }>;
    const standby = releases.find((x) => x.status === "standby");
    expect(standby?.number).toBe(2);
    const v2Before = workerPids("v2");
    const rb = await run("POST", "/rollback", { releaseId: standby?.id });
    expect({ status: rb.status, error: rb.error }).toEqual({ status: "succeeded", error: null });
    expect(rb.log).toContain("Started the");
    const fresh = () => workerPids("v2").filter((pid) => !v2Before.includes(pid));
    const [v2Again] = await waitFor(() => (fresh().length > 0 ? fresh() : null), {
      timeoutMs: 10_000,
      what: "v2's worker to start again",
    });
    await waitFor(() => !alive(previous), { timeoutMs: 15_000, what: "v3's worker to exit" });
    expect((await processes()).processes[1]?.units[0]?.pid).toBe(v2Again as number);
  }, 600_000);

  test("web scaled to 3 serves through nginx from 3 processes; the worker follows", async () => {
    const scaled = await run("PUT", "/formation", { web: 3 });
    expect({ status: scaled.status, error: scaled.error }).toEqual({ status: "succeeded", error: null });
    expect(scaled.log).toContain("3 web instances on ports");
    expect(scaled.log).toContain("each of the");
    const listed = await processes();
    const web = listed.processes.find((p) => p.type === "web");
    expect(web?.instances).toBe(3);
    expect(web?.running).toBe(3);
    const pids = new Set(web?.units.map((u) => u.pid));
    const ports = new Set(web?.units.map((u) => u.port));
    expect(pids.size).toBe(3);
    expect(ports.size).toBe(3);
    // Through nginx, each request on a fresh connection: all three answer in turn.
    const seen = new Set<string>();
    await waitFor(
      async () => {
        const res = await throughNginx("/pid");
        expect(res.status).toBe(200);
        seen.add(await res.text());
        return seen.size >= 3;
      },
      { timeoutMs: 30_000, what: "answers from 3 distinct web processes" },
    );
    expect([...seen].map(Number).sort()).toEqual([...pids].sort());
    expect(listed.processes.find((p) => p.type === "worker")?.running).toBe(1);
  }, 600_000);

  test("a worker restarts, stops (and stays stopped across a deploy), starts, and scales in place", async () => {
    const before = (await processes()).processes.find((p) => p.type === "worker")?.units[0]?.pid as number;
    const restarted = await run("POST", "/processes/worker/restart");
    expect(restarted.status).toBe("succeeded");
    const after = (await processes()).processes.find((p) => p.type === "worker")?.units[0]?.pid as number;
    expect(after).not.toBe(before);
    expect(alive(after)).toBe(true);

    const stopped = await run("POST", "/processes/worker/stop");
    expect(stopped.status).toBe("succeeded");
    await waitFor(() => !alive(after), { timeoutMs: 15_000, what: "the worker to stop" });
    let worker = (await processes()).processes.find((p) => p.type === "worker");
    expect(worker?.stopped).toBe(true);
    expect(worker?.running).toBe(0);

    await repo.commit(procfileApp("v6"), "v6");
    expect((await run("POST", "/deploy")).status).toBe("succeeded");
    expect(workerPids("v6")).toEqual([]);
    worker = (await processes()).processes.find((p) => p.type === "worker");
    expect([worker?.stopped, worker?.running]).toEqual([true, 0]);

    expect((await run("POST", "/processes/worker/start")).status).toBe("succeeded");
    await waitFor(() => workerPids("v6").length === 1, { timeoutMs: 10_000, what: "the v6 worker" });

    // Scaling a worker up starts the new instance only: the running one and the web keep their pids.
    const running = await processes();
    const webPids = running.processes.find((p) => p.type === "web")?.units.map((u) => u.pid);
    const first = running.processes.find((p) => p.type === "worker")?.units[0]?.pid;
    const two = await run("PUT", "/formation", { worker: 2 });
    expect(two.status).toBe("succeeded");
    expect(two.body.job.kind).toBe("scale");
    const scaled = await processes();
    worker = scaled.processes.find((p) => p.type === "worker");
    expect([worker?.instances, worker?.running]).toEqual([2, 2]);
    expect(new Set(worker?.units.map((u) => u.pid)).size).toBe(2);
    expect(worker?.units[0]?.pid).toBe(first as number);
    expect(alive(first as number)).toBe(true);
    expect(scaled.processes.find((p) => p.type === "web")?.units.map((u) => u.pid)).toEqual(webPids as number[]);
  }, 600_000);

  test("stop ends web and workers; start brings the last live release back with them", async () => {
    const pids = (await processes()).processes.flatMap((p) => p.units.map((u) => u.pid));
    expect(pids.length).toBe(5);
    expect((await run("POST", "/stop")).status).toBe("succeeded");
    await waitFor(() => pids.every((pid) => !alive(pid)), { timeoutMs: 20_000, what: "every process to stop" });
    const started = await run("POST", "/start");
    expect({ status: started.status, error: started.error }).toEqual({ status: "succeeded", error: null });
    expect(await (await throughNginx("/")).text()).toBe("v6");
    const listed = await processes();
    expect(listed.processes.map((p) => [p.type, p.running])).toEqual([
      ["web", 3],
      ["worker", 2],
    ]);
  }, 600_000);

  test("a rollback to a warm standby that runs another number of web instances than the formation starts it afresh", async () => {
    await repo.commit(procfileApp("v7"), "v7");
    expect((await run("POST", "/deploy")).status).toBe("succeeded");
    const { releases } = (await api.request("GET", `/api/v1/apps/${APP}/releases`, { cookie })).body;
    const previous = (releases as Array<{ id: string; status: string }>).find((r) => r.status === "standby");
    expect(previous).toBeDefined();
    // The standby runs 3 web instances; the formation now says 1 (saved while a restart could not run).
    const app = (await api.request("GET", `/api/v1/apps/${APP}`, { cookie })).body.app as { id: string };
    await setInstances(api.services.db, app.id, { web: 1 });
    const back = await run("POST", "/rollback", { releaseId: previous?.id });
    expect({ status: back.status, error: back.error }).toEqual({ status: "succeeded", error: null });
    expect(back.log).toContain("Starting v");
    expect(await (await throughNginx("/")).text()).toBe("v6");
    const web = (await processes()).processes.find((p) => p.type === "web");
    expect([web?.instances, web?.running, web?.units.length]).toEqual([1, 1, 1]);
  }, 600_000);
});
