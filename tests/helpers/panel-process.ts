import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopPrivateNginx } from "../../backend/adapters/proxy/index.ts";
import { createProcessRuntime } from "../../backend/adapters/runtime/process.ts";
import { freePort } from "./ports.ts";

const root = join(import.meta.dir, "..", "..");

export interface PanelProcess {
  url: string;
  dataDir: string;
  /** The first-run setup code the panel printed at start, or null when it printed none (a user exists). */
  setupCode: string | null;
  proc: ReturnType<typeof Bun.spawn>;
  /** Stops the panel and its nginx; when the data dir is its own, also the apps it left running, then the dir. */
  stop(): Promise<void>;
}

/** The real panel (`bun backend/cli.ts start`) on a free port, its nginx on another, with its own data dir. */
export async function startPanelProcess(env: Record<string, string> = {}): Promise<PanelProcess> {
  const dataDir = env.SWITCHYARD_DATA_DIR ?? mkdtempSync(join(tmpdir(), "sy-panel-"));
  const proc = Bun.spawn([process.execPath, join(root, "backend/cli.ts"), "start"], {
    cwd: root,
    env: {
      ...process.env,
      SWITCHYARD_DATA_DIR: dataDir,
      PORT: "0",
      SWITCHYARD_PROXY_PORT: String(freePort()),
      SWITCHYARD_PROXY_TLS_PORT: String(freePort()),
      SWITCHYARD_SKIP_GUI_BUILD: "1",
      SWITCHYARD_LOG_LEVEL: "warn",
      DATABASE_URL: "",
      ...env,
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  const deadline = Date.now() + 60_000;
  while (!/running at (http:\S+)/.test(out)) {
    if (Date.now() > deadline) throw new Error(`panel did not start: ${out}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`panel exited early: ${out}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  void proc.stdout.pipeTo(new WritableStream());
  const url = (/running at (http:\S+)/.exec(out) as RegExpExecArray)[1] as string;
  return {
    url,
    dataDir,
    setupCode: /enter the setup code (\S+)/.exec(out)?.[1] ?? null,
    proc,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      // The panel's nginx outlives it by design (so do the apps); a test's must not.
      await stopPrivateNginx(dataDir).catch(() => {});
      if (env.SWITCHYARD_DATA_DIR) return;
      // Apps outlive the panel by design; a test's panel must not leave them behind.
      const runtime = createProcessRuntime({ dataDir });
      for (const slot of await runtime.list().catch(() => [])) await runtime.remove(slot.app).catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
