/**
 * Backup and verification of a ~100 MB PostgreSQL database by a real panel process (embedded
 * database), to the data dir and to an S3-compatible server (s3rver), with the panel's resident
 * memory sampled from /proc while each backup job runs: the dump streams and is never held in
 * memory. `bun tests/bench/backup.ts` measures and rewrites its section of docs/benchmarks.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { writeSections } from "./file.ts";
import { rssOf } from "./stats.ts";

const ADMIN_URL = process.env.SWITCHYARD_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const SIZES = [150_000, 450_000, 1_350_000];
const MB = 1024 * 1024;
const fmt = (x: number) => (x < 10 ? x.toFixed(1) : Math.round(x).toString());

async function startS3(dir: string) {
  const port = freePort();
  const proc = Bun.spawn(
    [
      process.execPath,
      join(import.meta.dir, "..", "..", "node_modules", "s3rver", "bin", "s3rver.js"),
      "-d",
      dir,
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "--silent",
      "--configure-bucket",
      "bench",
    ],
    { stdout: "ignore", stderr: "ignore" },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new Bun.S3Client({ endpoint, bucket: "bench", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
  for (let i = 0; i < 600; i++) {
    if (
      await client.exists("x").then(
        () => true,
        () => false,
      )
    )
      break;
    await Bun.sleep(100);
  }
  return { endpoint, stop: () => proc.kill() };
}

export async function backupBench(): Promise<string> {
  const s3dir = mkdtempSync(join(tmpdir(), "sy-bench-s3-"));
  const s3 = await startS3(s3dir);
  const panel = await startPanelProcess({ SWITCHYARD_DATABASE_ADMIN_URL: ADMIN_URL, SWITCHYARD_BCRYPT_COST: "4" });
  const origin = panel.url;
  let token = "";
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${panel.url}${path}`, {
      method,
      headers: { "content-type": "application/json", origin, ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, headers: res.headers, body: (await res.json().catch(() => null)) as any };
  };
  /** Waits for the job, sampling the panel's resident memory meanwhile; answers the peak (MB). */
  const runJob = async (jobId: string): Promise<{ peak: number; job: any }> => {
    let peak = 0;
    for (;;) {
      peak = Math.max(peak, (await rssOf(panel.proc.pid)).rss);
      const { body } = await call("GET", `/api/v1/jobs/${jobId}`);
      if (body.job.status !== "queued" && body.job.status !== "running") return { peak, job: body.job };
      await Bun.sleep(25);
    }
  };
  const name = `bench-${Math.random().toString(36).slice(2, 8)}`;
  const rows: string[] = [];
  const provisioning: Array<{ engine: string; ms: number }> = [];
  try {
    const setup = await call("POST", "/api/v1/setup", {
      email: "o@example.com",
      password: "bench-password-1",
      name: "O",
      code: panel.setupCode,
    });
    const cookie = (setup.headers.getSetCookie()[0] ?? "").split(";")[0] as string;
    token = (await call("POST", "/api/v1/tokens", { name: "bench" }, { cookie })).body.token;
    // Provisioning: from the API call to the job's end (checks, creation, a connection with the app's URL).
    for (const engine of ["postgres", "redis"] as const) {
      for (let i = 0; i < 3; i++) {
        const probe = `${name}-${engine.slice(0, 2)}${i}`;
        const started = performance.now();
        const made = await call("POST", "/api/v1/databases", { name: probe, engine });
        const done = await runJob(made.body.job.id);
        const ms = performance.now() - started;
        if (done.job.status !== "succeeded") throw new Error(`provision ${engine} ${done.job.status}: ${done.job.error}`);
        provisioning.push({ engine, ms });
        const removed = await call("DELETE", `/api/v1/databases/${probe}`, { confirm: probe });
        if (removed.status === 202) await runJob(removed.body.job.id);
      }
    }
    const created = await call("POST", "/api/v1/databases", { name, engine: "postgres" });
    const provisioned = await runJob(created.body.job.id);
    if (provisioned.job.status !== "succeeded") throw new Error(`provision ${provisioned.job.status}: ${provisioned.job.error}`);
    const url = (await call("POST", `/api/v1/databases/${name}/credentials`)).body.url as string;
    const s3dest = await call("POST", "/api/v1/backup-destinations", {
      kind: "s3",
      name: "s3",
      endpoint: s3.endpoint,
      bucket: "bench",
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
    });
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql`create table events (id bigint primary key, kind text not null, payload text not null, at timestamptz not null default now())`;
    await sql`create index on events (kind)`;
    let filled = 0;
    for (const target of SIZES) {
      // Hash text compresses poorly, so the dump file is nearly as large as the data it holds.
      await sql.unsafe(
        `insert into events select g, 'kind-' || (g % 17), encode(sha512(g::text::bytea), 'base64') || encode(sha256((g * 7)::text::bytea), 'base64'), now() from generate_series(${filled + 1}, ${target}) g`,
      );
      filled = target;
      const [size] = await sql<{ n: string }[]>`select pg_database_size(current_database()) as n`;
      for (const [label, destination] of [
        ["data dir", null],
        ["S3 (s3rver)", s3dest.body.destination.id as string],
      ] as const) {
        await call("PUT", `/api/v1/databases/${name}/schedule`, { cron: null, keep: 5, keepDays: 30, destination });
        const idle = (await rssOf(panel.proc.pid)).rss;
        const started = performance.now();
        const res = await call("POST", `/api/v1/databases/${name}/backups`);
        const { peak, job } = await runJob(res.body.job.id);
        const total = performance.now() - started;
        if (job.status !== "succeeded") throw new Error(`backup ${job.status}: ${job.error}`);
        const [b] = (await call("GET", `/api/v1/databases/${name}/backups`)).body.backups;
        rows.push(
          `| ${fmt(Number(size?.n) / MB)} MB | ${label} | ${fmt(b.sizeBytes / MB)} MB | ${fmt(b.durationMs / 1000)} s | ${fmt(b.verifyMs / 1000)} s | ${fmt(total / 1000)} s | ${fmt(idle)} MB | ${fmt(peak)} MB |`,
        );
      }
    }
    await sql.end();
  } finally {
    const del = await call("DELETE", `/api/v1/databases/${name}`, { confirm: name }).catch(() => null);
    if (del?.status === 202) await runJob(del.body.job.id).catch(() => {});
    await panel.stop();
    s3.stop();
    rmSync(s3dir, { recursive: true, force: true });
  }
  return `## Database backups

A PostgreSQL database (one table with an index; its text is hashes, which compress poorly) backed up
by a real panel process (\`bun backend/cli.ts start\`, embedded database) through
\`POST /databases/:db/backups\`: \`pg_dump --format=custom\` streamed through sha256 to the
destination (to S3 by way of a spool file in the data dir, uploaded in 5 MB parts), then read back
and restored into a scratch database whose table counts are compared with the source at dump time.
The same database is measured at three sizes. *dump* and *verify* are the times the backup records;
*job* is from the request to the job's end (with retention). The panel's resident memory is read
from \`/proc\` every few tens of ms while the job runs. The dump is never held in memory (pg_dump and
pg_restore are child processes; the panel moves 64 KB chunks): to the data dir the peak stays the same
whatever the dump's size. To S3 it grows with the dump, more slowly than the dump (compare the
rows below): that is Bun's multipart upload from the spool file, which holds more than the two 5 MB
parts it is given.

| database | destination | dump file | dump | verify | job | panel before | panel peak during |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Provisioning, from \`POST /databases\` to the end of its job (checks, creating the role and database
or starting the Redis instance, and a connection with the URL apps get), ${provisioning.length / 2} runs per engine:

| engine | median | slowest |
| --- | --- | --- |
${["postgres", "redis"]
  .map((engine) => {
    const ms = provisioning
      .filter((p) => p.engine === engine)
      .map((p) => p.ms)
      .sort((a, b) => a - b);
    return `| ${engine} | ${Math.round(ms[Math.floor(ms.length / 2)] ?? 0)} ms | ${Math.round(ms.at(-1) ?? 0)} ms |`;
  })
  .join("\n")}`;
}

if (import.meta.main) {
  const text = await backupBench();
  console.log(text);
  writeSections(`\n${text}\n`);
  process.exit(0);
}
