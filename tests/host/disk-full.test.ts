/**
 * A full disk under the data dir (a small tmpfs mounted for the test): saving is refused with a
 * 507 and nothing half-saved, the app keeps running while its output cannot be written, and
 * once space is freed the log resumes with a count of the lines that were dropped.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopPrivateNginx } from "../../backend/adapters/proxy/index.ts";
import { createProcessRuntime } from "../../backend/adapters/runtime/process.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { waitFor } from "../helpers/wait.ts";

const root = process.getuid?.() === 0;
if (!root) console.warn("disk-full: skipped, it needs root to mount a tmpfs");

/** An app that prints a numbered line every 10 ms and answers with the last number printed. */
const TICKER = {
  "package.json": JSON.stringify({ name: "ticker", private: true, scripts: { start: "bun server.ts" } }),
  "server.ts": `let n = 0;
setInterval(() => console.log("tick " + ++n), 10);
const server = Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response(String(n)) });
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
};

function run(argv: string[]): void {
  const done = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (done.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${done.stderr.toString()}`);
}

/** Writes a file until the filesystem has no room left; returns its path. */
function fillDisk(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const chunk = new Uint8Array(size).fill(120);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

describe.skipIf(!root)("a full disk", () => {
  const mount = mkdtempSync(join(tmpdir(), "sy-disk-full-"));
  const dataDir = join(mount, "data");
  let mounted = false;
  let panel: PanelProcess | null = null;
  let repo: TestRepo | null = null;
  let cookie = "";

  const call = async (method: string, path: string, body?: unknown) => {
    const url = panel?.url as string;
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json", origin: url, ...(cookie ? { cookie } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as any, headers: res.headers };
  };

  beforeAll(async () => {
    run(["mount", "-t", "tmpfs", "-o", "size=160m,mode=0755", "tmpfs", mount]);
    mounted = true;
    mkdirSync(dataDir, { mode: 0o755 });
    panel = await startPanelProcess({ SWITCHYARD_DATA_DIR: dataDir });
    const setup = await call("POST", "/api/v1/setup", {
      email: "o@example.com",
      password: "disk-full-test-password",
      name: "O",
      code: panel.setupCode,
    });
    expect(setup.status).toBe(201);
    cookie = (setup.headers.getSetCookie()[0] ?? "").split(";")[0] as string;
    repo = await createRepo(TICKER);
    const created = await call("POST", "/api/v1/apps", { name: "ticker", repoUrl: repo.url, watchSeconds: 0, drainSeconds: 0 });
    expect(created.status).toBe(201);
    const deploy = await call("POST", "/api/v1/apps/ticker/deploy", {});
    const job = await waitFor(
      async () => {
        const current = (await call("GET", `/api/v1/jobs/${deploy.body.job.id}`)).body.job;
        return current.status === "queued" || current.status === "running" ? null : current;
      },
      { what: "the first deploy", timeoutMs: 180_000, intervalMs: 100 },
    );
    expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
  });

  afterAll(async () => {
    if (panel && panel.proc.exitCode === null) panel.proc.kill("SIGTERM");
    await panel?.proc.exited;
    const runtime = createProcessRuntime({ dataDir });
    for (const slot of await runtime.list().catch(() => [])) await runtime.remove(slot.app).catch(() => {});
    await stopPrivateNginx(dataDir).catch(() => {});
    repo?.cleanup();
    if (mounted) Bun.spawnSync(["umount", mount]).exitCode === 0 || Bun.spawnSync(["umount", "-l", mount]);
    rmSync(mount, { recursive: true, force: true });
  });

  async function logLines(): Promise<string[]> {
    const app = (await call("GET", "/api/v1/apps/ticker")).body.app;
    const res = await call("GET", `/api/v1/apps/ticker/slots/${app.liveColor}/logs?lines=5000`);
    return (res.body.lines as Array<string | { line: string }>).map((l) => (typeof l === "string" ? l : l.line));
  }

  async function appCount(): Promise<number> {
    const app = (await call("GET", "/api/v1/apps/ticker")).body.app;
    const live = app.slots.find((s: { color: string }) => s.color === app.liveColor);
    return Number(await (await fetch(`http://127.0.0.1:${live.port}/`)).text());
  }

  test("PUT env is a 507 with nothing saved; the app runs on; its log resumes with a count of dropped lines", async () => {
    await waitFor(async () => (await logLines()).some((l) => /tick \d+/.test(l)), { what: "the app's first lines in its log" });
    const filler = fillDisk(mount);
    try {
      const before = await appCount();
      const put = await call("PUT", "/api/v1/apps/ticker/env", { vars: [{ key: "GREETING", value: "hello ".repeat(10_000) }] });
      expect({ status: put.status, code: put.body?.error?.code }).toEqual({ status: 507, code: "insufficient_storage" });
      expect(put.body.error.message).toMatch(/disk is full/);
      // Nothing was saved, and the app is still running and counting.
      expect((await call("GET", "/api/v1/apps/ticker/env")).body.vars).toEqual([]);
      // Long enough for its output to need new pages of the full filesystem (a line is ≈ 45 bytes).
      await waitFor(async () => (await appCount()) > before + 400, { what: "the app to keep running on a full disk", timeoutMs: 60_000 });
    } finally {
      rmSync(filler);
    }
    // With room again, the log says how many lines were lost and goes on from where the app is now.
    const resumed = await waitFor(
      async () => {
        const lines = await logLines();
        const marker = lines.findIndex((l) => /supervisor \d+ lines dropped: disk full/.test(l));
        return marker >= 0 && lines.slice(marker + 1).some((l) => /tick \d+/.test(l)) ? { lines, marker } : null;
      },
      { what: "the log to resume after space was freed", timeoutMs: 30_000 },
    ).catch(async (error) => {
      console.error("the log's last lines:", (await logLines()).slice(-5));
      throw error;
    });
    const dropped = Number(/(\d+) lines dropped/.exec(resumed.lines[resumed.marker] as string)?.[1]);
    expect(dropped).toBeGreaterThan(0);
    // The note is a line of its own, whatever a cut-short write left before it.
    expect(resumed.lines[resumed.marker]).toMatch(/^\S+Z supervisor \d+ lines dropped: disk full$/);
    const put = await call("PUT", "/api/v1/apps/ticker/env", { vars: [{ key: "GREETING", value: "hello" }] });
    expect(put.status).toBe(200);
    expect((await call("GET", "/api/v1/apps/ticker/env")).body.vars).toEqual([{ key: "GREETING", value: "hello", secret: false }]);
  });
});
