/**
 * Server mode's drain and list, with the real helper in a test root (it writes the units there and
 * prints the systemctl commands instead of running them) and the socket unit's own ExecStart run
 * as a process, as systemd would run it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPrivilege } from "../../backend/adapters/privilege.ts";
import { createSystemdRuntime, helperSystemdHost } from "../../backend/adapters/runtime/systemd.ts";
import type { Runtime } from "../../backend/adapters/runtime/types.ts";
import { controlSocketPath } from "../../backend/commands/systemd.ts";

const HELPER = join(import.meta.dir, "..", "..", "infrastructure", "helper", "switchyard-helper");

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

describe("systemd runtime: drain and list through the helper", () => {
  const root = mkdtempSync(join(tmpdir(), "sy-drain-"));
  const sockDir = join(root, "sock");
  const socketPath = join(sockDir, "shop-blue.sock");
  let runtime: Runtime;
  let forwarder: ReturnType<typeof Bun.spawn> | null = null;
  let release: () => void = () => {};
  let started: () => void = () => {};
  const backend = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (new URL(req.url).pathname === "/slow") {
        started();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return new Response("finished");
      }
      return new Response("ok");
    },
  });

  /** The socket unit's ExecStart, run as systemd would. */
  const runSocketUnit = () => {
    const unit = readFileSync(join(root, "etc/systemd/system/sy-shop-blue-socket.service"), "utf8");
    const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1] as string;
    forwarder = Bun.spawn(exec.split(" "), { stdio: ["ignore", "inherit", "inherit"] });
  };
  const stopSocketUnit = async (signal: "SIGTERM" | "SIGKILL") => {
    forwarder?.kill(signal);
    await forwarder?.exited;
    forwarder = null;
  };

  beforeAll(async () => {
    mkdirSync(sockDir, { recursive: true });
    const privilege = createPrivilege({
      root: false,
      command: ["bash", HELPER],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SWITCHYARD_HELPER_ROOT: root },
    });
    runtime = createSystemdRuntime({
      user: "switchyard-apps",
      stateDir: join(root, "apps"),
      toolsDir: join(root, "bin"),
      host: helperSystemdHost(privilege),
    });
    await runtime.start({
      app: "shop",
      color: "blue",
      releaseId: "rel-1",
      releaseDir: join(root, "apps/shop/releases/rel-1"),
      command: ["/bin/sh", "-c", "exec bun server.ts"],
      envFile: join(root, "apps/shop/env/blue.env"),
      port: backend.port as number,
      secrets: [],
      socketPath,
    });
    runSocketUnit();
    await until("the forwarder's sockets", () => existsSync(socketPath) && existsSync(controlSocketPath(socketPath)));
  });
  afterAll(async () => {
    release();
    await stopSocketUnit("SIGTERM");
    backend.stop(true);
    rmSync(root, { recursive: true, force: true });
  });

  test("list finds the slot from its installed units", async () => {
    const slots = await runtime.list();
    expect(slots.map((s) => `${s.app}/${s.color}`)).toEqual(["shop/blue"]);
    expect(slots[0]?.status.releaseId).toBe("rel-1");
  });

  test("drain waits for the request in flight, which finishes, then reports no connection left", async () => {
    const inFlight = new Promise<void>((resolve) => {
      started = resolve;
    });
    const response = fetch("http://localhost/slow", { unix: socketPath }).then((res) => res.text());
    await inFlight;
    const drained = runtime.drain("shop", "blue", { timeoutMs: 60_000 });
    let settled = false;
    void drained.then(() => {
      settled = true;
    });
    // The forwarder holds the drain open while the request is unanswered: ask it how many it has.
    await until("the forwarder to count the connection", async () => (await connections()) === 1);
    expect(settled).toBe(false);
    release();
    expect(await response).toBe("finished");
    expect(await drained).toBe(0);
  });

  test("drain reports the connections still open when the drain time runs out", async () => {
    const inFlight = new Promise<void>((resolve) => {
      started = resolve;
    });
    const response = fetch("http://localhost/slow", { unix: socketPath }).then((res) => res.text());
    await inFlight;
    expect(await runtime.drain("shop", "blue", { timeoutMs: 300 })).toBe(1);
    release();
    expect(await response).toBe("finished");
  });

  test("with no forwarder running there is nothing to drain, even when it left its control socket behind", async () => {
    await stopSocketUnit("SIGKILL");
    expect(existsSync(controlSocketPath(socketPath))).toBe(true);
    expect(await runtime.drain("shop", "blue", { timeoutMs: 1000 })).toBe(0);
    runSocketUnit();
    await until("the forwarder's control socket", async () => (await connections().catch(() => -1)) === 0);
  });

  /** Asks the control socket how many connections the forwarder has open. */
  function connections(): Promise<number> {
    return new Promise((resolve, reject) => {
      let text = "";
      Bun.connect({
        unix: controlSocketPath(socketPath),
        socket: {
          open: (s) => void s.write("connections\n"),
          data: (_s, chunk) => {
            text += chunk.toString();
          },
          close: () => resolve(JSON.parse(text).connections),
          error: (_s, e) => reject(e),
          connectError: (_s, e) => reject(e),
        },
      }).catch(reject);
    });
  }
});
