import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { engineFor } from "../../backend/adapters/databases/engine.ts";
import { openDatabase } from "../../backend/db/client.ts";
import { destinationSecret, findDestinationByName } from "../../backend/db/queries/backups.ts";
import { databasePassword, findDatabaseByName } from "../../backend/db/queries/databases.ts";
import { queueDueBackups } from "../../backend/jobs/backup-scheduler.ts";
import { TEST_DB, withDatabase } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { freePort } from "../helpers/ports.ts";
import { readSse } from "../helpers/sse.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN_URL = process.env.SWITCHYARD_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const RUN = `b${Math.random().toString(36).slice(2, 8)}`;
const ROOT = join(import.meta.dir, "..", "..");
const S3_KEY = "S3RVER";

/** s3rver (an S3-protocol server) on a port from the OS, its buckets in a temp dir. */
async function startS3(buckets: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "sy-s3-"));
  const port = freePort();
  const proc = Bun.spawn(
    [
      process.execPath,
      join(ROOT, "node_modules", "s3rver", "bin", "s3rver.js"),
      "-d",
      dir,
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "--silent",
      ...buckets.flatMap((b) => ["--configure-bucket", b]),
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new Bun.S3Client({ endpoint, bucket: buckets[0], accessKeyId: S3_KEY, secretAccessKey: S3_KEY, region: "us-east-1" });
  await waitFor(
    async () => {
      await client.exists("ping");
      return true;
    },
    { what: "s3rver to answer", timeoutMs: 60_000 },
  );
  return {
    endpoint,
    dir,
    client: (bucket: string) => new Bun.S3Client({ endpoint, bucket, accessKeyId: S3_KEY, secretAccessKey: S3_KEY, region: "us-east-1" }),
    stop: async () => {
      proc.kill();
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe(`backups proven by a restore (${TEST_DB})`, () => {
  let api: TestApi;
  let owner: string;
  let s3: Awaited<ReturnType<typeof startS3>>;
  let admin: postgres.Sql;
  const pgName = `bk-${RUN}`;
  const copyName = `bk-${RUN}-copy`;
  const redisName = `kv-${RUN}`;
  const appName = `reader-${RUN}`;
  const repos: TestRepo[] = [];
  let destinationId: string;

  beforeAll(async () => {
    s3 = await startS3(["backups", "doomed"]);
    admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
    api = await createTestApi({ background: true, config: { SWITCHYARD_DATABASE_ADMIN_URL: ADMIN_URL } });
    owner = await api.setupOwner();
  });

  afterAll(async () => {
    for (const name of [copyName, pgName, redisName]) {
      const res = await api.request("DELETE", `/api/v1/databases/${name}`, { cookie: owner, body: { confirm: name } }).catch(() => null);
      if (res?.status === 202) await api.services.orchestrator.waitFor(res.body.job.id, 300_000).catch(() => {});
    }
    // Whatever a failed test left behind on the shared server.
    for (const name of [copyName, pgName]) {
      const id = `sy_${name.replaceAll("-", "_")}`;
      await admin.unsafe(`drop database if exists "${id}" with (force)`).catch(() => {});
      await admin.unsafe(`drop role if exists "${id}"`).catch(() => {});
    }
    // A Redis instance runs on its own (daemonized): it must not outlive a failed test.
    const left = await findDatabaseByName(api.services.db, redisName).catch(() => null);
    if (left) {
      await engineFor(api.services, "redis")
        .drop({ name: redisName, config: left.config, password: databasePassword(api.services.masterKey, left) })
        .catch(() => {});
    }
    await admin.end();
    await api?.close();
    await s3?.stop();
    for (const r of repos) r.cleanup();
  });

  async function jobDone(res: { status: number; body: { job: { id: string } } }, expected: "succeeded" | "failed" = "succeeded") {
    expect(res.status).toBe(202);
    const job = await api.services.orchestrator.waitFor(res.body.job.id, 600_000);
    if (job.status !== expected) {
      const log = await api.request("GET", `/api/v1/jobs/${job.id}/logs`, { cookie: owner });
      console.error((log.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n"));
    }
    expect(job.status).toBe(expected);
    return job;
  }

  async function createDatabase(name: string, engine: "postgres" | "redis") {
    await jobDone(await api.request("POST", "/api/v1/databases", { cookie: owner, body: { name, engine } }));
    const creds = await api.request("POST", `/api/v1/databases/${name}/credentials`, { cookie: owner });
    expect(creds.status).toBe(200);
    return creds.body.url as string;
  }

  async function backups(name: string) {
    const res = await api.request("GET", `/api/v1/databases/${name}/backups`, { cookie: owner });
    expect(res.status).toBe(200);
    return res.body.backups as Array<Record<string, any>>;
  }

  async function rows(url: string): Promise<number> {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from items`;
      return row?.n ?? -1;
    } finally {
      await sql.end();
    }
  }

  let pgUrl: string;
  let firstBackup: Record<string, any>;

  test("an S3 destination is checked when created: bad keys, a missing bucket and a dead endpoint are refused naming the field", async () => {
    const base = { kind: "s3", name: "s3", endpoint: s3.endpoint, bucket: "backups", accessKeyId: S3_KEY, secretAccessKey: S3_KEY };
    const badKey = await api.request("POST", "/api/v1/backup-destinations", { cookie: owner, body: { ...base, accessKeyId: "WRONG" } });
    expect(badKey.status).toBe(400);
    expect(badKey.body.error.message).toContain("accessKeyId");
    const noBucket = await api.request("POST", "/api/v1/backup-destinations", {
      cookie: owner,
      body: { ...base, bucket: "no-such-bucket" },
    });
    expect(noBucket.status).toBe(400);
    expect(noBucket.body.error.message).toContain("bucket");
    const dead = await api.request("POST", "/api/v1/backup-destinations", {
      cookie: owner,
      body: { ...base, endpoint: `http://127.0.0.1:${freePort()}` },
    });
    expect(dead.status).toBe(400);
    expect(dead.body.error.message).toContain("endpoint");
    const made = await api.request("POST", "/api/v1/backup-destinations", { cookie: owner, body: { ...base, prefix: `run-${RUN}` } });
    expect(made.status).toBe(201);
    destinationId = made.body.destination.id;
    expect(JSON.stringify(made.body)).not.toContain(S3_KEY);
    const list = await api.request("GET", "/api/v1/backup-destinations", { cookie: owner });
    expect(JSON.stringify(list.body)).not.toContain(S3_KEY);
    expect(list.body.destinations.map((d: { name: string }) => d.name)).toEqual(["s3"]);
  });

  test("a schedule needs a valid cron expression; the field is named", async () => {
    pgUrl = await createDatabase(pgName, "postgres");
    for (const cron of ["61 * * * *", "* * * * * *", "bogus", "0 0 31 2 *"]) {
      const res = await api.request("PUT", `/api/v1/databases/${pgName}/schedule`, {
        cookie: owner,
        body: { cron, keep: 2, keepDays: 30, destination: destinationId },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toStartWith("cron");
    }
    const unknown = await api.request("PUT", `/api/v1/databases/${pgName}/schedule`, {
      cookie: owner,
      body: { cron: "0 3 * * *", keep: 2, keepDays: 30, destination: crypto.randomUUID() },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain("destination");
    const ok = await api.request("PUT", `/api/v1/databases/${pgName}/schedule`, {
      cookie: owner,
      body: { cron: "0 3 * * *", keep: 2, keepDays: 30, destination: destinationId },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.schedule).toMatchObject({ cron: "0 3 * * *", keep: 2, keepDays: 30, destinationId });
    expect(ok.body.schedule.next).toMatch(/T03:00:00/);
    const inUse = await api.request("DELETE", `/api/v1/backup-destinations/${destinationId}`, { cookie: owner });
    expect(inUse.status).toBe(409);
  });

  test("a PostgreSQL backup to S3 verifies by a restore into a scratch database, with size, checksum and counts recorded", async () => {
    const sql = postgres(pgUrl, { max: 1, onnotice: () => {} });
    await sql`create table items (id serial primary key, body text not null)`;
    await sql`insert into items (body) select 'item ' || g from generate_series(1, 100) g`;
    await sql`create table empty_one (id int)`;
    await sql.end();
    await jobDone(await api.request("POST", `/api/v1/databases/${pgName}/backups`, { cookie: owner }));
    const [b] = await backups(pgName);
    expect(b).toMatchObject({ status: "succeeded", verified: "verified", good: true, kind: "manual", error: null });
    expect(b?.destination?.id).toBe(destinationId);
    expect(b?.location).toStartWith(`s3://backups/run-${RUN}/${pgName}/`);
    expect(b?.sizeBytes).toBeGreaterThan(0);
    expect(b?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(b?.details.source.tables).toEqual({ "public.items": 100, "public.empty_one": 0 });
    expect(b?.details.restored.tables).toEqual({ "public.items": 100, "public.empty_one": 0 });
    // The object in the bucket is the file that was hashed.
    const key = String(b?.location).replace("s3://backups/", "");
    const stored = new Bun.CryptoHasher("sha256").update(await s3.client("backups").file(key).arrayBuffer()).digest("hex");
    expect(stored).toBe(b?.sha256);
    // No scratch database is left behind.
    const left =
      await admin`select datname from pg_database where datname like 'sy_verify_%' and datname not in (select datname from pg_stat_activity)`;
    expect(left.length).toBe(0);
    firstBackup = b as Record<string, any>;
  });

  test("rows deleted, then the backup restored into the same database: the rows are back, after a safety backup", async () => {
    const sql = postgres(pgUrl, { max: 1, onnotice: () => {} });
    await sql`delete from items where id > 10`;
    await sql.end();
    expect(await rows(pgUrl)).toBe(10);
    await jobDone(
      await api.request("POST", `/api/v1/databases/${pgName}/backups/${firstBackup.id}/restore`, {
        cookie: owner,
        body: { target: "same" },
      }),
    );
    expect(await rows(pgUrl)).toBe(100);
    const all = await backups(pgName);
    const safety = all.find((b) => b.kind === "safety");
    expect(safety).toMatchObject({ good: true });
    expect(safety?.details.source.tables["public.items"]).toBe(10);
  });

  test("restore into a new database", async () => {
    const bad = await api.request("POST", `/api/v1/databases/${pgName}/backups/${firstBackup.id}/restore`, {
      cookie: owner,
      body: { target: "new" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("name");
    await jobDone(
      await api.request("POST", `/api/v1/databases/${pgName}/backups/${firstBackup.id}/restore`, {
        cookie: owner,
        body: { target: "new", name: copyName },
      }),
    );
    const creds = await api.request("POST", `/api/v1/databases/${copyName}/credentials`, { cookie: owner });
    expect(creds.status).toBe(200);
    expect(await rows(creds.body.url)).toBe(100);
  });

  test("a restore into the same database stops the attached app meanwhile and starts it again; the app sees the rows", async () => {
    const repo = await createRepo({
      "package.json": JSON.stringify({ name: "reader", private: true, scripts: { start: "bun server.ts" } }),
      "server.ts": `const sql = new Bun.SQL(process.env.DATABASE_URL, { max: 2 });
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch() {
    const [row] = await sql\`select count(*)::int as n from items\`;
    return new Response(String(row.n));
  },
});
process.on("SIGTERM", async () => { server.stop(); await sql.close(); process.exit(0); });
`,
    });
    repos.push(repo);
    expect((await api.request("POST", "/api/v1/apps", { cookie: owner, body: { name: appName, repoUrl: repo.url } })).status).toBe(201);
    expect((await api.request("POST", `/api/v1/databases/${pgName}/attach`, { cookie: owner, body: { app: appName } })).status).toBe(200);
    await jobDone(await api.request("POST", `/api/v1/apps/${appName}/deploy`, { cookie: owner, body: {} }));
    const through = () => fetch(`http://127.0.0.1:${api.config.proxyPort}/`, { headers: { host: `${appName}.localhost` } });
    expect(await (await through()).text()).toBe("100");
    const sql = postgres(pgUrl, { max: 1, onnotice: () => {} });
    await sql`delete from items where id > 5`;
    await sql.end();
    expect(await (await through()).text()).toBe("5");
    const job = await jobDone(
      await api.request("POST", `/api/v1/databases/${pgName}/backups/${firstBackup.id}/restore`, {
        cookie: owner,
        body: { target: "same" },
      }),
    );
    expect(job.result).toMatchObject({ appsRestarted: [appName] });
    const log = await api.request("GET", `/api/v1/jobs/${job.id}/logs`, { cookie: owner });
    const text = (log.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n");
    expect(text).toContain(`Stopping ${appName}`);
    expect(text).toContain(`Starting ${appName}`);
    // The app's own stop and restart ran as its jobs, in that order, around the restore.
    const jobs = await api.request("GET", `/api/v1/apps/${appName}/jobs`, { cookie: owner });
    expect(jobs.status).toBe(200);
    const kinds = (jobs.body.jobs as Array<{ kind: string; status: string }>).map((j) => `${j.kind}:${j.status}`);
    expect(kinds.slice(0, 2)).toEqual(["restart:succeeded", "stop:succeeded"]);
    expect(await (await through()).text()).toBe("100");
    expect((await api.request("POST", `/api/v1/databases/${pgName}/detach`, { cookie: owner, body: { app: appName } })).status).toBe(200);
  });

  test("retention keeps the newest backups by count and removes the others' files", async () => {
    for (let i = 0; i < 3; i++) await jobDone(await api.request("POST", `/api/v1/databases/${pgName}/backups`, { cookie: owner }));
    const all = await backups(pgName);
    const good = all.filter((b) => b.good);
    expect(good.length).toBe(2);
    expect(
      await s3
        .client("backups")
        .file((firstBackup.location as string).replace("s3://backups/", ""))
        .exists(),
    ).toBe(false);
    for (const b of good)
      expect(
        await s3
          .client("backups")
          .file((b.location as string).replace("s3://backups/", ""))
          .exists(),
      ).toBe(true);
  });

  test("a due schedule queues one backup, and not a second while it is pending or after it ran", async () => {
    const res = await api.request("PUT", `/api/v1/databases/${pgName}/schedule`, {
      cookie: owner,
      body: { cron: "* * * * *", keep: 2, keepDays: 30, destination: destinationId },
    });
    expect(res.status).toBe(200);
    const later = new Date(Date.now() + 120_000);
    expect(await queueDueBackups(api.services, later)).toBe(1);
    expect(await queueDueBackups(api.services, later)).toBe(0);
    const job = await waitFor(
      async () => {
        const list = await backups(pgName);
        return list.find((b) => b.kind === "scheduled" && b.status !== "running" && b.verified !== "pending");
      },
      { what: "the scheduled backup", timeoutMs: 300_000, intervalMs: 250 },
    );
    expect(job.good).toBe(true);
    // The run is recorded: the same moment is not due again.
    expect(await queueDueBackups(api.services, new Date(Date.parse(job.startedAt) + 1000))).toBe(0);
    await api.request("PUT", `/api/v1/databases/${pgName}/schedule`, {
      cookie: owner,
      body: { cron: null, keep: 2, keepDays: 30, destination: destinationId },
    });
  });

  test("the CLI lists, backs up and restores through the API with a token", async () => {
    const token = (await api.request("POST", "/api/v1/tokens", { cookie: owner, body: { name: "cli" } })).body.token as string;
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => api.app.fetch(req) });
    const dataDir = mkdtempSync(join(tmpdir(), "sy-cli-"));
    const cli = async (...args: string[]) => {
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        SWITCHYARD_DATA_DIR: dataDir,
        SWITCHYARD_URL: `http://127.0.0.1:${server.port}`,
        SWITCHYARD_TOKEN: token,
        SWITCHYARD_PUBLIC_URL: "http://localhost:3000",
      };
      delete env.DATABASE_URL;
      const proc = Bun.spawn([process.execPath, join(ROOT, "backend", "cli.ts"), ...args], { env, stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      return { out, err, code };
    };
    try {
      const list = await cli("db", "list");
      expect(list).toMatchObject({ code: 0, err: "" });
      expect(list.out).toContain(pgName);
      const backup = await cli("db", "backup", pgName);
      expect(backup.err).toBe("");
      expect(backup.code).toBe(0);
      expect(backup.out).toContain("Verified in");
      const id = /Backup ([0-9a-f-]{36}) verified/.exec(backup.out)?.[1] as string;
      expect(id).toBeDefined();
      const sql = postgres(pgUrl, { max: 1, onnotice: () => {} });
      await sql`delete from items`;
      await sql.end();
      const restore = await cli("db", "restore", pgName, id);
      expect(restore).toMatchObject({ code: 0, err: "" });
      expect(await rows(pgUrl)).toBe(100);
      const bad = await cli("db", "restore", pgName, crypto.randomUUID());
      expect(bad.code).toBe(2);
      expect(bad.err).toContain("Backup not found");
    } finally {
      server.stop(true);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("a destination that refuses: the backup is red and a backup.failed event arrives", async () => {
    const made = await api.request("POST", "/api/v1/backup-destinations", {
      cookie: owner,
      body: { kind: "s3", name: "doomed", endpoint: s3.endpoint, bucket: "doomed", accessKeyId: S3_KEY, secretAccessKey: S3_KEY },
    });
    expect(made.status).toBe(201);
    // The bucket goes away after the check: every write is refused from now on.
    rmSync(join(s3.dir, "doomed"), { recursive: true, force: true });
    expect(existsSync(join(s3.dir, "doomed"))).toBe(false);
    const put = await api.request("PUT", `/api/v1/databases/${pgName}/schedule`, {
      cookie: owner,
      body: { cron: null, keep: 2, keepDays: 30, destination: made.body.destination.id },
    });
    expect(put.status).toBe(200);
    const stream = await api.app.fetch(
      new Request("http://localhost:3000/api/v1/events", { headers: { cookie: owner, accept: "text/event-stream" } }),
    );
    expect(stream.status).toBe(200);
    let event: Record<string, any> | null = null;
    const reading = readSse(stream.body as ReadableStream<Uint8Array>, (e) => {
      if (e.event !== "backup.failed") return false;
      event = JSON.parse(e.data);
      return true;
    });
    const job = await jobDone(await api.request("POST", `/api/v1/databases/${pgName}/backups`, { cookie: owner }), "failed");
    await reading;
    const [b] = await backups(pgName);
    expect(b).toMatchObject({ status: "failed", good: false });
    expect(b?.error).toContain("bucket");
    expect(event).toMatchObject({ type: "backup.failed", backupId: b?.id, database: pgName, kind: "manual" });
    expect(job.error).toContain("bucket");
    const red = await api.request("GET", "/api/v1/backups?failed=1", { cookie: owner });
    expect(red.body.backups.map((x: { id: string }) => x.id)).toContain(b?.id);
    await api.request("PUT", `/api/v1/databases/${pgName}/schedule`, {
      cookie: owner,
      body: { cron: null, keep: 2, keepDays: 30, destination: destinationId },
    });
  });

  test("Redis: an RDB snapshot verifies by DBSIZE in a scratch server, and a restore brings deleted keys back", async () => {
    const url = await createDatabase(redisName, "redis");
    const client = new Bun.RedisClient(url);
    for (let i = 0; i < 50; i++) await client.set(`key:${i}`, `value ${i}`);
    await client.send("HSET", ["a-hash", "f", "v"]);
    await jobDone(await api.request("POST", `/api/v1/databases/${redisName}/backups`, { cookie: owner }));
    const [b] = await backups(redisName);
    expect(b).toMatchObject({ status: "succeeded", verified: "verified", good: true, destination: null });
    expect(b?.details.restored.keys).toBe(51);
    for (let i = 0; i < 20; i++) await client.del(`key:${i}`);
    expect(Number(await client.send("DBSIZE", []))).toBe(31);
    client.close();
    await jobDone(
      await api.request("POST", `/api/v1/databases/${redisName}/backups/${b?.id}/restore`, { cookie: owner, body: { target: "same" } }),
    );
    const after = new Bun.RedisClient(url);
    expect(Number(await after.send("DBSIZE", []))).toBe(51);
    expect(await after.get("key:3")).toBe("value 3");
    after.close();
  });

  test("the panel's own database: backed up, verified by a restore into a scratch, and restored by the CLI", async () => {
    const started = await api.request("POST", "/api/v1/system/backups", { cookie: owner, body: {} });
    expect(started.status).toBe(202);
    const done = await waitFor(
      async () => {
        const list = await api.request("GET", "/api/v1/system/backups", { cookie: owner });
        const b = (list.body.backups as Array<Record<string, any>>).find((x) => x.id === started.body.backup.id);
        return b && b.verified !== "pending" ? b : null;
      },
      { what: "the panel backup", timeoutMs: 300_000, intervalMs: 250 },
    );
    expect(done).toMatchObject({ engine: "panel", status: "succeeded", verified: "verified", good: true });
    expect(done.details.restored.tables["public.users"]).toBe(1);
    const file = done.location as string;
    expect(existsSync(file)).toBe(true);

    // Disaster recovery: the file restored by `switchyard restore-panel` on a fresh data dir.
    const dataDir = mkdtempSync(join(tmpdir(), "sy-restore-"));
    const target = TEST_DB === "postgres" ? `sy_restore_${RUN}` : null;
    if (target) await admin.unsafe(`create database ${target}`);
    try {
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        SWITCHYARD_DATA_DIR: dataDir,
        PORT: String(freePort()),
        SWITCHYARD_LOG_LEVEL: "silent",
        DATABASE_URL: target ? withDatabase(ADMIN_URL, target) : "",
      };
      if (!target) delete env.DATABASE_URL;
      const proc = Bun.spawn([process.execPath, join(ROOT, "backend", "cli.ts"), "restore-panel", file], {
        env,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      expect(err).toBe("");
      expect(code).toBe(0);
      expect(out).toContain("Restored the panel's database");
      const restored = await openDatabase({
        url: target ? withDatabase(ADMIN_URL, target) : null,
        pgliteDir: target ? null : join(dataDir, "pg"),
      });
      try {
        // A newer panel starts on it: its migrations apply, and the old master key reads its secrets.
        await restored.migrate();
        const users = (await restored.db.execute(sql`select email from users`)) as unknown;
        const list = Array.isArray(users) ? users : (users as { rows: unknown[] }).rows;
        expect(list).toEqual([{ email: "owner@example.com" }]);
        const s3Row = await findDestinationByName(restored.db, "s3");
        expect(s3Row && destinationSecret(api.services.masterKey, s3Row)).toEqual({ accessKeyId: S3_KEY, secretAccessKey: S3_KEY });
      } finally {
        await restored.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      if (target) await admin.unsafe(`drop database if exists ${target} with (force)`);
    }
  });
});
