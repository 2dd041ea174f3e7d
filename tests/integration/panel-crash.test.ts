import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshDatabase, TEST_DB, type TestDatabase } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { waitFor } from "../helpers/wait.ts";

describe(`panel killed mid-build (${TEST_DB})`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-crash-"));
  let repo: TestRepo;
  let external: TestDatabase | null = null;
  let panel: PanelProcess | null = null;
  afterAll(async () => {
    await panel?.stop();
    // The slot outlived the panel on purpose; stop it through a fresh runtime.
    const { createProcessRuntime } = await import("../../backend/adapters/runtime/process.ts");
    await createProcessRuntime({ dataDir }).remove("survivor");
    await external?.drop();
    repo?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("the job is marked failed at restart, and the live slot kept running and is re-adopted", async () => {
    if (TEST_DB === "postgres") {
      external = await freshDatabase();
      await external.close();
    }
    const env: Record<string, string> = {
      SWITCHYARD_DATA_DIR: dataDir,
      PORT: "0",
      SWITCHYARD_JOB_STALE_SECONDS: "5",
      ...(external?.url ? { DATABASE_URL: external.url } : { DATABASE_URL: "" }),
    };
    panel = await startPanelProcess(env);
    const origin = panel.url;
    const call = async (method: string, path: string, body?: unknown, token?: string) => {
      const res = await fetch(`${panel?.url}${path}`, {
        method,
        headers: { "content-type": "application/json", origin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json().catch(() => null)) as any, headers: res.headers };
    };
    const setup = await call("POST", "/api/v1/setup", {
      email: "o@example.com",
      password: "panel-crash-test",
      name: "O",
      code: panel.setupCode,
    });
    const cookie = (setup.headers.getSetCookie()[0] ?? "").split(";")[0] as string;
    const tokenRes = await fetch(`${panel.url}/api/v1/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json", origin, cookie },
      body: JSON.stringify({ name: "test" }),
    });
    const token = ((await tokenRes.json()) as { token: string }).token;

    repo = await createRepo(bunApp("v1"));
    expect((await call("POST", "/api/v1/apps", { name: "survivor", repoUrl: repo.url, healthTimeoutSec: 20 }, token)).status).toBe(201);
    const first = await call("POST", "/api/v1/apps/survivor/deploy", {}, token);
    for (let i = 0; i < 600; i++) {
      const j = await call("GET", `/api/v1/jobs/${first.body.job.id}`, undefined, token);
      if (j.body.job.status !== "queued" && j.body.job.status !== "running") break;
      await Bun.sleep(100);
    }
    const app = (await call("GET", "/api/v1/apps/survivor", undefined, token)).body.app;
    expect(app.status).toBe("live");
    const live = app.slots.find((s: { color: string }) => s.color === app.liveColor);

    await repo.commit({ "build.ts": 'console.log("slow build"); await Bun.sleep(60_000);\n' }, "slow");
    const second = await call("POST", "/api/v1/apps/survivor/deploy", {}, token);
    for (let i = 0; i < 300; i++) {
      const j = await call("GET", `/api/v1/jobs/${second.body.job.id}`, undefined, token);
      if (j.body.steps.find((s: { name: string }) => s.name === "build")?.status === "running") break;
      await Bun.sleep(100);
    }
    panel.proc.kill("SIGKILL");
    await panel.proc.exited;
    // The app does not depend on the panel.
    expect(await (await fetch(`http://127.0.0.1:${live.port}/`)).text()).toBe("v1");

    panel = await startPanelProcess(env);
    // On PGlite the restart fails it at once; on Postgres (where another panel could still own the
    // job) once its heartbeat is older than SWITCHYARD_JOB_STALE_SECONDS.
    const job = await waitFor(
      async () => {
        const j = await call("GET", `/api/v1/jobs/${second.body.job.id}`, undefined, token);
        return j.body.job.status === "running" ? null : j;
      },
      { what: "the interrupted job to end", timeoutMs: 60_000 },
    );
    expect(job.body.job.status).toBe("failed");
    expect(job.body.job.error).toContain("panel stopped");
    const after = (await call("GET", "/api/v1/apps/survivor", undefined, token)).body.app;
    expect(after.status).toBe("live");
    expect(after.liveColor).toBe(app.liveColor);
    const slots = (await call("GET", "/api/v1/apps/survivor/slots", undefined, token)).body.slots;
    expect(slots.find((s: { color: string }) => s.color === app.liveColor).process.state).toBe("running");
    expect(await (await fetch(`http://127.0.0.1:${live.port}/`)).text()).toBe("v1");
    // The interrupted build's files are gone.
    expect(readdirSync(join(dataDir, "apps", "survivor", "builds"))).toEqual([]);
  }, 180_000);
});
