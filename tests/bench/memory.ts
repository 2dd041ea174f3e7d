import { startPanelProcess } from "../helpers/panel-process.ts";
import { rssOf } from "./stats.ts";

/** The panel's resident memory once idle after start-up, on the embedded database. */
export async function memoryBench(): Promise<string> {
  const rows: string[] = [];
  const first = await startPanelProcess({ SWITCHYARD_DATA_DIR: `/tmp/sy-bench-mem-${Date.now()}` });
  await fetch(`${first.url}/api/v1/health`);
  await Bun.sleep(10_000);
  const a = await rssOf(first.proc.pid);
  await first.stop();
  const again = await startPanelProcess({ SWITCHYARD_DATA_DIR: first.dataDir });
  await fetch(`${again.url}/api/v1/health`);
  await fetch(`${again.url}/`);
  await Bun.sleep(10_000);
  const b = await rssOf(again.proc.pid);
  await again.stop();
  await Bun.$`rm -rf ${first.dataDir}`.quiet();
  rows.push(`| first start (the PGlite database is created in a short-lived child) | ${a.rss.toFixed(0)} MB | ${a.anon.toFixed(0)} MB |`);
  rows.push(`| restart on an existing data dir | ${b.rss.toFixed(0)} MB | ${b.anon.toFixed(0)} MB |`);
  return `## Panel memory, idle (PGlite)

The panel process (\`bun backend/cli.ts start\`, embedded PGlite, no apps), 10 s after start-up and
one request to /api/v1/health and the GUI. RSS includes ≈ 40 MB of the Bun binary mapped from
disk (shared, file-backed); "anonymous" is the panel's own memory. Target: below 120 MB.

| state | RSS | anonymous |
| --- | --- | --- |
${rows.join("\n")}`;
}
