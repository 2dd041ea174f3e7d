/**
 * Local mode: the panel's own stop leaves its nginx and the apps serving (the next start adopts
 * them); `switchyard stop` stops every slot and the nginx of the data dir, leaving nothing behind.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNginx, privateNginxPid, stopPrivateNginx } from "../../backend/adapters/proxy/index.ts";
import { createProcessRuntime } from "../../backend/adapters/runtime/process.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";

const CHECKOUT = join(import.meta.dir, "..", "..");

/** Processes whose command line names the data dir: the supervisors, their apps' forwarders, nginx. */
function processesOf(dataDir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmdline.includes(dataDir)) found.push(`${pid} ${cmdline}`);
    } catch {}
  }
  return found;
}

/** A process that exists and is not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe.skipIf(!findNginx())("switchyard stop (local mode)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-stop-"));
  const proxyPort = freePort();
  let repo: TestRepo | null = null;
  let panel: PanelProcess | null = null;
  afterAll(async () => {
    if (panel && panel.proc.exitCode === null) panel.proc.kill("SIGKILL");
    await panel?.proc.exited;
    const runtime = createProcessRuntime({ dataDir });
    for (const slot of await runtime.list().catch(() => [])) await runtime.remove(slot.app).catch(() => {});
    await stopPrivateNginx(dataDir).catch(() => {});
    repo?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("the panel's stop leaves the app answering through nginx; `stop` then stops it all", async () => {
    panel = await startPanelProcess({ SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_PROXY_PORT: String(proxyPort) });
    const url = panel.url;
    const call = async (method: string, path: string, body?: unknown, cookie?: string) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { "content-type": "application/json", origin: url, ...(cookie ? { cookie } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json().catch(() => null)) as any, headers: res.headers };
    };
    const setup = await call("POST", "/api/v1/setup", {
      email: "o@example.com",
      password: "stop-command-test",
      name: "O",
      code: panel.setupCode,
    });
    expect(setup.status).toBe(201);
    const cookie = (setup.headers.getSetCookie()[0] ?? "").split(";")[0] as string;
    repo = await createRepo(bunApp("v1"));
    const created = await call("POST", "/api/v1/apps", { name: "keeper", repoUrl: repo.url, watchSeconds: 0, drainSeconds: 0 }, cookie);
    expect(created.status).toBe(201);
    const deploy = await call("POST", "/api/v1/apps/keeper/deploy", {}, cookie);
    const deadline = Date.now() + 180_000;
    let job = deploy.body.job;
    while (job.status === "queued" || job.status === "running") {
      if (Date.now() > deadline) throw new Error("the deploy did not finish");
      await Bun.sleep(100);
      job = (await call("GET", `/api/v1/jobs/${job.id}`, undefined, cookie)).body.job;
    }
    expect(job.status).toBe("succeeded");
    const throughNginx = () => fetch(`http://127.0.0.1:${proxyPort}/`, { headers: { host: "keeper.localhost" } });
    expect(await (await throughNginx()).text()).toBe("v1");

    const appPids = (await createProcessRuntime({ dataDir }).list()).map((slot) => slot.status.pid).filter((pid) => pid !== null);
    expect(appPids).toHaveLength(1);

    // The panel's normal stop.
    panel.proc.kill("SIGTERM");
    expect(await panel.proc.exited).toBe(0);
    expect(privateNginxPid(dataDir)).not.toBeNull();
    expect(await (await throughNginx()).text()).toBe("v1");

    const stop = Bun.spawnSync([process.execPath, join(CHECKOUT, "backend/cli.ts"), "stop"], {
      cwd: CHECKOUT,
      env: { ...process.env, SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_LOG_LEVEL: "warn", DATABASE_URL: "" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(stop.stderr.toString()).toBe("");
    expect(stop.exitCode).toBe(0);
    expect(stop.stdout.toString()).toContain("1 app slot stopped; nginx stopped");
    expect(privateNginxPid(dataDir)).toBeNull();
    expect(processesOf(dataDir)).toEqual([]);
    for (const slot of await createProcessRuntime({ dataDir }).list()) expect(slot.status.pid).toBeNull();
    // The app's own process (its command line does not name the data dir) is gone too.
    for (const pid of appPids) expect(running(pid as number), `app process ${pid}`).toBe(false);
    await expect(throughNginx()).rejects.toThrow();

    // Nothing left to stop: it says so and succeeds.
    const again = Bun.spawnSync([process.execPath, join(CHECKOUT, "backend/cli.ts"), "stop"], {
      cwd: CHECKOUT,
      env: { ...process.env, SWITCHYARD_DATA_DIR: dataDir, DATABASE_URL: "" },
      stdout: "pipe",
    });
    expect(again.exitCode).toBe(0);
    expect(again.stdout.toString()).toContain("No app was running; nginx was not running");
  });
});
