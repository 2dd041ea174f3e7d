import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPrivateProxy, findNginx, privateNginxPid } from "../../backend/adapters/proxy/index.ts";
import { type Forwarder, startForwarder } from "../../backend/adapters/runtime/forwarder.ts";
import { createLogger } from "../../backend/log.ts";
import { freePort } from "../helpers/ports.ts";

const nginx = findNginx();
const privilege = { root: process.getuid?.() === 0 };

describe.skipIf(!nginx)("local access log rotation", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sy-rotate-"));
  const port = freePort();
  const proxy = createPrivateProxy({ dataDir, port, tlsPort: freePort(), log: createLogger("silent"), privilege });
  let backend: ReturnType<typeof Bun.serve>;
  let forwarder: Forwarder;

  beforeAll(async () => {
    await proxy.start();
    backend = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
    forwarder = startForwarder({ socketPath: proxy.paths.slotSocket("shop", "blue"), port: backend.port as number });
    await proxy.configureApp("shop", { serverNames: [], preview: false });
    proxy.switchTo("shop", "blue");
  });
  afterAll(async () => {
    forwarder.stop(true);
    backend.stop(true);
    await proxy.stop();
    expect(privateNginxPid(dataDir)).toBeNull();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const visit = (path: string) => fetch(`http://127.0.0.1:${port}${path}`, { headers: { host: "shop.localhost" } }).then((r) => r.text());
  const read = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "");
  async function waitForLine(file: string, uri: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!read(file).includes(`"${uri}"`)) {
      if (Date.now() > deadline) throw new Error(`${uri} never reached ${file}`);
      await Bun.sleep(10);
    }
  }
  /**
   * `nginx -s reopen` returns once the signal is sent, and workers reopen their logs a moment
   * later: a request in between is logged in the file just moved to .1 (kept, not lost). So after
   * a rotation the path is asked for until nginx writes it to the fresh file.
   */
  async function visitUntilIn(file: string, uri: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      await visit(uri);
      if (read(file).includes(`"${uri}"`)) return;
      if (Date.now() > deadline) throw new Error(`${uri} never reached ${file}`);
      await Bun.sleep(10);
    }
  }

  test("a log past its size moves to .1, older ones shift, and nginx writes a fresh file", async () => {
    const log = proxy.paths.accessLog("shop");
    expect(await proxy.rotateLogs?.({ maxBytes: 1, keep: 2 })).toEqual([]); // nothing logged yet, or too small

    await visit("/first");
    await waitForLine(log, "/first");
    expect(await proxy.rotateLogs?.({ maxBytes: 1024 * 1024, keep: 2 })).toEqual([]);
    expect(await proxy.rotateLogs?.({ maxBytes: 1, keep: 2 })).toEqual([log]);
    expect(read(`${log}.1`)).toContain('"/first"');

    await visitUntilIn(log, "/second");
    expect(read(log)).not.toContain('"/first"');

    await proxy.rotateLogs?.({ maxBytes: 1, keep: 2 });
    expect(read(`${log}.2`)).toContain('"/first"');
    expect(read(`${log}.1`)).toContain('"/second"');
    await visitUntilIn(log, "/third");
    await proxy.rotateLogs?.({ maxBytes: 1, keep: 2 });
    // Only two old logs are kept: the oldest is gone.
    expect(read(`${log}.2`)).toContain('"/second"');
    expect(read(`${log}.1`)).toContain('"/third"');
    expect(existsSync(`${log}.3`)).toBe(false);
  });
});
