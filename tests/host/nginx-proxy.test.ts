import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccessLogReader } from "../../backend/adapters/access-log.ts";
import { type AppProxy, createPrivateProxy, findNginx, privateNginxPid } from "../../backend/adapters/proxy/index.ts";
import { type Forwarder, startForwarder } from "../../backend/adapters/runtime/forwarder.ts";
import { createLogger } from "../../backend/log.ts";
import { freePort } from "../helpers/ports.ts";

const nginx = findNginx();
const privilege = { root: process.getuid?.() === 0 };

describe.skipIf(!nginx)("local nginx proxy", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-nginx-"));
  const port = freePort();
  const tlsPort = freePort();
  let proxy: AppProxy;
  const backends: Array<ReturnType<typeof Bun.serve>> = [];
  const forwarders: Forwarder[] = [];

  beforeAll(async () => {
    proxy = createPrivateProxy({ dataDir, port, tlsPort, log: createLogger("silent"), privilege });
    await proxy.start();
    for (const color of ["blue", "green"] as const) {
      const backend = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: (req) => new Response(`${color} ${new URL(req.url).pathname} ${req.headers.get("x-forwarded-for") ?? ""}`),
      });
      backends.push(backend);
      forwarders.push(startForwarder({ socketPath: proxy.paths.slotSocket("shop", color), port: backend.port as number }));
    }
  });
  afterAll(async () => {
    for (const f of forwarders) f.stop(true);
    for (const b of backends) b.stop(true);
    await proxy.stop();
    expect(privateNginxPid(dataDir)).toBeNull();
    if (!process.env.KEEP) rmSync(dataDir, { recursive: true, force: true });
  });

  const get = async (host: string, path = "/") => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { host } });
    return { status: res.status, text: await res.text() };
  };

  test("routes <app>.localhost to the live slot and switches by replacing the socket link", async () => {
    await proxy.configureApp("shop", { serverNames: [], preview: true });
    proxy.switchTo("shop", "blue");
    expect(proxy.liveColor("shop")).toBe("blue");
    expect((await get("shop.localhost", "/a")).text).toBe("blue /a 127.0.0.1");
    proxy.switchTo("shop", "green");
    expect(proxy.liveColor("shop")).toBe("green");
    // nginx keeps its cached connection to blue until blue lets it go.
    expect(await forwarders[0]?.drain({ idleMs: 20, timeoutMs: 2000 })).toBe(0);
    expect((await get("shop.localhost")).text).toStartWith("green");
    expect((await get("shop--blue.localhost")).text).toStartWith("blue");
    expect((await get("shop--green.localhost")).text).toStartWith("green");
    expect((await get("unknown.localhost")).status).toBe(404);
  });

  test("every request is in the app's JSON access log", async () => {
    const reader = createAccessLogReader(proxy.paths.accessLog("shop"), { from: "end" });
    await get("shop.localhost", "/logged");
    // nginx writes the line once the response is sent, which may be just after the client has it.
    let lines: any[] = [];
    const deadline = Date.now() + 10_000;
    while (!lines.some((l) => l.uri === "/logged") && Date.now() < deadline) {
      if ((await reader.read()).length > 0)
        lines = readFileSync(proxy.paths.accessLog("shop"), "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l));
      else await Bun.sleep(10);
    }
    reader.close();
    const entry = lines.find((l) => l.uri === "/logged");
    expect(entry).toMatchObject({ method: "GET", status: 200, host: "shop.localhost" });
    expect(entry.upstream).toContain("shop.sock");
    expect(typeof entry.request_time).toBe("number");
  });

  test("a configuration nginx refuses is rolled back and the app keeps serving", async () => {
    const stray = join(dataDir, "nginx", "conf.d", "zz-broken.conf");
    writeFileSync(stray, "this is not nginx;\n");
    try {
      await expect(proxy.configureApp("shop", { serverNames: ["shop.example.com"], preview: true })).rejects.toThrow(/nginx test failed/);
    } finally {
      rmSync(stray);
    }
    const file = readFileSync(join(dataDir, "nginx", "conf.d", "shop.conf"), "utf8");
    expect(file).not.toContain("shop.example.com");
    expect((await get("shop.localhost")).status).toBe(200);
  });

  test("a second proxy on the same data dir adopts the running nginx", async () => {
    const pid = privateNginxPid(dataDir);
    expect(pid).not.toBeNull();
    const again = createPrivateProxy({ dataDir, port, tlsPort, log: createLogger("silent"), privilege });
    await again.start();
    expect(privateNginxPid(dataDir)).toBe(pid);
    expect((await get("shop.localhost")).status).toBe(200);
  });

  test("removing an app removes its file, its live link and its slots' sockets, and nginx forgets its names", async () => {
    await proxy.configureApp("gone", { serverNames: ["gone.example.com"], preview: true });
    const file = join(dataDir, "nginx", "conf.d", "gone.conf");
    writeFileSync(proxy.paths.slotSocket("gone", "blue"), "");
    writeFileSync(proxy.paths.slotSocket("gone", "green"), "");
    proxy.switchTo("gone", "blue");
    expect(lstatSync(proxy.paths.liveSocket("gone")).isSymbolicLink()).toBe(true);
    expect((await get("gone.example.com")).status).toBe(502);
    await proxy.removeApp("gone");
    for (const path of [
      file,
      proxy.paths.liveSocket("gone"),
      proxy.paths.slotSocket("gone", "blue"),
      proxy.paths.slotSocket("gone", "green"),
    ])
      expect(existsSync(path), path).toBe(false);
    expect((await get("gone.example.com")).status).toBe(404);
    expect(proxy.liveColor("gone")).toBeNull();
  });

  test("the panel's nginx refuses to start on a port that is taken, saying so", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const other = mkdtempSync(join(tmpdir(), "sy-nginx-busy-"));
    try {
      const second = createPrivateProxy({ dataDir: other, port: busy.port, tlsPort: freePort(), log: createLogger("silent"), privilege });
      await expect(second.start()).rejects.toThrow(/Address already in use|bind\(\)/);
    } finally {
      busy.stop(true);
      rmSync(other, { recursive: true, force: true });
    }
  });

  test("without nginx the proxy says how to fix it", () => {
    const none = createPrivateProxy({ dataDir, port, tlsPort, binary: null, log: createLogger("silent"), privilege });
    expect(none.enabled).toBe(false);
    expect(none.problem).toContain("apt-get install nginx");
  });
});
