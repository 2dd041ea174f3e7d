import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPanelDatabase } from "../../backend/main.ts";
import { loadSecretKey } from "../../backend/secret-key.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

const root = process.getuid?.() === 0;
const APP_USER = "switchyard-app";
if (!root) console.warn("app-isolation: skipped, it needs root (the panel drops to an app user only when it runs as root)");

/**
 * What a process of the app can reach of the panel's: the data dir's key, its database and its
 * listing, and the environment of every ancestor process. Printed by the build (in the job log)
 * and served by the app (on /probe).
 */
const PROBE = `import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
export function attempt(what) {
  try {
    return "read:" + String(what()).slice(0, 80);
  } catch (error) {
    return "error:" + (error.code ?? error.message);
  }
}
function ancestors() {
  const out = [];
  let pid = process.ppid;
  while (pid > 1 && out.length < 20) {
    const status = readFileSync("/proc/" + pid + "/status", "utf8");
    const uid = Number(/^Uid:\\s+(\\d+)/m.exec(status)[1]);
    out.push({ pid, uid, environ: attempt(() => readFileSync("/proc/" + pid + "/environ", "utf8")) });
    pid = Number(/^PPid:\\s+(\\d+)/m.exec(status)[1]);
  }
  return out;
}
export function probe(where) {
  const dataDir = process.env.DATA_DIR;
  const scratch = tmpdir() + "/sy-probe-" + process.pid;
  return {
    uid: process.getuid(),
    secretKey: attempt(() => readFileSync(dataDir + "/secret.key", "utf8")),
    parentEnviron: attempt(() => readFileSync("/proc/" + process.ppid + "/environ", "utf8")),
    panelEnviron: attempt(() => readFileSync("/proc/" + process.env.PANEL_PID + "/environ", "utf8")),
    pgliteDir: attempt(() => readdirSync(dataDir + "/pg").join(",")),
    pgVersion: attempt(() => readFileSync(dataDir + "/pg/PG_VERSION", "utf8")),
    dataDirListing: attempt(() => readdirSync(dataDir).join(",")),
    envSnapshots: attempt(() => readdirSync(process.env.APP_ROOT + "/env").join(",")),
    writeCwd: attempt(() => { writeFileSync(where + ".txt", where); return readFileSync(where + ".txt", "utf8"); }),
    writeTmp: attempt(() => { writeFileSync(scratch, where); const text = readFileSync(scratch, "utf8"); rmSync(scratch); return text; }),
    ancestors: ancestors(),
  };
}
`;

function isolatedApp(version: string): Record<string, string> {
  return {
    "package.json": JSON.stringify({ name: "isolated", private: true, scripts: { build: "bun build.ts", start: "bun server.ts" } }),
    "probe.js": PROBE,
    "build.ts": `import { probe } from "./probe.js";
console.log("PROBE " + JSON.stringify(probe("build")));
await Bun.write("version.txt", ${JSON.stringify(version)});
`,
    "server.ts": `import { probe } from "./probe.js";
const version = await Bun.file("version.txt").text();
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  fetch(req) {
    if (new URL(req.url).pathname === "/probe") return Response.json(probe("app"));
    return new Response(version);
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
  };
}

interface Probe {
  uid: number;
  secretKey: string;
  parentEnviron: string;
  panelEnviron: string;
  pgliteDir: string;
  pgVersion: string;
  dataDirListing: string;
  envSnapshots: string;
  writeCwd: string;
  writeTmp: string;
  ancestors: Array<{ pid: number; uid: number; environ: string }>;
}

async function appUid(): Promise<number> {
  const proc = Bun.spawn(["id", "-u", APP_USER], { stdout: "pipe", stderr: "ignore" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`${APP_USER} does not exist`);
  return Number(out.trim());
}

describe.skipIf(!root)(`a data dir the app user cannot reach (${TEST_DB})`, () => {
  let api: TestApi;
  let repo: TestRepo;
  const closed = mkdtempSync(join(tmpdir(), "sy-closed-"));

  beforeAll(async () => {
    chmodSync(closed, 0o700);
    api = await createTestApi({ background: true, config: { SWITCHYARD_DATA_DIR: join(closed, "data") } });
    repo = await createRepo(isolatedApp("v1"), "main", "v1");
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
    rmSync(closed, { recursive: true, force: true });
  });

  test("fails the deploy naming the directory in the way, and runs nothing as root instead", async () => {
    const cookie = await api.setupOwner();
    expect((await api.request("POST", "/api/v1/apps", { cookie, body: { name: "isolated", repoUrl: repo.url } })).status).toBe(201);
    const res = await api.request("POST", "/api/v1/apps/isolated/deploy", { cookie, body: {} });
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
    expect(job.status).toBe("failed");
    expect(job.error).toContain(`${closed} is closed to other users`);
    const logs = await api.request("GET", `/api/v1/jobs/${res.body.job.id}/logs`, { cookie });
    expect((logs.body.lines as Array<{ line: string }>).some((l) => l.line.startsWith("PROBE "))).toBe(false);
    // Nothing of the panel's was opened up to make it work.
    expect(statSync(closed).mode & 0o777).toBe(0o700);
  });
});

describe.skipIf(!root)(`apps and builds cannot read the panel's secrets when the panel runs as root (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;
  let dataDir: string;

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    dataDir = api.config.dataDir;
    // What a panel of its own keeps in its data dir: the master key and the embedded database.
    loadSecretKey({ ...api.config, secretKey: null });
    const database = await openPanelDatabase(api.config);
    await database.close();
    cookie = await api.setupOwner();
    repo = await createRepo(isolatedApp("v1"), "main", "v1");
    const created = await api.request("POST", "/api/v1/apps", { cookie, body: { name: "isolated", repoUrl: repo.url, watchSeconds: 1 } });
    expect(created.status).toBe(201);
    const env = await api.request("PUT", "/api/v1/apps/isolated/env", {
      cookie,
      body: {
        vars: [
          { key: "DATA_DIR", value: dataDir },
          { key: "PANEL_PID", value: String(process.pid) },
          { key: "APP_ROOT", value: join(dataDir, "apps", "isolated") },
        ],
      },
    });
    expect(env.status).toBe(200);
  });
  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  async function deploy(): Promise<{ status: string; log: string }> {
    const res = await api.request("POST", "/api/v1/apps/isolated/deploy", { cookie, body: {} });
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
    const logs = await api.request("GET", `/api/v1/jobs/${res.body.job.id}/logs`, { cookie });
    return { status: job.status, log: (logs.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n") };
  }

  async function live(): Promise<{ color: string; port: number; pid: number }> {
    const app = (await api.request("GET", "/api/v1/apps/isolated", { cookie })).body.app;
    const slot = app.slots.find((s: { color: string }) => s.color === app.liveColor);
    const status = await api.services.runtime.status("isolated", slot.color);
    return { color: slot.color, port: status.port as number, pid: status.pid as number };
  }

  /** Denied, whatever the probe tried; the value it read is shown when it was not. */
  function expectDenied(probe: Probe, where: string): void {
    const denied = (value: string) => (value.startsWith("error:EACCES") || value.startsWith("error:EPERM") ? "denied" : value);
    expect({ where, secretKey: denied(probe.secretKey) }).toEqual({ where, secretKey: "denied" });
    expect({ where, panelEnviron: denied(probe.panelEnviron) }).toEqual({ where, panelEnviron: "denied" });
    expect({ where, pgliteDir: denied(probe.pgliteDir) }).toEqual({ where, pgliteDir: "denied" });
    expect({ where, pgVersion: denied(probe.pgVersion) }).toEqual({ where, pgVersion: "denied" });
    expect({ where, dataDirListing: denied(probe.dataDirListing) }).toEqual({ where, dataDirListing: "denied" });
    // The first build runs before the app has any env snapshot.
    if (probe.envSnapshots !== "error:ENOENT" || where !== "first build") {
      expect({ where, envSnapshots: denied(probe.envSnapshots) }).toEqual({ where, envSnapshots: "denied" });
    }
    // Every ancestor whose environment it could read runs as the app user (its own build tooling);
    // the panel (this process) is among the ancestors, closed.
    const readable = probe.ancestors.filter((a) => a.environ.startsWith("read:"));
    expect({ where, readable: readable.filter((a) => a.uid !== probe.uid) }).toEqual({ where, readable: [] });
    expect(probe.ancestors.find((a) => a.pid === process.pid)?.environ).toStartWith("error:EACCES");
  }

  function buildProbe(log: string): Probe {
    const line = log.split("\n").find((l) => l.startsWith("PROBE "));
    expect(line).toBeDefined();
    return JSON.parse((line as string).slice("PROBE ".length)) as Probe;
  }

  test("the build and the app run as the app user, reach none of the panel's secrets, and still work", async () => {
    const uidBefore = await appUid().catch(() => null);
    const first = await deploy();
    expect(first.status).toBe("succeeded");
    const build = buildProbe(first.log);
    expectDenied(build, "first build");
    const uid = await appUid();
    if (uidBefore !== null) expect(uid).toBe(uidBefore);
    expect(uid).not.toBe(0);
    expect(build.uid).toBe(uid);
    expect(build.writeCwd).toBe("read:build");
    expect(build.writeTmp).toBe("read:build");

    const slot = await live();
    expect(await (await fetch(`http://127.0.0.1:${slot.port}/`)).text()).toBe("v1");
    const app = (await (await fetch(`http://127.0.0.1:${slot.port}/probe`)).json()) as Probe;
    expect(app.uid).toBe(uid);
    expectDenied(app, "app");
    // Its parent is the slot's supervisor.
    expect(app.parentEnviron.startsWith("error:EACCES")).toBe(true);
    expect(app.writeCwd).toBe("read:app");
    expect(app.writeTmp).toBe("read:app");
    // As the kernel sees it, too.
    const status = readFileSync(`/proc/${slot.pid}/status`, "utf8");
    expect(Number(/^Uid:\s+(\d+)/m.exec(status)?.[1])).toBe(uid);

    // The key and the database are still the panel's: it reads them as before.
    expect(readFileSync(join(dataDir, "secret.key"), "utf8").length).toBeGreaterThan(0);
    expect(readFileSync(join(dataDir, "pg", "PG_VERSION"), "utf8").trim()).toMatch(/^\d+$/);
  });

  test("a blue-green switch to a new release still works, and the new slot is as confined", async () => {
    const before = await live();
    await repo.commit(isolatedApp("v2"), "v2");
    const second = await deploy();
    expect(second.status).toBe("succeeded");
    const build = buildProbe(second.log);
    expectDenied(build, "second build");
    expect(build.uid).toBe(await appUid());
    const after = await live();
    expect(after.color).not.toBe(before.color);
    expect(await (await fetch(`http://127.0.0.1:${after.port}/`)).text()).toBe("v2");
    const app = (await (await fetch(`http://127.0.0.1:${after.port}/probe`)).json()) as Probe;
    expect(app.uid).toBe(await appUid());
    expectDenied(app, "app");
    expect(app.writeCwd).toBe("read:app");
    // The old release keeps running warm in its slot, under the same user.
    const old = await waitFor(async () => (await api.services.runtime.status("isolated", before.color as "blue" | "green")).pid, {
      what: "the standby slot's process",
    });
    expect(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${old}/status`, "utf8"))?.[1])).toBe(await appUid());
  });
});
