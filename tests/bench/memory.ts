import postgres from "postgres";
import { postgresReachable, TEST_DATABASE_URL } from "../helpers/database.ts";
import { startPanelProcess } from "../helpers/panel-process.ts";
import { rssOf } from "./stats.ts";

/** Starts the panel, touches the API and the GUI, and reads its memory once it has idled 10 s. */
async function idle(env: Record<string, string>) {
  const panel = await startPanelProcess({ SWITCHYARD_METRICS: "on", ...env });
  await fetch(`${panel.url}/api/v1/health`);
  await fetch(`${panel.url}/`);
  await Bun.sleep(10_000);
  const m = await rssOf(panel.proc.pid);
  await panel.stop();
  return { ...m, dataDir: panel.dataDir };
}

/** The panel's resident memory once idle after start-up, on the embedded database and on Postgres. */
export async function memoryBench(): Promise<string> {
  const row = (what: string, m: { rss: number; anon: number }) => `| ${what} | ${m.rss.toFixed(0)} MB | ${m.anon.toFixed(0)} MB |`;
  const rows: string[] = [];
  const first = await idle({ SWITCHYARD_DATA_DIR: `/tmp/sy-bench-mem-${Date.now()}` });
  rows.push(row("PGlite, first start (the database is created in a short-lived child)", first));
  rows.push(row("PGlite, restart on an existing data dir", await idle({ SWITCHYARD_DATA_DIR: first.dataDir })));
  await Bun.$`rm -rf ${first.dataDir}`.quiet();
  if (await postgresReachable()) {
    const name = `sy_bench_${Date.now().toString(36)}`;
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    try {
      const url = new URL(TEST_DATABASE_URL);
      url.pathname = `/${name}`;
      const pg = await idle({ SWITCHYARD_DATA_DIR: `/tmp/sy-bench-mem-pg-${Date.now()}`, DATABASE_URL: url.toString() });
      rows.push(row("PostgreSQL server (`DATABASE_URL`): the panel alone", pg));
      await Bun.$`rm -rf ${pg.dataDir}`.quiet();
    } finally {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  }
  return `## Panel memory, idle

The panel process (\`bun backend/cli.ts start\`, no apps, request metrics and resource sampling on
as by default), 10 s after start-up and one request to /api/v1/health and the GUI. RSS includes
≈ 40 MB of the Bun binary mapped from disk (shared, file-backed); "anonymous" is the panel's own
memory. Target: at most 150 MB on PGlite and 80 MB on PostgreSQL. Embedded PGlite (Postgres
compiled to WebAssembly, in-process) accounts for ≈ 85 MB of it — the last row, on a PostgreSQL
server, is the panel alone. The panel's memory under traffic, with metrics on and off, is in
"Request ingestion: the panel's cost".

| database | RSS | anonymous |
| --- | --- | --- |
${rows.join("\n")}`;
}
