import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { engineFor } from "../../backend/adapters/databases/engine.ts";
import { PostgresEngine } from "../../backend/adapters/databases/postgres.ts";
import { postgresNames } from "../../backend/commands/databases.ts";
import { findBackup } from "../../backend/db/queries/backups.ts";
import { databasePassword, findDatabaseByName } from "../../backend/db/queries/databases.ts";
import { ensureDatabasesRunning, pollDatabaseStats } from "../../backend/jobs/database-stats.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { startLoad } from "../helpers/load.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN_URL = process.env.SWITCHYARD_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const RUN = Math.random()
  .toString(36)
  .slice(2, 8)
  .replace(/^[0-9]/, "x");

/** An app that keeps notes in PostgreSQL and counts visits in Redis, both from its env. */
const SERVER = `const version = await Bun.file("version.txt").text();
const sql = process.env.DATABASE_URL ? new Bun.SQL(process.env.DATABASE_URL, { max: 8 }) : null;
const redis = process.env.REDIS_URL ? new Bun.RedisClient(process.env.REDIS_URL) : null;
if (sql) await sql\`create table if not exists notes (id serial primary key, body text not null)\`;
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/pg" && req.method === "POST") {
      await sql\`insert into notes (body) values (\${await req.text()})\`;
      return new Response("stored");
    }
    if (url.pathname === "/pg") {
      const rows = await sql\`select body from notes order by id\`;
      return Response.json(rows.map((r) => r.body));
    }
    if (url.pathname === "/redis") return new Response(String(await redis.incr("visits")));
    if (url.pathname === "/both") {
      const [row] = await sql\`select count(*)::int as n from notes\`;
      await redis.incr("load");
      return new Response("ok " + row.n);
    }
    if (url.pathname === "/env") return Response.json({ db: Boolean(process.env.DATABASE_URL), redis: Boolean(process.env.REDIS_URL) });
    return new Response(version);
  },
});
process.on("SIGTERM", async () => { server.stop(); await sql?.close(); redis?.close(); process.exit(0); });
`;

describe(`databases (${TEST_DB})`, () => {
  let api: TestApi;
  let owner: string;
  let admin: postgres.Sql;
  const repos: TestRepo[] = [];
  const pgName = `pg-${RUN}`;
  const otherPg = `pg2-${RUN}`;
  const redisName = `kv-${RUN}`;
  const appName = `dbapp-${RUN}`;

  beforeAll(async () => {
    api = await createTestApi({ background: true, config: { SWITCHYARD_DATABASE_ADMIN_URL: ADMIN_URL } });
    owner = await api.setupOwner();
    admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  });

  afterAll(async () => {
    // Whatever a failed test left: the instances and the roles/databases of this run.
    for (const name of [pgName, otherPg, redisName]) {
      const row = await findDatabaseByName(api.services.db, name).catch(() => null);
      if (row)
        await engineFor(api.services, row.engine)
          .drop({ name, config: row.config, password: databasePassword(api.services.masterKey, row) })
          .catch(() => {});
    }
    for (const name of [pgName, otherPg]) {
      const { role, database } = postgresNames(name);
      await admin.unsafe(`drop database if exists "${database}" with (force)`).catch(() => {});
      await admin.unsafe(`drop role if exists "${role}"`).catch(() => {});
    }
    await admin.end();
    await api.close();
    for (const r of repos) r.cleanup();
  });

  async function addUser(email: string, role: string): Promise<string> {
    const res = await api.request("POST", "/api/v1/users", {
      cookie: owner,
      body: { email, name: email, password: "a-long-password-1", role },
    });
    expect(res.status).toBe(201);
    const login = await api.request("POST", "/api/v1/auth/login", { body: { email, password: "a-long-password-1" } });
    expect(login.status).toBe(200);
    return cookieFrom(login.headers);
  }

  async function finished(jobId: string) {
    await api.services.orchestrator.waitFor(jobId, 300_000);
    return (await api.request("GET", `/api/v1/jobs/${jobId}`, { cookie: owner })).body;
  }

  async function create(name: string, engine: string) {
    const res = await api.request("POST", "/api/v1/databases", { cookie: owner, body: { name, engine } });
    expect(res.status).toBe(202);
    expect(res.body.database).toMatchObject({ name, engine, status: "provisioning" });
    const done = await finished(res.body.job.id);
    expect({ status: done.job.status, error: done.job.error }).toEqual({ status: "succeeded", error: null });
    expect(done.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
      "check:succeeded",
      "provision:succeeded",
      "verify-connect:succeeded",
    ]);
    const row = await api.request("GET", `/api/v1/databases/${name}`, { cookie: owner });
    expect(row.body.database.status).toBe("ready");
    return res.body.job.id as string;
  }

  async function credentials(name: string, cookie = owner) {
    return api.request("POST", `/api/v1/databases/${name}/credentials`, { cookie });
  }

  const through = (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${api.config.proxyPort}${path}`, { ...init, headers: { host: `${appName}.localhost`, ...init.headers } });

  test("bad input is refused with a 4xx naming the field", async () => {
    const badName = await api.request("POST", "/api/v1/databases", { cookie: owner, body: { name: "Bad_Name", engine: "postgres" } });
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toContain("name");
    const badEngine = await api.request("POST", "/api/v1/databases", { cookie: owner, body: { name: `x-${RUN}`, engine: "mysql" } });
    expect(badEngine.status).toBe(400);
    expect(badEngine.body.error.message).toContain("engine");
    const missing = await api.request("GET", `/api/v1/databases/none-${RUN}`, { cookie: owner });
    expect(missing.status).toBe(404);
    const list = await api.request("GET", "/api/v1/databases", { cookie: owner });
    expect(list.status).toBe(200);
    expect(list.body.engines).toEqual([
      { engine: "postgres", available: true, reason: null },
      { engine: "redis", available: true, reason: null },
    ]);
  });

  test("without an admin URL, PostgreSQL is unavailable and the answer says how to enable it", async () => {
    const bare = await createTestApi();
    try {
      const cookie = await bare.setupOwner();
      const list = await bare.request("GET", "/api/v1/databases", { cookie });
      const pg = list.body.engines.find((e: { engine: string }) => e.engine === "postgres");
      expect(pg.available).toBe(false);
      expect(pg.reason).toContain("SWITCHYARD_DATABASE_ADMIN_URL");
      const res = await bare.request("POST", "/api/v1/databases", { cookie, body: { name: `no-${RUN}`, engine: "postgres" } });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("engine_unavailable");
      expect(res.body.error.message).toContain("--with-postgres");
    } finally {
      await bare.close();
    }
  });

  test("a postgres and a redis database are provisioned, attached to a deployed app that uses both through nginx", async () => {
    const provisionJob = await create(pgName, "postgres");
    await create(redisName, "redis");
    const logs = await api.request("GET", `/api/v1/jobs/${provisionJob}/logs`, { cookie: owner });
    const text = (logs.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n");
    expect(text).toContain(`creating role ${postgresNames(pgName).role}`);
    const pgRow = await findDatabaseByName(api.services.db, pgName);
    expect(text).not.toContain(databasePassword(api.services.masterKey, pgRow!));

    // The role is a plain login role, and its database is closed to everyone else.
    const { role, database } = postgresNames(pgName);
    const [r] = await admin`select rolsuper, rolcreatedb, rolcreaterole, rolconnlimit from pg_roles where rolname = ${role}`;
    expect(r).toMatchObject({ rolsuper: false, rolcreatedb: false, rolcreaterole: false });
    expect(r?.rolconnlimit).toBeGreaterThan(0);
    const [d] =
      await admin`select pg_get_userbyid(datdba) as owner, has_database_privilege('public', datname, 'CONNECT') as open from pg_database where datname = ${database}`;
    expect(d).toEqual({ owner: role, open: false });

    const r1 = await createRepo(bunApp("v1", { "server.ts": SERVER }));
    repos.push(r1);
    const created = await api.request("POST", "/api/v1/apps", {
      cookie: owner,
      body: { name: appName, repoUrl: r1.url, healthTimeoutSec: 30, watchSeconds: 1, drainSeconds: 2 },
    });
    expect(created.status).toBe(201);

    const attachPg = await api.request("POST", `/api/v1/databases/${pgName}/attach`, { cookie: owner, body: { app: appName } });
    expect(attachPg.status).toBe(200);
    expect(attachPg.body).toMatchObject({ attachment: { app: appName, envVar: "DATABASE_URL" }, deploy: { suggested: true } });
    const attachRedis = await api.request("POST", `/api/v1/databases/${redisName}/attach`, { cookie: owner, body: { app: appName } });
    expect(attachRedis.body.attachment.envVar).toBe("REDIS_URL");
    // The variables are secrets of the app, masked like any other.
    const env = await api.request("GET", `/api/v1/apps/${appName}/env`, { cookie: owner });
    expect(env.body.vars.filter((v: { key: string }) => ["DATABASE_URL", "REDIS_URL"].includes(v.key))).toEqual([
      { key: "DATABASE_URL", value: "••••••••", secret: true },
      { key: "REDIS_URL", value: "••••••••", secret: true },
    ]);
    // A taken variable name, or a bad one, is refused.
    const unknown = await api.request("POST", `/api/v1/databases/${otherPg}/attach`, { cookie: owner, body: { app: appName } });
    expect(unknown.status).toBe(404);
    const badVar = await api.request("POST", `/api/v1/databases/${pgName}/attach`, {
      cookie: owner,
      body: { app: appName, envVar: "1BAD" },
    });
    expect(badVar.status).toBe(400);
    expect(badVar.body.error.message).toContain("envVar");
    const twice = await api.request("POST", `/api/v1/databases/${redisName}/attach`, {
      cookie: owner,
      body: { app: appName, envVar: "DATABASE_URL" },
    });
    expect(twice.status).toBe(409);
    expect(twice.body.error.details).toEqual({ field: "envVar" });

    const deploy = await api.request("POST", `/api/v1/apps/${appName}/deploy`, { cookie: owner, body: {} });
    expect((await finished(deploy.body.job.id)).job.status).toBe("succeeded");
    expect((await through("/pg", { method: "POST", body: "first note" })).status).toBe(200);
    expect(await (await through("/pg")).json()).toEqual(["first note"]);
    expect(await (await through("/redis")).text()).toBe("1");
    expect(await (await through("/redis")).text()).toBe("2");

    const summary = (await api.request("GET", "/api/v1/databases", { cookie: owner })).body.databases;
    const pg = summary.find((s: { name: string }) => s.name === pgName);
    expect(pg.attachments.map((a: { app: string; envVar: string }) => [a.app, a.envVar])).toEqual([[appName, "DATABASE_URL"]]);

    // Size and connections, polled (here now rather than at the next minute).
    await pollDatabaseStats(api.services);
    const polled = await waitFor(
      async () => {
        const one = (await api.request("GET", `/api/v1/databases/${pgName}`, { cookie: owner })).body.database;
        return one.sizeBytes > 0 && one.polledAt ? one : null;
      },
      { timeoutMs: 90_000, what: "the database's size to be polled" },
    );
    expect(polled.connections).toBeGreaterThan(0);
    const kv = await waitFor(
      async () => {
        await pollDatabaseStats(api.services);
        const one = (await api.request("GET", `/api/v1/databases/${redisName}`, { cookie: owner })).body.database;
        return one.sizeBytes > 0 ? one : null;
      },
      { timeoutMs: 90_000, what: "the redis size to be polled" },
    );
    expect(kv.connections).toBeGreaterThan(0);
  });

  test("credentials: revealed to admins with an audit row, refused to deployers and viewers", async () => {
    const viewer = await addUser(`viewer-${RUN}@example.com`, "viewer");
    const deployer = await addUser(`deployer-${RUN}@example.com`, "deployer");
    expect((await credentials(pgName, viewer)).status).toBe(403);
    expect((await credentials(pgName, deployer)).status).toBe(403);
    const pg = await credentials(pgName);
    expect(pg.status).toBe(200);
    const { role, database } = postgresNames(pgName);
    const admin = new URL(ADMIN_URL);
    expect(pg.body).toMatchObject({ user: role, database, host: admin.hostname, port: Number(admin.port || 5432) });
    expect(pg.body.cli).toBe(`psql '${pg.body.url}'`);
    const psql = Bun.spawnSync(["psql", pg.body.url, "-tAc", "select current_user"]);
    expect(psql.stdout.toString().trim()).toBe(role);
    const kv = await credentials(redisName);
    expect(kv.body.url).toStartWith("redis://");
    const cli = Bun.spawnSync(["redis-cli", "-u", kv.body.url, "--no-auth-warning", "get", "visits"]);
    expect(cli.stdout.toString().trim()).toBe("2");
    const audit = await api.request("GET", "/api/v1/audit", { cookie: owner });
    const revealed = (audit.body.entries as Array<{ action: string; target: string }>).filter(
      (e) => e.action === "database.credentials_revealed",
    );
    expect(revealed.map((e) => e.target).sort(), JSON.stringify(revealed)).toEqual([`database:${redisName}`, `database:${pgName}`]);
  });

  test("a running redis instance is adopted at panel start; one that is gone is started again with its data", async () => {
    const row = await findDatabaseByName(api.services.db, redisName);
    const startFile = join(String(row?.config.dir), "redis.start");
    const pidOf = () => Number(readFileSync(startFile, "utf8").split(" ")[0]);
    const before = pidOf();
    await ensureDatabasesRunning(api.services);
    expect(pidOf()).toBe(before);
    process.kill(before, "SIGKILL");
    await waitFor(() => !existsSync(`/proc/${before}`), { what: "the redis-server to be gone" });
    await ensureDatabasesRunning(api.services);
    expect(pidOf()).not.toBe(before);
    const url = (await credentials(redisName)).body.url;
    expect(Bun.spawnSync(["redis-cli", "-u", url, "--no-auth-warning", "get", "visits"]).stdout.toString().trim()).toBe("2");
    // The app's client reconnects by itself.
    await waitFor(async () => (await through("/both")).status === 200, { timeoutMs: 30_000, what: "the app to reach redis again" });
  });

  test("an admin role with only CREATEDB and CREATEROLE (install.sh --with-postgres) provisions, rotates and drops", async () => {
    const adminRole = `sy_admin_${RUN}`;
    const name = `lim-${RUN}`;
    const password = "limited-admin-password";
    await admin.unsafe(`create role "${adminRole}" login createdb createrole password '${password}'`);
    const url = new URL(ADMIN_URL);
    url.username = adminRole;
    url.password = password;
    const engine = new PostgresEngine({ config: { databases: { adminUrl: url.toString() }, databaseUrl: null }, log: api.services.log });
    try {
      expect(await engine.availability()).toEqual({ available: true, reason: null });
      const target = {
        name,
        config: await engine.provision(name, "first-password-0123456789", () => {}),
        password: "first-password-0123456789",
      };
      await engine.ping(target);
      // A half-done provision is finished, not refused.
      await engine.provision(name, target.password, () => {});
      await engine.rotatePassword(target, "second-password-0123456789");
      expect((await engine.stats(target)).sizeBytes).toBeGreaterThan(0);
      await engine.drop(target);
      expect(await admin`select 1 from pg_roles where rolname = ${postgresNames(name).role}`).toHaveLength(0);
    } finally {
      await engine.close();
      await admin.unsafe(`drop database if exists "${postgresNames(name).database}" with (force)`);
      await admin.unsafe(`drop role if exists "${postgresNames(name).role}"`);
      await admin.unsafe(`drop role if exists "${adminRole}"`);
    }
  });

  test("another database's role cannot connect to this one", async () => {
    await create(otherPg, "postgres");
    const other = (await credentials(otherPg)).body;
    const mine = (await credentials(pgName)).body;
    const url = new URL(other.url);
    url.pathname = `/${mine.database}`;
    const intruder = postgres(url.toString(), { max: 1, onnotice: () => {}, connect_timeout: 10 });
    try {
      await expect(intruder`select 1`).rejects.toThrow(/permission denied|not permitted|privilege/i);
    } finally {
      await intruder.end();
    }
  });

  test("rotation redeploys the attached app with no failed request under load; the old passwords stop working", async () => {
    const before = { pg: (await credentials(pgName)).body, kv: (await credentials(redisName)).body };
    const [hashBefore] = await admin<
      { rolpassword: string }[]
    >`select rolpassword from pg_authid where rolname = ${postgresNames(pgName).role}`;
    const load = startLoad({ url: `http://127.0.0.1:${api.config.proxyPort}/both`, host: `${appName}.localhost`, concurrency: 4 });
    try {
      await waitFor(async () => (await through("/both")).status === 200, { what: "the app to answer under load" });
      for (const name of [pgName, redisName]) {
        const res = await api.request("POST", `/api/v1/databases/${name}/rotate`, { cookie: owner });
        expect(res.status).toBe(202);
        const done = await finished(res.body.job.id);
        expect(done.job.status).toBe("succeeded");
        expect(done.job.result.deploys.map((d: { app: string }) => d.app)).toEqual([appName]);
        // The rotation job ends once the deploy is queued; the rotation finishes with the deploy.
        const deploy = await finished(done.job.result.deploys[0].jobId);
        expect(deploy.job.status).toBe("succeeded");
        await waitFor(
          async () => (await api.request("GET", `/api/v1/databases/${name}`, { cookie: owner })).body.database.rotation === null,
          { timeoutMs: 120_000, what: `the rotation of ${name} to finish` },
        );
      }
    } finally {
      const result = await load.stop();
      expect(result.errors).toEqual([]);
      expect(result.failed).toBe(0);
      expect(result.non2xx).toBe(0);
      expect(result.ok).toBeGreaterThan(0);
    }
    const after = { pg: (await credentials(pgName)).body, kv: (await credentials(redisName)).body };
    expect(after.pg.password).not.toBe(before.pg.password);
    expect(after.kv.password).not.toBe(before.kv.password);
    // This server trusts local connections, so the password change is checked in the catalogue.
    const [hash] = await admin<{ rolpassword: string }[]>`select rolpassword from pg_authid where rolname = ${postgresNames(pgName).role}`;
    expect(hash?.rolpassword).toBeString();
    expect(hash?.rolpassword).not.toBe(hashBefore?.rolpassword as string);
    expect(Bun.spawnSync(["psql", after.pg.url, "-tAc", "select 1"]).stdout.toString().trim()).toBe("1");
    const oldKv = Bun.spawnSync(["redis-cli", "-u", before.kv.url, "--no-auth-warning", "ping"]);
    expect(`${oldKv.stdout}${oldKv.stderr}`).toMatch(/WRONGPASS|NOAUTH/);
    expect(Bun.spawnSync(["redis-cli", "-u", after.kv.url, "--no-auth-warning", "ping"]).stdout.toString().trim()).toBe("PONG");
    // The data survived, and the app works with the new URLs.
    expect(await (await through("/pg")).json()).toEqual(["first note"]);
    expect(Number(await (await through("/redis")).text())).toBe(3);
  });

  test("detach removes the variable; delete needs the typed name, drops the role and database and stops redis", async () => {
    const detached = await api.request("POST", `/api/v1/databases/${redisName}/detach`, { cookie: owner, body: { app: appName } });
    expect(detached.status).toBe(200);
    expect(detached.body.detached).toEqual({ app: appName, envVar: "REDIS_URL" });
    const env = await api.request("GET", `/api/v1/apps/${appName}/env`, { cookie: owner });
    expect(env.body.vars.map((v: { key: string }) => v.key)).not.toContain("REDIS_URL");
    expect((await api.request("POST", `/api/v1/databases/${redisName}/detach`, { cookie: owner, body: { app: appName } })).status).toBe(
      404,
    );

    const kvUrl = (await credentials(redisName)).body.url;
    const kvRow = await findDatabaseByName(api.services.db, redisName);
    const kvDir = String(kvRow?.config.dir);
    for (const name of [pgName, redisName]) {
      const wrong = await api.request("DELETE", `/api/v1/databases/${name}`, { cookie: owner, body: { confirm: "nope" } });
      expect(wrong.status).toBe(400);
      expect(wrong.body.error.message).toContain("confirm");
      const missing = await api.request("DELETE", `/api/v1/databases/${name}`, { cookie: owner, body: {} });
      expect(missing.status).toBe(400);
      expect(missing.body.error.message).toContain("confirm");
      const res = await api.request("DELETE", `/api/v1/databases/${name}`, { cookie: owner, body: { confirm: name } });
      expect(res.status).toBe(202);
      const done = await finished(res.body.job.id);
      expect({ status: done.job?.status, error: done.job?.error }, JSON.stringify(done)).toEqual({ status: "succeeded", error: null });
      expect(done.steps.map((s: { name: string }) => s.name)).toEqual(["final-backup", "detach", "drop"]);
      // The final backup verified and outlives the database.
      const backup = await findBackup(api.services.db, done.job.result.finalBackupId);
      expect(backup).toMatchObject({ kind: "final", status: "succeeded", verified: "verified", databaseName: name, databaseId: null });
      expect((await api.request("GET", `/api/v1/databases/${name}`, { cookie: owner })).status).toBe(404);
    }
    const { role, database } = postgresNames(pgName);
    expect(await admin`select 1 from pg_database where datname = ${database}`).toHaveLength(0);
    expect(await admin`select 1 from pg_roles where rolname = ${role}`).toHaveLength(0);
    // The app lost its DATABASE_URL with the database.
    const after = await api.request("GET", `/api/v1/apps/${appName}/env`, { cookie: owner });
    expect(after.body.vars.map((v: { key: string }) => v.key)).not.toContain("DATABASE_URL");
    const ping = Bun.spawnSync(["redis-cli", "-u", kvUrl, "--no-auth-warning", "ping"]);
    expect(`${ping.stdout}${ping.stderr}`).toMatch(/refused|Could not connect/i);
    expect(existsSync(kvDir)).toBe(false);
  });
});
