/**
 * What the API says about a slot is what runs: a crash-looping app becomes `crashed` (with its
 * last exits and an event), and a health answer counts only when it comes from the slot's own
 * process.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createProcessRuntime } from "../../backend/adapters/runtime/process.ts";
import type { PanelEvent } from "../../backend/jobs/events.ts";
import { checkSlots } from "../../backend/jobs/monitor.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

describe(`slot truth (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  const repos: TestRepo[] = [];
  const runtimeDir = mkdtempSync(join(tmpdir(), "sy-truth-"));

  beforeAll(async () => {
    // A short crash policy, so a crash loop is seen in seconds.
    const runtime = createProcessRuntime({ dataDir: runtimeDir, backoffMs: 50, backoffMaxMs: 100, maxCrashes: 3, crashWindowMs: 60_000 });
    api = await createTestApi({ background: true, overrides: { runtime } });
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api.close();
    for (const r of repos) r.cleanup();
    rmSync(runtimeDir, { recursive: true, force: true });
  });

  async function deployed(name: string, files: Record<string, string>, extra: Record<string, unknown> = {}) {
    const repo = await createRepo(files);
    repos.push(repo);
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name, repoUrl: repo.url, healthTimeoutSec: 5, watchSeconds: 0, drainSeconds: 1, ...extra },
    });
    expect(created.status).toBe(201);
    const res = await api.request("POST", `/api/v1/apps/${name}/deploy`, { cookie, body: {} });
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    return (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body;
  }

  test("a crash-looping live app becomes crashed, with its last exits and an event", async () => {
    const events: PanelEvent[] = [];
    const unsubscribe = api.services.events.subscribe((e) => events.push(e));
    // Serves its health check, then exits a moment later, every time it is started.
    const files = bunApp("v1", {
      "server.ts": `Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response("ok") });
setTimeout(() => process.exit(3), 700);
`,
    });
    const job = await deployed("flaky", files);
    expect(job.job.status).toBe("succeeded");
    const app = await waitFor(
      async () => {
        await checkSlots(api.services);
        const a = (await api.request("GET", "/api/v1/apps/flaky", { cookie })).body.app;
        return a.status === "crashed" ? a : null;
      },
      { timeoutMs: 60_000, what: "the app to be reported crashed" },
    );
    const slot = app.slots.find((s: { color: string }) => s.color === "blue");
    expect(slot.state).toBe("crashed");
    expect(slot.exits.length).toBeGreaterThanOrEqual(3);
    expect(slot.exits.at(-1).code).toBe(3);
    await waitFor(() => events.some((e) => e.type === "app.updated" && e.app === "flaky" && e.status === "crashed"), {
      timeoutMs: 10_000,
      what: "the crashed event",
    });
    unsubscribe();
  });

  test("an answer on the slot's port from a process outside the slot does not make it healthy", async () => {
    // The app starts a detached process (outside its own process tree) that answers on PORT,
    // and never listens itself: the health check must not take that answer for the app's.
    const files = bunApp("v1", {
      "package.json": JSON.stringify({ name: "squat", private: true, scripts: { start: "sh start.sh" } }),
      "start.sh": "(setsid bun squatter.ts </dev/null >/dev/null 2>&1 &)\nexec sleep 600\n",
      "squatter.ts": `Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response("not the app") });
setTimeout(() => process.exit(0), 15_000);
`,
    });
    const result = await deployed("squat", files);
    expect(result.job.status).toBe("failed");
    expect(result.job.error).toContain("did not become healthy");
    const logs = await api.request("GET", `/api/v1/jobs/${result.job.id}/logs`, { cookie });
    expect((logs.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n")).toContain("not from the blue slot");
    const app = (await api.request("GET", "/api/v1/apps/squat", { cookie })).body.app;
    expect(app.liveColor).toBeNull();
  });

  test("the confirmation through nginx reaches the new slot, not a kept-alive connection to the old one", async () => {
    // v2 is healthy on its own port but answers 500 to anything that came through nginx; v1
    // answers everything. Keep-alive traffic keeps nginx's upstream connections to v1 busy.
    const v2 = `const version = "v2";
Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: (req) =>
  req.headers.get("x-forwarded-for") ? new Response("through nginx", { status: 500 }) : new Response(version) });
`;
    const repo = await createRepo(bunApp("v1"));
    repos.push(repo);
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: "confirm", repoUrl: repo.url, healthTimeoutSec: 10, watchSeconds: 0, drainSeconds: 1 },
    });
    expect(created.status).toBe(201);
    const first = await api.request("POST", "/api/v1/apps/confirm/deploy", { cookie, body: {} });
    expect((await api.services.orchestrator.waitFor(first.body.job.id, 120_000)).status).toBe("succeeded");
    const url = `http://127.0.0.1:${api.config.proxyPort}/`;
    let stop = false;
    const answers = new Map<string, number>();
    const load = (async () => {
      while (!stop) {
        const res = await fetch(url, { headers: { host: "confirm.localhost" } }).catch(() => null);
        const text = res ? await res.text() : "error";
        answers.set(text, (answers.get(text) ?? 0) + 1);
      }
    })();
    await repo.commit({ "server.ts": v2 }, "v2");
    const second = await api.request("POST", "/api/v1/apps/confirm/deploy", { cookie, body: {} });
    const job = await api.services.orchestrator.waitFor(second.body.job.id, 120_000);
    stop = true;
    await load;
    expect(job.status).toBe("failed");
    expect(job.error).toContain("Through nginx");
    expect(job.error).toContain("answered 500");
    expect(job.error).toContain("traffic was moved back");
    // v1 served before and after; the moment traffic was on v2 was taken back.
    expect(await (await fetch(url, { headers: { host: "confirm.localhost" } })).text()).toBe("v1");
    expect(answers.get("error") ?? 0).toBe(0);
    const app = (await api.request("GET", "/api/v1/apps/confirm", { cookie })).body.app;
    expect(app.currentRelease.commitMessage).not.toBe("v2");
    expect(app.slots.filter((s: { state: string }) => s.state === "live")).toHaveLength(1);
  });
});
