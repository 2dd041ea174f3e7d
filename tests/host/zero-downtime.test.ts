import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { startLoad } from "../helpers/load.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

/** Answers its version on /, and on /boom answers 200 — except the "bad" release, which fails there. */
function release(version: string, kind: "good" | "bad-health" | "bad-5xx" = "good") {
  return {
    "package.json": JSON.stringify({ name: "zd", private: true, scripts: { start: "bun server.ts" } }),
    "server.ts": `const version = ${JSON.stringify(version)};
const kind = ${JSON.stringify(kind)};
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/health" && kind === "bad-health") return new Response("not ready", { status: 503 });
    if (url.pathname === "/boom" && kind === "bad-5xx") return new Response("broken", { status: 500 });
    if (req.method === "POST") return new Response(version + " got " + (await req.text()));
    return new Response(version);
  },
});
process.on("SIGTERM", async () => { await server.stop(); process.exit(0); });
`,
  };
}

describe.skipIf(!findNginx())(`zero-downtime switching through nginx (${TEST_DB})`, () => {
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
        name: "zd",
        repoUrl: repo.url,
        healthPath: "/health",
        healthTimeoutSec: 10,
        drainSeconds: 5,
        watchSeconds: 3,
        healthSuccesses: 2,
      },
    });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  async function run(path: string, body: unknown = {}) {
    const res = await api.request("POST", `/api/v1/apps/zd/${path}`, { cookie, body });
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    return (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body;
  }

  async function deploy(version: string, kind: "good" | "bad-health" | "bad-5xx" = "good") {
    await repo.commit(release(version, kind), version);
    return run("deploy");
  }

  async function releases(): Promise<
    Array<{ id: string; number: number; status: string; rollbackEligible: boolean; commitMessage: string }>
  > {
    return (await api.request("GET", "/api/v1/apps/zd/releases", { cookie })).body.releases;
  }

  for (const mode of ["keep-alive", "close"] as const) {
    test(`10 deploys and 5 rollbacks under ${mode} load: no failed request, no non-2xx`, async () => {
      const url = `http://127.0.0.1:${api.config.proxyPort}/`;
      const host = "zd.localhost";
      if ((await api.request("GET", "/api/v1/apps/zd", { cookie })).body.app.status !== "live") {
        expect((await run("deploy")).job.status).toBe("succeeded");
      }
      const load = startLoad({ url, host, concurrency: 8, close: mode === "close" });
      const posts = startLoad({ url, host, concurrency: 2, close: mode === "close", method: "POST" });
      const probe = startLoad({ url: `${url}boom`, host, concurrency: 8, close: mode === "close", expectErrors: true });
      const outcomes: string[] = [];
      try {
        for (let i = 1; i <= 10; i++) {
          const tag = `${mode}-${i}`;
          const { job } = await deploy(tag);
          expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
          outcomes.push(`${tag}:${job.status}`);
          if (i === 3) {
            const bad = await deploy(`${mode}-unhealthy`, "bad-health");
            expect(bad.job.status).toBe("failed");
            expect(bad.job.error).toContain("did not become healthy");
          }
          if (i === 6) {
            const bad = await deploy(`${mode}-5xx`, "bad-5xx");
            expect(bad.job.status).toBe("failed");
            expect(bad.job.error).toContain("Rolled back automatically");
            const rolled = (await releases()).find((r) => r.commitMessage === `${mode}-5xx`);
            expect(rolled?.status).toBe("rolled_back");
            expect(rolled?.rollbackEligible).toBe(false);
          }
          if (i % 2 === 0) {
            // Five rollbacks in all: to the warm standby (a switch only) and to older releases (cold).
            const eligible = (await releases()).filter((r) => r.rollbackEligible && r.status !== "live");
            const target = i % 4 === 0 ? eligible.find((r) => r.status === "standby") : eligible.at(-1);
            expect(target).toBeDefined();
            const rb = await run("rollback", { releaseId: target?.id });
            expect({ status: rb.job.status, error: rb.job.error }).toEqual({ status: "succeeded", error: null });
            expect(await (await fetch(url, { headers: { host } })).text()).toBe(target?.commitMessage ?? "");
            outcomes.push(`rollback→${target?.commitMessage}`);
          }
        }
      } finally {
        const [main, post] = [await load.stop(), await posts.stop()];
        const boom = await probe.stop();
        const summary = { mode, main: { ...main, bodies: undefined }, post: { ...post, bodies: undefined }, probeFailed: boom.failed };
        if (main.failed + main.non2xx + post.failed + post.non2xx + boom.failed > 0) console.error(JSON.stringify(summary, null, 2));
        // The load ran all along: every release served it while live.
        const seen = Object.keys(main.bodies);
        expect(Array.from({ length: 10 }, (_, i) => `${mode}-${i + 1}`).filter((v) => !seen.includes(v))).toEqual([]);
        expect(main.failed).toBe(0);
        expect(main.non2xx).toBe(0);
        expect(post.failed).toBe(0);
        expect(post.non2xx).toBe(0);
        expect(boom.failed).toBe(0);
      }
      expect(outcomes.filter((o) => o.startsWith("rollback"))).toHaveLength(5);
    }, 600_000);
  }
});
