/**
 * The databases feature end to end, through the public API with a token and through nginx: a
 * PostgreSQL and a Redis database are created and attached to an app whose Procfile `release:`
 * line creates its table; the deployed app writes and reads both; a backup to S3 verifies; rows
 * are deleted, the backup is restored into the same database, and the app sees them again (and
 * the same for a Redis key).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { engineFor } from "../../backend/adapters/databases/engine.ts";
import { postgresNames } from "../../backend/commands/databases.ts";
import { databasePassword, findDatabaseByName } from "../../backend/db/queries/databases.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN_URL = process.env.SWITCHYARD_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const RUN = `e${Math.random().toString(36).slice(2, 8)}`;
const ROOT = join(import.meta.dir, "..", "..");
const S3_KEY = "S3RVER";
const FINAL = new Set(["succeeded", "failed", "cancelled"]);

/** s3rver (an S3-protocol server) on a port from the OS, its buckets in a temp dir. */
async function startS3(bucket: string) {
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
      "--configure-bucket",
      bucket,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new Bun.S3Client({ endpoint, bucket, accessKeyId: S3_KEY, secretAccessKey: S3_KEY, region: "us-east-1" });
  const stop = async () => {
    proc.kill();
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        await client.exists("ping");
        return true;
      },
      { what: "s3rver to answer", timeoutMs: 60_000 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, client, stop };
}

/** The migration: creates the app's table (the app itself never does). */
const MIGRATE = `const sql = new Bun.SQL(process.env.DATABASE_URL);
await sql\`create table if not exists notes (id serial primary key, body text not null)\`;
await sql.close();
console.log("migrated: table notes is ready");
`;

/** Notes in PostgreSQL at /notes, keys in Redis at /kv/<key>, both from the env the panel gives it. */
const SERVER = `const version = await Bun.file("version.txt").text();
const sql = new Bun.SQL(process.env.DATABASE_URL, { max: 4 });
const redis = new Bun.RedisClient(process.env.REDIS_URL);
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/notes") {
      if (req.method === "POST") {
        await sql\`insert into notes (body) values (\${await req.text()})\`;
        return new Response("stored", { status: 201 });
      }
      if (req.method === "DELETE") {
        const gone = await sql\`delete from notes returning id\`;
        return new Response(String(gone.length));
      }
      const rows = await sql\`select body from notes order by id\`;
      return Response.json(rows.map((r) => r.body));
    }
    if (url.pathname.startsWith("/kv/")) {
      const key = decodeURIComponent(url.pathname.slice(4));
      if (req.method === "PUT") {
        await redis.set(key, await req.text());
        return new Response("stored", { status: 201 });
      }
      if (req.method === "DELETE") return new Response(String(await redis.del(key)));
      const value = await redis.get(key);
      return value === null ? new Response("missing", { status: 404 }) : new Response(value);
    }
    return new Response(version);
  },
});
process.on("SIGTERM", async () => { server.stop(); await sql.close(); redis.close(); process.exit(0); });
`;

describe(`databases end to end (${TEST_DB})`, () => {
  let api: TestApi;
  let token: string;
  let s3: Awaited<ReturnType<typeof startS3>> | null = null;
  const repos: TestRepo[] = [];
  const pgName = `e2e-pg-${RUN}`;
  const redisName = `e2e-kv-${RUN}`;
  const appName = `e2e-app-${RUN}`;
  const bucket = "e2e-backups";
  const NOTES = ["first note", "second note", "third note"];

  beforeAll(async () => {
    s3 = await startS3(bucket);
    api = await createTestApi({ background: true, config: { SWITCHYARD_DATABASE_ADMIN_URL: ADMIN_URL } });
    const owner = await api.setupOwner();
    const made = await api.request("POST", "/api/v1/tokens", { cookie: owner, body: { name: "end-to-end" } });
    expect(made.status).toBe(201);
    token = made.body.token;
  });

  afterAll(async () => {
    // Each step on its own: one that fails must not leave the others' leftovers behind.
    const steps: Array<() => Promise<unknown>> = [];
    if (api) {
      for (const name of [pgName, redisName]) {
        steps.push(async () => {
          const row = await findDatabaseByName(api.services.db, name);
          if (row)
            await engineFor(api.services, row.engine).drop({
              name,
              config: row.config,
              password: databasePassword(api.services.masterKey, row),
            });
        });
      }
      steps.push(() => api.close());
    }
    // The role and database of this run on the shared server, whatever the drop above did.
    steps.push(async () => {
      const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        const { role, database } = postgresNames(pgName);
        await admin.unsafe(`drop database if exists "${database}" with (force)`);
        await admin.unsafe(`drop role if exists "${role}"`);
      } finally {
        await admin.end();
      }
    });
    if (s3) steps.push(() => (s3 as NonNullable<typeof s3>).stop());
    for (const r of repos) steps.push(async () => r.cleanup());
    for (const step of steps) await step().catch((error) => console.error("cleanup:", error));
  });

  const call = (method: string, path: string, body?: unknown) => api.request(method, path, { token, origin: null, body });

  const through = (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${api.config.proxyPort}${path}`, { ...init, headers: { host: `${appName}.localhost`, ...init.headers } });

  async function logOf(jobId: string): Promise<string> {
    const res = await call("GET", `/api/v1/jobs/${jobId}/logs?download=1`);
    expect(res.status).toBe(200);
    return String(res.body);
  }

  /** Polls the job through the API until it ends; expects it to succeed, printing its log if it did not. */
  async function succeeded(res: { status: number; body: any }) {
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = res.body.job.id as string;
    const done = await waitFor(
      async () => {
        const now = await call("GET", `/api/v1/jobs/${id}`);
        return FINAL.has(now.body.job.status) ? now.body : null;
      },
      { what: `job ${id} (${res.body.job.kind}) to finish`, timeoutMs: 600_000, intervalMs: 250 },
    );
    if (done.job.status !== "succeeded") console.error(await logOf(id));
    expect({ status: done.job.status, error: done.job.error }).toEqual({ status: "succeeded", error: null });
    return done as { job: Record<string, any>; steps: Array<{ name: string; status: string }> };
  }

  const stepList = (steps: Array<{ name: string; status: string }>) => steps.map((s) => `${s.name}:${s.status}`);

  async function backups(name: string): Promise<Array<Record<string, any>>> {
    const res = await call("GET", `/api/v1/databases/${name}/backups`);
    expect(res.status).toBe(200);
    return res.body.backups;
  }

  async function notes(): Promise<string[]> {
    const res = await through("/notes");
    expect(res.status).toBe(200);
    return (await res.json()) as string[];
  }

  test("create, attach, deploy with a release command, use both through nginx, back up to S3, delete, restore, and see the data again", async () => {
    // Both databases, each provisioned by a job.
    for (const [name, engine] of [
      [pgName, "postgres"],
      [redisName, "redis"],
    ] as const) {
      const res = await call("POST", "/api/v1/databases", { name, engine });
      expect(res.body.database).toMatchObject({ name, engine, status: "provisioning" });
      const done = await succeeded(res);
      expect(stepList(done.steps)).toEqual(["check:succeeded", "provision:succeeded", "verify-connect:succeeded"]);
      expect((await call("GET", `/api/v1/databases/${name}`)).body.database.status).toBe("ready");
    }

    // An app whose Procfile has a release: line that creates its table through DATABASE_URL.
    const repo = await createRepo(
      bunApp("v1", { "server.ts": SERVER, "migrate.ts": MIGRATE, Procfile: "web: bun server.ts\nrelease: bun migrate.ts\n" }),
    );
    repos.push(repo);
    const created = await call("POST", "/api/v1/apps", {
      name: appName,
      repoUrl: repo.url,
      healthTimeoutSec: 30,
      watchSeconds: 1,
      drainSeconds: 1,
    });
    expect(created.status).toBe(201);

    const attachPg = await call("POST", `/api/v1/databases/${pgName}/attach`, { app: appName });
    expect(attachPg.status).toBe(200);
    expect(attachPg.body.attachment).toMatchObject({ app: appName, envVar: "DATABASE_URL" });
    const attachKv = await call("POST", `/api/v1/databases/${redisName}/attach`, { app: appName });
    expect(attachKv.status).toBe(200);
    expect(attachKv.body.attachment).toMatchObject({ app: appName, envVar: "REDIS_URL" });

    // The deploy runs the release command as its own step, before the app starts.
    const deploy = await succeeded(await call("POST", `/api/v1/apps/${appName}/deploy`, {}));
    const steps = stepList(deploy.steps);
    expect(steps).toContain("release-command:succeeded");
    expect(steps.indexOf("release-command:succeeded")).toBe(steps.indexOf("start:succeeded") - 1);
    const deployLog = await logOf(deploy.job.id);
    expect(deployLog).toContain("Release command: bun migrate.ts (Procfile release:).");
    expect(deployLog).toContain("$ bun migrate.ts");
    expect(deployLog).toContain("migrated: table notes is ready");
    const releaseRun = await call("GET", `/api/v1/apps/${appName}/release-command`);
    expect(releaseRun.body).toMatchObject({ command: "bun migrate.ts", lastRun: { status: "succeeded", jobId: deploy.job.id } });

    // The app writes and reads both databases through nginx (the table is the release command's).
    expect(await notes()).toEqual([]);
    for (const body of NOTES) expect((await through("/notes", { method: "POST", body })).status).toBe(201);
    expect(await notes()).toEqual(NOTES);
    expect((await through("/kv/greeting", { method: "PUT", body: "hello from redis" })).status).toBe(201);
    expect(await (await through("/kv/greeting")).text()).toBe("hello from redis");

    // An S3 destination, chosen for both databases' backups.
    const dest = await call("POST", "/api/v1/backup-destinations", {
      kind: "s3",
      name: `s3-${RUN}`,
      endpoint: s3?.endpoint,
      bucket,
      prefix: `run-${RUN}`,
      accessKeyId: S3_KEY,
      secretAccessKey: S3_KEY,
    });
    expect(dest.status, JSON.stringify(dest.body)).toBe(201);
    const destinationId = dest.body.destination.id as string;
    for (const name of [pgName, redisName]) {
      const schedule = await call("PUT", `/api/v1/databases/${name}/schedule`, {
        cron: null,
        keep: 5,
        keepDays: 30,
        destination: destinationId,
      });
      expect(schedule.status, JSON.stringify(schedule.body)).toBe(200);
      expect(schedule.body.schedule).toMatchObject({ destinationId, keep: 5, keepDays: 30 });
    }

    // PostgreSQL: backed up now to S3, verified by a restore into a scratch database.
    const pgBackupJob = await succeeded(await call("POST", `/api/v1/databases/${pgName}/backups`));
    const pgBackup = (await backups(pgName)).find((b) => b.jobId === pgBackupJob.job.id);
    expect(pgBackup).toMatchObject({ kind: "manual", status: "succeeded", verified: "verified", good: true, error: null });
    expect(pgBackup?.destination?.id).toBe(destinationId);
    expect(pgBackup?.location).toStartWith(`s3://${bucket}/run-${RUN}/${pgName}/`);
    expect(pgBackup?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(pgBackup?.details.source.tables["public.notes"]).toBe(NOTES.length);
    expect(pgBackup?.details.restored.tables["public.notes"]).toBe(NOTES.length);
    expect(await s3?.client.file(String(pgBackup?.location).replace(`s3://${bucket}/`, "")).exists()).toBe(true);

    // The rows are deleted through the app, then the backup is restored into the same database.
    expect(await (await through("/notes", { method: "DELETE" })).text()).toBe(String(NOTES.length));
    expect(await notes()).toEqual([]);
    const pgRestore = await succeeded(
      await call("POST", `/api/v1/databases/${pgName}/backups/${pgBackup?.id}/restore`, { target: "same" }),
    );
    expect(stepList(pgRestore.steps)).toEqual([
      "safety-backup:succeeded",
      "stop-apps:succeeded",
      "restore:succeeded",
      "start-apps:succeeded",
    ]);
    expect(pgRestore.job.result).toMatchObject({ backupId: pgBackup?.id, appsRestarted: [appName] });
    const pgSafety = (await backups(pgName)).find((b) => b.id === pgRestore.job.result.safetyBackupId);
    expect(pgSafety).toMatchObject({ kind: "safety", good: true });
    expect(pgSafety?.details.source.tables["public.notes"]).toBe(0);
    // The app, started again, sees the rows again through nginx.
    expect(
      await waitFor(async () => (await through("/")).status === 200, { what: "the app to answer after the restore", timeoutMs: 60_000 }),
    ).toBe(true);
    expect(await notes()).toEqual(NOTES);

    // Redis: the same, with the key.
    const kvBackupJob = await succeeded(await call("POST", `/api/v1/databases/${redisName}/backups`));
    const kvBackup = (await backups(redisName)).find((b) => b.jobId === kvBackupJob.job.id);
    expect(kvBackup).toMatchObject({ kind: "manual", status: "succeeded", verified: "verified", good: true, error: null });
    expect(kvBackup?.destination?.id).toBe(destinationId);
    expect(kvBackup?.location).toStartWith(`s3://${bucket}/run-${RUN}/${redisName}/`);
    expect(kvBackup?.details.restored.keys).toBe(1);
    expect(await (await through("/kv/greeting", { method: "DELETE" })).text()).toBe("1");
    expect((await through("/kv/greeting")).status).toBe(404);
    const kvRestore = await succeeded(
      await call("POST", `/api/v1/databases/${redisName}/backups/${kvBackup?.id}/restore`, { target: "same" }),
    );
    expect(stepList(kvRestore.steps)).toEqual([
      "safety-backup:succeeded",
      "stop-apps:succeeded",
      "restore:succeeded",
      "start-apps:succeeded",
    ]);
    expect(kvRestore.job.result).toMatchObject({ backupId: kvBackup?.id, appsRestarted: [appName] });
    const kvSafety = (await backups(redisName)).find((b) => b.id === kvRestore.job.result.safetyBackupId);
    expect(kvSafety).toMatchObject({ kind: "safety", good: true });
    expect(
      await waitFor(async () => (await through("/")).status === 200, { what: "the app to answer after the restore", timeoutMs: 60_000 }),
    ).toBe(true);
    expect(await (await through("/kv/greeting")).text()).toBe("hello from redis");
    // The PostgreSQL rows are untouched by the Redis restore.
    expect(await notes()).toEqual(NOTES);
  });
});
