/**
 * Web instances under load: with `web` at 3 every deploy boots three processes in the idle slot,
 * health-checks each, and switches the set at once; nginx's clients see no failed request and no
 * non-2xx, and every instance of the live slot serves. A release that fails the watch puts the
 * traffic back, and its workers with it: the old release's worker runs again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { startLoad } from "../helpers/load.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

/** Answers "<version> <pid>"; /boom fails in the "bad-5xx" release; its worker logs "<version> <pid>" to the volume. */
function release(version: string, kind: "good" | "bad-5xx" = "good") {
  return {
    "package.json": JSON.stringify({ name: "zdi", private: true }),
    Procfile: "web: bun server.ts\nworker: bun worker.ts\n",
    "server.ts": `const version = ${JSON.stringify(version)};
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/boom" && ${JSON.stringify(kind)} === "bad-5xx") return new Response("broken", { status: 500 });
    return new Response(version + " " + process.pid);
  },
});
process.on("SIGTERM", async () => { await server.stop(); process.exit(0); });
`,
    "worker.ts": `import { appendFileSync, mkdirSync } from "node:fs";
mkdirSync("data", { recursive: true });
appendFileSync("data/workers.log", ${JSON.stringify(version)} + " " + process.pid + "\\n");
const timer = setInterval(() => {}, 1000);
process.on("SIGTERM", () => { clearInterval(timer); process.exit(0); });
`,
  };
}

describe.skipIf(!findNginx())(`web instances switch together under load (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    repo = await createRepo(release("v0"), "main", "v0");
    const res = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: {
        name: "zdi",
        repoUrl: repo.url,
        healthTimeoutSec: 10,
        drainSeconds: 5,
        watchSeconds: 3,
        healthSuccesses: 2,
        volumes: [{ path: "data" }],
      },
    });
    expect(res.status).toBe(201);
    expect((await api.request("PUT", "/api/v1/apps/zdi/formation", { cookie, body: { web: 3 } })).status).toBe(200);
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  async function run(path: string) {
    const res = await api.request("POST", `/api/v1/apps/zdi/${path}`, { cookie, body: {} });
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
    return { status: job.status as string, error: job.error as string | null };
  }

  const webPids = async () => {
    const body = (await api.request("GET", "/api/v1/apps/zdi/processes", { cookie })).body;
    const web = body.processes.find((p: { type: string }) => p.type === "web");
    return (web?.units ?? []).map((u: { pid: number }) => String(u.pid)) as string[];
  };

  const workerLog = () => {
    const file = join(api.config.dataDir, "apps", "zdi", "volumes", "data", "workers.log");
    return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];
  };

  test("5 deploys with web=3 under load drop 0 requests; each live set of 3 serves", async () => {
    const url = `http://127.0.0.1:${api.config.proxyPort}/`;
    const host = "zdi.localhost";
    expect(await run("deploy")).toEqual({ status: "succeeded", error: null });
    const load = startLoad({ url, host, concurrency: 8 });
    const fresh = startLoad({ url, host, concurrency: 2, close: true });
    const served: Record<string, Set<string>> = {};
    try {
      for (let i = 1; i <= 5; i++) {
        const version = `v${i}`;
        await repo.commit(release(version), version);
        expect(await run("deploy")).toEqual({ status: "succeeded", error: null });
        const pids = await webPids();
        expect(new Set(pids).size).toBe(3);
        // Fresh connections while the load runs: every one of the live slot's 3 instances answers.
        served[version] = new Set();
        await waitFor(
          async () => {
            const body = await (await fetch(url, { headers: { host, connection: "close" } })).text();
            const [answered, pid] = body.split(" ");
            if (answered === version) served[version]?.add(pid as string);
            return served[version]?.size === 3;
          },
          { timeoutMs: 30_000, what: `answers from the 3 instances of ${version}` },
        );
        expect([...(served[version] ?? [])].sort()).toEqual([...pids].sort());
      }
    } finally {
      const [main, closing] = [await load.stop(), await fresh.stop()];
      if (main.failed + main.non2xx + closing.failed + closing.non2xx > 0) console.error(JSON.stringify({ main, closing }, null, 2));
      expect(main.failed).toBe(0);
      expect(main.non2xx).toBe(0);
      expect(closing.failed).toBe(0);
      expect(closing.non2xx).toBe(0);
    }
  }, 600_000);

  test("a release the watch takes back puts the old release's worker back", async () => {
    const url = `http://127.0.0.1:${api.config.proxyPort}/`;
    const host = "zdi.localhost";
    const before = workerLog().filter((l) => l.startsWith("v5 ")).length;
    await repo.commit(release("v6", "bad-5xx"), "v6");
    const probe = startLoad({ url: `${url}boom`, host, concurrency: 4, expectErrors: true });
    const load = startLoad({ url, host, concurrency: 4 });
    let job: { status: string; error: string | null };
    try {
      job = await run("deploy");
    } finally {
      await probe.stop();
      const main = await load.stop();
      expect(main.failed).toBe(0);
    }
    expect(job.status).toBe("failed");
    expect(job.error).toContain("Rolled back automatically");
    // v6's worker ran after its switch; once the traffic went back, v5's started again.
    expect(workerLog().some((l) => l.startsWith("v6 "))).toBe(true);
    await waitFor(() => workerLog().filter((l) => l.startsWith("v5 ")).length > before, {
      timeoutMs: 15_000,
      what: "v5's worker to run again",
    });
    const body = (await api.request("GET", "/api/v1/apps/zdi/processes", { cookie })).body;
    const worker = body.processes.find((p: { type: string }) => p.type === "worker");
    expect(worker.running).toBe(1);
    expect(await (await fetch(url, { headers: { host } })).text()).toStartWith("v5 ");
  }, 600_000);
});
