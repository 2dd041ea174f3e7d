/**
 * The panel is killed (SIGKILL, at a fault point) at every step boundary of a deploy and inside
 * the switch, then started again: each time the app must answer through nginx within 5 s of the
 * restart, from the slot the API reports live, and no slot may run that the API says is not.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopPrivateNginx } from "../../backend/adapters/proxy/index.ts";
import { createProcessRuntime } from "../../backend/adapters/runtime/process.ts";
import { freshDatabase, TEST_DB, type TestDatabase } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const STEPS = ["fetch", "detect", "install", "build", "release", "start", "health", "switch", "drain", "watch", "retain"];
/** Every boundary (before each step, after the last) and the instant inside the switch after traffic moved. */
const FAULTS = [...STEPS.map((s) => `before:${s}`), "switch:routed", "after:retain"];

describe(`panel killed at every step of a deploy (${TEST_DB})`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-crashsafe-"));
  const proxyPort = freePort();
  let repo: TestRepo;
  let external: TestDatabase | null = null;
  let panel: PanelProcess | null = null;

  afterAll(async () => {
    if (panel) {
      panel.proc.kill("SIGKILL");
      await panel.proc.exited;
    }
    await createProcessRuntime({ dataDir }).remove("phoenix");
    await stopPrivateNginx(dataDir).catch(() => {});
    await external?.drop();
    repo?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("after each kill the app answers through nginx within 5 s of the restart, and the API tells the truth", async () => {
    if (TEST_DB === "postgres") {
      external = await freshDatabase();
      await external.close();
    }
    const baseEnv: Record<string, string> = {
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_PROXY_PORT: String(proxyPort),
      DATABASE_URL: external?.url ?? "",
    };
    const start = async (fault: string | null) => {
      panel = await startPanelProcess({ ...baseEnv, ...(fault ? { SWITCHYARD_FAULT: fault } : {}) });
      return panel;
    };
    let token = "";
    const call = async (method: string, path: string, body?: unknown) => {
      const p = panel as PanelProcess;
      const res = await fetch(`${p.url}${path}`, {
        method,
        headers: { "content-type": "application/json", origin: p.url, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json().catch(() => null)) as any, headers: res.headers };
    };
    const throughNginx = async (): Promise<string | null> => {
      try {
        const res = await fetch(`http://127.0.0.1:${proxyPort}/`, {
          headers: { host: "phoenix.localhost" },
          signal: AbortSignal.timeout(1_000),
        });
        return res.status === 200 ? await res.text() : null;
      } catch {
        return null;
      }
    };
    /** What nginx and the slots look like, for a failure message. */
    const diagnose = async () => {
      const res = await fetch(`http://127.0.0.1:${proxyPort}/`, { headers: { host: "phoenix.localhost" } }).catch((e: Error) => e);
      const app = await call("GET", "/api/v1/apps/phoenix").catch(() => null);
      const slots = await call("GET", "/api/v1/apps/phoenix/slots").catch(() => null);
      return JSON.stringify({
        nginx: res instanceof Error ? res.message : `${res.status} ${await res.text()}`,
        app: app?.body?.app?.status,
        slots: slots?.body?.slots?.map((s: { color: string; state: string; process: { state: string } }) => [
          s.color,
          s.state,
          s.process.state,
        ]),
      });
    };
    const waitJob = (id: string) =>
      waitFor(
        async () => {
          const j = await call("GET", `/api/v1/jobs/${id}`);
          return j.body.job.status !== "queued" && j.body.job.status !== "running" ? j.body.job : null;
        },
        { timeoutMs: 120_000, what: `job ${id} to finish` },
      );

    const initial = await start(null);
    const setup = await call("POST", "/api/v1/setup", {
      email: "o@example.com",
      password: "crash-safety-test",
      name: "O",
      code: initial.setupCode,
    });
    const cookie = (setup.headers.getSetCookie()[0] ?? "").split(";")[0] as string;
    const tokenRes = await fetch(`${panel!.url}/api/v1/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: panel!.url, cookie },
      body: JSON.stringify({ name: "test" }),
    });
    token = ((await tokenRes.json()) as { token: string }).token;
    repo = await createRepo(bunApp("v1"), "main", "v1");
    expect((await call("POST", "/api/v1/apps", { name: "phoenix", repoUrl: repo.url, watchSeconds: 1 })).status).toBe(201);
    const first = await call("POST", "/api/v1/apps/phoenix/deploy", {});
    expect((await waitJob(first.body.job.id)).status).toBe("succeeded");
    expect(await throughNginx()).toBe("v1");
    panel!.proc.kill("SIGTERM");
    await panel!.proc.exited;

    let version = 1;
    for (const fault of FAULTS) {
      await start(fault);
      version++;
      await repo.commit({ "build.ts": `await Bun.write("version.txt", "v${version}");\n` }, `v${version}`);
      // The fault point may kill the panel before it answers; the job is found afterwards.
      await call("POST", "/api/v1/apps/phoenix/deploy", {}).catch(() => null);
      // The fault point kills the panel; nothing else stops it.
      expect(await panel!.proc.exited).not.toBe(0);

      await start(null);
      const restartedAt = Date.now();
      let answer: string | null = null;
      while (Date.now() - restartedAt < 30_000) {
        answer = await throughNginx();
        if (answer) break;
        await Bun.sleep(50);
      }
      if (!answer) console.error(`after ${fault}: ${await diagnose()}`);
      expect({ fault, answer: answer ?? "no answer within 30 s" }).toEqual({ fault, answer: expect.stringMatching(/^v\d+$/) });

      // The API says which slot is live; nginx answers with that slot's release, and only live and
      // standby slots run.
      const [latest] = (await call("GET", "/api/v1/apps/phoenix/jobs?limit=1")).body.jobs;
      const job = await waitJob(latest.id);
      expect(job.status).not.toBe("running");
      const app = (await call("GET", "/api/v1/apps/phoenix")).body.app;
      expect({ fault, status: app.status }).toEqual({ fault, status: "live" });
      expect({ fault, served: await throughNginx() }).toEqual({ fault, served: app.currentRelease.commitMessage });
      const slots = (await call("GET", "/api/v1/apps/phoenix/slots")).body.slots as Array<{
        color: string;
        state: string;
        process: { state: string };
      }>;
      for (const s of slots) {
        const runs = s.process.state === "running" || s.process.state === "restarting";
        expect({ fault, color: s.color, state: s.state, runs }).toEqual({
          fault,
          color: s.color,
          state: s.state,
          runs: s.state === "live" || s.state === "standby",
        });
      }
      expect(slots.filter((s) => s.state === "live").map((s) => s.color)).toEqual([app.liveColor]);
      // Request metrics attribute traffic from now on to the release that really serves it.
      const periods = (await call("GET", "/api/v1/apps/phoenix/metrics")).body.releases as Array<{ id: string; to: string | null }>;
      expect({ fault, current: periods.find((p) => p.to === null)?.id }).toEqual({ fault, current: app.currentRelease.id });

      // The next round starts from a panel with the next fault point.
      panel!.proc.kill("SIGTERM");
      await panel!.proc.exited;
      panel = null;
    }
  });
});
