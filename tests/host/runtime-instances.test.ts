/**
 * A slot's web as several instances, each on its own port behind the slot's socket, and worker
 * processes beside it: local mode's process runtime with real processes; server mode's units
 * through the real root helper in a test root (it writes the units there and prints the systemctl
 * commands instead of running them), and every such unit checked by `systemd-analyze verify`.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPrivilege } from "../../backend/adapters/privilege.ts";
import { startForwarder } from "../../backend/adapters/runtime/forwarder.ts";
import { createProcessRuntime } from "../../backend/adapters/runtime/process.ts";
import { createSystemdRuntime, helperSystemdHost } from "../../backend/adapters/runtime/systemd.ts";
import { NO_FILTER } from "../../backend/adapters/runtime-logs/types.ts";
import { buildSlotUnit, buildSocketUnit, buildWorkerUnit } from "../../backend/commands/systemd.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const dataDir = mkdtempSync(join(tmpdir(), "sy-instances-"));
const releaseDir = join(dataDir, "release");
const envFile = join(dataDir, "slot.env");
const outDir = join(dataDir, "out");
mkdirSync(releaseDir);
mkdirSync(outDir);
const ports = [freePort(), freePort(), freePort()];
// The env file holds the web's PORT, as a release's snapshot does; a worker must not see it.
writeFileSync(envFile, `PORT=${ports[0]}\nGREETING=hello\nOUT_DIR=${outDir}\n`, { mode: 0o600 });
writeFileSync(
  join(releaseDir, "server.ts"),
  `Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response(String(process.pid)) });
console.log("listening on " + process.env.PORT);
`,
);
// A worker: writes its pid and env to a file, notes SIGTERM there before it exits, and logs.
writeFileSync(
  join(releaseDir, "worker.ts"),
  `import { appendFileSync } from "node:fs";
const file = process.env.OUT_DIR + "/worker-" + process.pid;
appendFileSync(file, JSON.stringify({ pid: process.pid, port: process.env.PORT ?? null, greeting: process.env.GREETING }) + "\\n");
process.on("SIGTERM", () => { appendFileSync(file, "SIGTERM\\n"); process.exit(0); });
console.log("worker " + process.pid + " ready");
setInterval(() => {}, 1000);
`,
);

const runtime = createProcessRuntime({ dataDir, backoffMs: 50, backoffMaxMs: 200 });
const socketPath = join(dataDir, "shop-blue.sock");
const base = {
  app: "shop",
  color: "blue" as const,
  releaseId: "rel-1",
  releaseDir,
  envFile,
  secrets: [],
  // Where the workers write: as root, apps run as the app user, which owns its volumes.
  volumes: [{ dir: outDir, mountAt: join(releaseDir, "out") }],
};

afterAll(async () => {
  await runtime.remove("shop").catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
});

/** One request through the slot's socket on a fresh connection; the pid of the instance that answered. */
async function pidThroughSocket(): Promise<number> {
  const res = await fetch("http://slot/", { unix: socketPath, keepalive: false, headers: { connection: "close" } });
  expect(res.status).toBe(200);
  return Number(await res.text());
}

describe("web instances (process runtime)", () => {
  test("a slot with three ports serves through its socket from three processes", async () => {
    await runtime.start({ ...base, command: [process.execPath, "server.ts"], port: ports[0] as number, ports, socketPath });
    const status = await waitFor(
      async () => {
        const s = await runtime.status("shop", "blue");
        return s.instances?.length === 3 && s.instances.every((i) => i.pid !== null) && s;
      },
      { what: "three running instances" },
    );
    expect(status.state).toBe("running");
    expect(status.pid).toBe(status.instances?.[0]?.pid as number);
    expect(status.instances?.map((i) => i.port)).toEqual(ports);
    const pids = new Set(status.instances?.map((i) => i.pid as number));
    // Every instance answers on its own port, and the socket reaches all of them.
    await waitFor(
      async () => {
        for (const port of ports) await fetch(`http://127.0.0.1:${port}/`);
        return true;
      },
      { what: "every instance to listen" },
    );
    const seen = new Set<number>();
    for (let i = 0; i < 30 && seen.size < 3; i++) seen.add(await pidThroughSocket());
    expect(seen).toEqual(pids);
  });

  test("a killed instance: requests through the socket keep succeeding, and it is restarted", async () => {
    const before = await runtime.status("shop", "blue");
    const victim = before.instances?.[1];
    if (!victim?.pid) throw new Error("no second instance");
    process.kill(-victim.pid, "SIGKILL");
    // While it is down (connection refused on its port) the forwarder goes on to another instance.
    for (let i = 0; i < 20; i++) expect(await pidThroughSocket()).not.toBe(victim.pid);
    const after = await waitFor(
      async () => {
        const s = await runtime.status("shop", "blue");
        const second = s.instances?.[1];
        return Boolean(second?.pid && second.pid !== victim.pid && second.restarts === 1) && s;
      },
      { what: "the second instance to be restarted" },
    );
    expect(after.instances?.[0]?.pid).toBe(before.instances?.[0]?.pid as number);
    expect(after.state).toBe("running");
    await waitFor(async () => (await fetch(`http://127.0.0.1:${ports[1]}/`)).ok, { what: "the restarted instance to listen" });
    // Its lines say which instance printed them.
    const page = await runtime.logReader.page("shop", { ...NO_FILTER, process: "web.2" }, { before: null, limit: 50 });
    expect(page.lines.some((l) => l.text === `listening on ${ports[1]}` && l.process === "web.2")).toBe(true);
    expect(page.lines.every((l) => l.process === "web.2")).toBe(true);
  });
});

describe("a slot started by an older panel (process runtime)", () => {
  test("its one-instance state.json reads as one instance, and stop() ends it", async () => {
    // What a one-instance supervisor left: no `instances`, the app's fields at the top.
    await using app = Bun.spawn(["sleep", "600"], { detached: true });
    await using supervisor = Bun.spawn(["sleep", "600"]);
    const dir = join(dataDir, "apps", "legacy", "slots", "green");
    mkdirSync(dir, { recursive: true });
    const stat = (pid: number) => {
      const text = readFileSync(`/proc/${pid}/stat`, "utf8");
      return text.slice(text.lastIndexOf(")") + 2).split(" ")[19] ?? null;
    };
    writeFileSync(
      join(dir, "state.json"),
      JSON.stringify({
        state: "running",
        supervisorPid: supervisor.pid,
        supervisorStart: stat(supervisor.pid),
        pid: app.pid,
        pidStart: stat(app.pid),
        releaseId: "rel-0",
        port: 4999,
        startedAt: "2026-01-01T00:00:00.000Z",
        restarts: 2,
        lastExit: null,
        crashes: [],
      }),
    );
    const status = await runtime.status("legacy", "green");
    expect(status).toMatchObject({ state: "running", pid: app.pid, port: 4999, restarts: 2, releaseId: "rel-0" });
    expect(status.instances).toEqual([
      {
        index: 1,
        state: "running",
        pid: app.pid,
        port: 4999,
        restarts: 2,
        startedAt: new Date("2026-01-01T00:00:00.000Z"),
        lastExit: null,
      },
    ]);
    expect((await runtime.processes("legacy", "green")).map((p) => [p.type, p.instances.length])).toEqual([["web", 1]]);
    await runtime.stop("legacy", "green", { graceMs: 1_000 });
    expect(await supervisor.exited).not.toBe(0);
    await app.exited;
    expect((await runtime.status("legacy", "green")).state).toBe("stopped");
    await runtime.remove("legacy");
  });
});

describe("workers (process runtime)", () => {
  const workerFiles = () =>
    [...new Bun.Glob("worker-*").scanSync(outDir)].map((name) => ({
      pid: Number(name.slice("worker-".length)),
      lines: readFileSync(join(outDir, name), "utf8").trim().split("\n"),
    }));

  test("workers start with the slot's env and no PORT, and processes() reports them beside the web", async () => {
    await runtime.startWorkers({ ...base, processes: [{ type: "worker", command: [process.execPath, "worker.ts"], instances: 2 }] });
    const files = await waitFor(() => workerFiles().filter((f) => f.lines[0]?.endsWith("}")).length === 2 && workerFiles(), {
      what: "two workers to write their files",
    });
    for (const file of files) expect(JSON.parse(file.lines[0] as string)).toEqual({ pid: file.pid, port: null, greeting: "hello" });
    const processes = await runtime.processes("shop", "blue");
    expect(processes.map((p) => [p.type, p.releaseId, p.instances.length])).toEqual([
      ["web", "rel-1", 3],
      ["worker", "rel-1", 2],
    ]);
    const worker = processes[1];
    expect(worker?.instances.every((i) => i.state === "running" && i.port === null)).toBe(true);
    expect(new Set(worker?.instances.map((i) => i.pid as number))).toEqual(new Set(files.map((f) => f.pid)));
    // The web's status is the web's alone.
    expect((await runtime.status("shop", "blue")).instances?.length).toBe(3);
    const logs = await waitFor(
      async () => {
        const page = await runtime.logReader.page("shop", { ...NO_FILTER, process: "worker" }, { before: null, limit: 50 });
        return page.lines.filter((l) => l.stream === "stdout").length === 2 && page.lines;
      },
      { what: "both workers' lines in the slot's log" },
    );
    expect(new Set(logs.filter((l) => l.stream === "stdout").map((l) => l.process))).toEqual(new Set(["worker.1", "worker.2"]));
  });

  test("restartWorkers replaces each instance with a new process, gracefully", async () => {
    const before = (await runtime.processes("shop", "blue")).find((p) => p.type === "worker");
    const old = before?.instances.map((i) => i.pid) ?? [];
    await runtime.restartWorkers("shop", "blue", "worker");
    const after = (await runtime.processes("shop", "blue")).find((p) => p.type === "worker");
    const fresh = after?.instances.map((i) => i.pid) ?? [];
    expect(fresh.length).toBe(2);
    for (const pid of fresh) expect(old).not.toContain(pid);
    expect(after?.instances.every((i) => i.state === "running" && i.restarts === 1)).toBe(true);
    for (const pid of old) expect(readFileSync(join(outDir, `worker-${pid}`), "utf8")).toContain("SIGTERM");
  });

  test("stopWorkers stops them gracefully and leaves the web serving; stop() stops everything", async () => {
    const running = (await runtime.processes("shop", "blue")).find((p) => p.type === "worker")?.instances.map((i) => i.pid) ?? [];
    // Once they run their code (and so handle SIGTERM).
    await waitFor(() => running.every((pid) => existsSync(join(outDir, `worker-${pid}`))), { what: "the workers to write their files" });
    await runtime.stopWorkers("shop", "blue", { graceMs: 5_000 });
    for (const pid of running)
      expect(
        readFileSync(join(outDir, `worker-${pid}`), "utf8")
          .trim()
          .endsWith("SIGTERM"),
      ).toBe(true);
    const worker = (await runtime.processes("shop", "blue")).find((p) => p.type === "worker");
    expect(worker?.instances.every((i) => i.state === "stopped" && i.pid === null)).toBe(true);
    expect(await pidThroughSocket()).toBeGreaterThan(0);

    // Started again, then the slot's stop takes the workers with the web.
    await runtime.startWorkers({ ...base, processes: [{ type: "worker", command: [process.execPath, "worker.ts"], instances: 1 }] });
    const [one] = (await runtime.processes("shop", "blue")).find((p) => p.type === "worker")?.instances ?? [];
    expect(one?.pid).toBeGreaterThan(0);
    // Once it runs its code (and so handles SIGTERM).
    await waitFor(() => existsSync(join(outDir, `worker-${one?.pid}`)), { what: "the worker to write its file" });
    await runtime.stop("shop", "blue", { graceMs: 5_000 });
    const processes = await runtime.processes("shop", "blue");
    expect(processes.every((p) => p.instances.every((i) => i.pid === null))).toBe(true);
    expect(readFileSync(join(outDir, `worker-${one?.pid}`), "utf8")).toContain("SIGTERM");
    expect((await runtime.status("shop", "blue")).state).toBe("stopped");
    // list() still names the slot once, not its workers.
    expect((await runtime.list()).map((s) => `${s.app}/${s.color}`)).toEqual(["shop/blue"]);
  });

  test("startWorkers with a type left out stops and forgets it", async () => {
    await runtime.startWorkers({ ...base, processes: [{ type: "mailer", command: [process.execPath, "worker.ts"], instances: 1 }] });
    expect((await runtime.processes("shop", "blue")).map((p) => p.type)).toEqual(["web", "mailer"]);
    await runtime.startWorkers({ ...base, processes: [] });
    expect((await runtime.processes("shop", "blue")).map((p) => p.type)).toEqual(["web"]);
    expect(existsSync(join(dataDir, "apps", "shop", "slots", "blue", "workers", "mailer"))).toBe(false);
    await expect(runtime.startWorkers({ ...base, processes: [{ type: "../x", command: ["/bin/true"], instances: 1 }] })).rejects.toThrow(
      "not a worker process type",
    );
  });

  test("scaling a worker 1→2 and starting another type leaves the running instances alone; scaling down stops only the extra", async () => {
    const worker = (instances: number) => ({ type: "worker", command: [process.execPath, "worker.ts"], instances });
    const mailer = { type: "mailer", command: [process.execPath, "worker.ts"], instances: 1 };
    const pids = async (type: string) =>
      ((await runtime.processes("shop", "blue")).find((p) => p.type === type)?.instances ?? []).map((i) => i.pid);
    await runtime.startWorkers({ ...base, processes: [worker(1)] });
    const [first] = await pids("worker");
    expect(first).toBeGreaterThan(0);
    await waitFor(() => existsSync(join(outDir, `worker-${first}`)), { what: "the worker to write its file" });

    await runtime.startWorkers({ ...base, processes: [worker(2), mailer] });
    const scaled = await pids("worker");
    expect(scaled.length).toBe(2);
    expect(scaled[0]).toBe(first);
    expect(scaled[1]).toBeGreaterThan(0);
    const [mail] = await pids("mailer");
    expect(mail).toBeGreaterThan(0);
    await waitFor(() => existsSync(join(outDir, `worker-${scaled[1]}`)), { what: "the second worker to write its file" });

    await runtime.startWorkers({ ...base, processes: [worker(1), mailer] });
    expect(await pids("worker")).toEqual([first as number]);
    expect(await pids("mailer")).toEqual([mail as number]);
    expect(readFileSync(join(outDir, `worker-${scaled[1]}`), "utf8")).toContain("SIGTERM");
    expect(readFileSync(join(outDir, `worker-${first}`), "utf8")).not.toContain("SIGTERM");

    // A new release replaces them.
    await runtime.startWorkers({ ...base, releaseId: "rel-2", processes: [worker(1)] });
    const [next] = await pids("worker");
    expect(next).not.toBe(first);
    await runtime.startWorkers({ ...base, processes: [] });
  });
});

const HELPER = join(import.meta.dir, "..", "..", "infrastructure", "helper", "switchyard-helper");

describe("the slot forwarder across instances", () => {
  test("balances by open connections, skips a port nobody listens on, and retries a GET an instance dropped unanswered", async () => {
    const live = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => new Response(`live ${req.method}`) });
    // An instance dying as it accepts: takes the connection, reads the request, closes without a byte.
    let dropped = 0;
    const dying = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(socket) {
          dropped++;
          socket.end();
        },
      },
    });
    const dead = freePort();
    const path = join(dataDir, "forwarder.sock");
    const forwarder = startForwarder({ socketPath: path, ports: [dead, dying.port, live.port as number] });
    try {
      const ask = (method: string) =>
        fetch("http://slot/", { unix: path, method, keepalive: false, headers: { connection: "close" } }).then(
          async (r) => `${r.status} ${await r.text()}`,
          () => "dropped",
        );
      // Whichever instance a GET goes to first, it is answered by the live one.
      for (let i = 0; i < 9; i++) expect(await ask("GET")).toBe("200 live GET");
      expect(dropped).toBeGreaterThan(0);
      // A POST is not sent twice: dropped by the dying instance, it fails as it would have.
      const posts = [];
      for (let i = 0; i < 9; i++) posts.push(await ask("POST"));
      expect(posts).toContain("200 live POST");
      expect(posts).toContain("dropped");
      expect(forwarder.connections()).toBe(0);
    } finally {
      forwarder.stop(true);
      dying.stop(true);
      await live.stop(true);
    }
  });
});

describe("web instances and workers as systemd units (through the helper)", () => {
  const root = join(dataDir, "server");
  const unitDir = join(root, "etc/systemd/system");
  const privilege = createPrivilege({
    root: false,
    command: ["bash", HELPER],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SWITCHYARD_HELPER_ROOT: root },
  });
  const server = createSystemdRuntime({
    user: "switchyard-apps",
    stateDir: join(root, "apps"),
    toolsDir: join(root, "bin"),
    host: helperSystemdHost(privilege),
  });
  const slot = {
    app: "shop",
    color: "green" as const,
    releaseId: "rel-2",
    releaseDir: "/var/lib/switchyard/apps/shop/releases/rel-2",
    command: ["/bin/sh", "-c", "exec bun server.ts"],
    envFile: "/var/lib/switchyard/apps/shop/env/green.env",
    secrets: [],
    volumes: [{ dir: "/var/lib/switchyard/apps/shop/volumes/data", mountAt: "/var/lib/switchyard/apps/shop/releases/rel-2/data" }],
    memoryMax: "256M",
    cpuQuota: "50%",
    ioWeight: 100,
  };
  const units = () => (existsSync(unitDir) ? readdirSync(unitDir).sort() : []);

  test("three web instances are three units behind one socket unit; starting with one removes the others", async () => {
    await server.start({ ...slot, port: 5100, ports: [5100, 5101, 5102], socketPath: "/var/lib/switchyard/sock/shop-green.sock" });
    expect(units()).toEqual([
      "sy-shop-green-socket.service",
      "sy-shop-green.service",
      "sy-shop-green_web_2.service",
      "sy-shop-green_web_3.service",
    ]);
    const third = readFileSync(join(unitDir, "sy-shop-green_web_3.service"), "utf8");
    for (const line of [
      "Environment=PORT=5102",
      "IOWeight=100",
      "MemoryMax=256M",
      "CPUQuota=50%",
      "SyslogIdentifier=sy-shop-green_web_3",
    ]) {
      expect(third).toContain(`\n${line}\n`);
    }
    expect(readFileSync(join(unitDir, "sy-shop-green-socket.service"), "utf8")).toContain(" 5100,5101,5102 ");
    const status = await server.status("shop", "green");
    expect(status.instances?.map((i) => [i.index, i.port])).toEqual([
      [1, 5100],
      [2, 5101],
      [3, 5102],
    ]);
    // list() names the slot once, whatever its instances and workers.
    expect((await server.list()).map((s) => `${s.app}/${s.color}`)).toEqual(["shop/green"]);

    await server.start({ ...slot, port: 5100, ports: [5100], socketPath: "/var/lib/switchyard/sock/shop-green.sock" });
    expect(units()).toEqual(["sy-shop-green-socket.service", "sy-shop-green.service"]);
    expect(readFileSync(join(unitDir, "sy-shop-green-socket.service"), "utf8")).toContain(" 5100 ");
  });

  test("workers are units of their own, replaced and removed with the formation; remove() leaves nothing", async () => {
    await server.startWorkers({
      ...slot,
      processes: [
        { type: "worker", command: ["/bin/sh", "-c", "exec bun worker.ts"], instances: 2 },
        { type: "mailer", command: ["/usr/bin/env", "node", "mail.js"], instances: 1 },
      ],
    });
    expect(units().filter((u) => u.includes("_") && !u.includes("_web_"))).toEqual([
      "sy-shop-green_mailer_1.service",
      "sy-shop-green_worker_1.service",
      "sy-shop-green_worker_2.service",
    ]);
    const text = readFileSync(join(unitDir, "sy-shop-green_worker_2.service"), "utf8");
    for (const line of [
      "UnsetEnvironment=PORT",
      "KillSignal=SIGTERM",
      "Restart=on-failure",
      "IOWeight=100",
      "BindPaths=/var/lib/switchyard/apps/shop/volumes/data:/var/lib/switchyard/apps/shop/releases/rel-2/data",
    ]) {
      expect(text).toContain(`\n${line}\n`);
    }
    expect(text).not.toContain("Environment=PORT=");
    const processes = await server.processes("shop", "green");
    expect(processes.map((p) => [p.type, p.releaseId, p.instances.map((i) => i.index)])).toEqual([
      ["web", "rel-2", [1]],
      ["mailer", "rel-2", [1]],
      ["worker", "rel-2", [1, 2]],
    ]);
    await server.restartWorkers("shop", "green", "worker");
    await expect(server.restartWorkers("shop", "green", "nothing")).rejects.toThrow("runs no nothing process");

    await server.startWorkers({ ...slot, processes: [{ type: "worker", command: ["/bin/sh", "-c", "exec bun worker.ts"], instances: 1 }] });
    expect(units()).toEqual(["sy-shop-green-socket.service", "sy-shop-green.service", "sy-shop-green_worker_1.service"]);
    await server.stopWorkers("shop", "green");
    await server.stop("shop", "green");
    await server.remove("shop");
    expect(units()).toEqual([]);
  });
});

const analyze = Bun.which("systemd-analyze");
describe.skipIf(!analyze)("systemd-analyze verify: instance and worker units", () => {
  const dir = join(dataDir, "verify");
  mkdirSync(dir, { recursive: true });
  const verify = async (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    await using proc = Bun.spawn([analyze as string, "verify", join(dir, name)], { stdout: "pipe", stderr: "pipe" });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    return { code, stderr };
  };
  const slot = {
    app: "shop",
    color: "blue" as const,
    releaseId: "0b6c1e9e-4f8e-4a51-9d5c-1f2a3b4c5d6e",
    releaseDir: dir,
    envFile: join(dir, "slot-blue.env"),
    port: 4100,
    ports: [4100, 4101, 4102],
    secrets: [],
    user: "switchyard-apps",
    stateDir: dir,
    ioWeight: 300,
    memoryMax: "512M",
  };

  test("a further web instance, a worker and a socket unit for three ports", async () => {
    expect(
      await verify("sy-shop-blue_web_3.service", buildSlotUnit({ ...slot, instance: 3, command: [process.execPath, "server.ts"] })),
    ).toEqual({
      code: 0,
      stderr: "",
    });
    const worker = buildWorkerUnit({
      ...slot,
      type: "queue-worker",
      index: 2,
      command: ["/bin/sh", "-c", "exec bun worker.ts --name '100% $HOME'"],
    });
    expect(await verify("sy-shop-blue_queue-worker_2.service", worker)).toEqual({ code: 0, stderr: "" });
    writeFileSync(join(dir, "sy-shop-blue.service"), buildSlotUnit({ ...slot, command: ["/bin/sh", "-c", "true"] }));
    const socket = buildSocketUnit({
      ...slot,
      bun: process.execPath,
      forwarder: join(import.meta.dir, "..", "..", "backend/adapters/runtime/forwarder.ts"),
      socketPath: join(dir, "shop-blue.sock"),
    });
    expect(await verify("sy-shop-blue-socket.service", socket)).toEqual({ code: 0, stderr: "" });
  });
});
