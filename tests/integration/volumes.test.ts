/**
 * Persistent volumes: a directory the app declares lives in `apps/<app>/volumes/`, outside the
 * releases, so what the app writes there survives deploys and rollbacks and both slots see it;
 * the repository's own files there seed an empty volume once; bad paths are refused naming the
 * field; usage is reported; taking a volume out keeps its data until it is purged.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

/** Appends to data/notes.txt (relative to the release) on /write, reads it back on /read. */
const SERVER = `import { appendFileSync, readFileSync, realpathSync } from "node:fs";
const version = await Bun.file("version.txt").text();
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/write") {
      appendFileSync("data/notes.txt", version + ":" + url.searchParams.get("text") + "\\n");
      return new Response("ok");
    }
    if (url.pathname === "/read") return new Response(readFileSync("data/notes.txt", "utf8"));
    if (url.pathname === "/seed") return new Response(readFileSync("data/seed.txt", "utf8"));
    if (url.pathname === "/where") {
      return Response.json({
        real: realpathSync("data"),
        dir: process.env.SWITCHYARD_VOLUME_DATA ?? null,
        all: process.env.SWITCHYARD_VOLUMES_DIR ?? null,
      });
    }
    return new Response(version);
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`;

const storingApp = (version: string, seed: string) => ({ ...bunApp(version), "server.ts": SERVER, "data/seed.txt": seed });

describe(`persistent volumes (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  const repos: TestRepo[] = [];

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api?.close();
    for (const r of repos) r.cleanup();
  });

  async function deploy(app: string): Promise<{ id: string; status: string; log: string }> {
    const res = await api.request("POST", `/api/v1/apps/${app}/deploy`, { cookie, body: {} });
    expect(res.status).toBe(202);
    return finished(res.body.job.id);
  }

  async function finished(id: string): Promise<{ id: string; status: string; log: string }> {
    await api.services.orchestrator.waitFor(id, 300_000);
    const job = (await api.request("GET", `/api/v1/jobs/${id}`, { cookie })).body.job;
    const logs = (await api.request("GET", `/api/v1/jobs/${id}/logs`, { cookie })).body.lines as Array<{ line: string }>;
    return { id, status: job.status, log: logs.map((l) => l.line).join("\n") };
  }

  async function throughNginx(app: string, path: string): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${api.config.proxyPort}${path}`, {
      headers: { host: `${app}.localhost`, connection: "close" },
    });
    expect(res.status).toBe(200);
    return res.text();
  }

  async function slotPorts(app: string): Promise<Record<string, number>> {
    const slots = (await api.request("GET", `/api/v1/apps/${app}/slots`, { cookie })).body.slots as Array<{
      color: string;
      port: number | null;
      process: { state: string } | null;
    }>;
    return Object.fromEntries(slots.filter((s) => s.port && s.process?.state === "running").map((s) => [s.color, s.port as number]));
  }

  test("bad volume paths are refused with a 400 naming the field", async () => {
    const r = await createRepo(bunApp("v1"));
    repos.push(r);
    const created = await api.request("POST", "/api/v1/apps", { cookie, body: { name: "plain", repoUrl: r.url } });
    expect(created.status).toBe(201);
    expect(created.body.app.volumes).toEqual([]);
    const cases: Array<[unknown, string, RegExp]> = [
      [[{ path: "../etc" }], "volumes.0.path", /\.\./],
      [[{ path: "data/../../x" }], "volumes.0.path", /\.\./],
      [[{ path: "/var/lib/data" }], "volumes.0.path", /relative/],
      [[{ path: "" }], "volumes.0.path", /directory/],
      [[{ path: "data" }, { path: "data/" }], "volumes.1.path", /twice/],
      [[{ path: "storage" }, { path: "storage/uploads" }], "volumes.1.path", /nested/],
      [[{ path: "a-b" }, { path: "a/b" }], "volumes.1.path", /share/],
      [[{ path: "my data" }], "volumes.0.path", /letters/],
      [[{ path: ".git/hooks" }], "volumes.0.path", /\.git/],
      [[{ path: 7 }], "volumes.0.path", /./],
      [[{}], "volumes.0.path", /required/],
      ["data", "volumes", /list/],
      [Array.from({ length: 17 }, (_, i) => ({ path: `d${i}` })), "volumes", /at most 16/],
    ];
    for (const [volumes, field, message] of cases) {
      const res = await api.request("PATCH", "/api/v1/apps/plain", { cookie, body: { volumes } });
      expect({ volumes, status: res.status }).toEqual({ volumes, status: 400 });
      const issue = (res.body.error.details.issues as Array<{ path: string; message: string }>)[0];
      expect(issue?.path).toBe(field);
      expect(issue?.message).toMatch(message);
      expect(res.body.error.message).toStartWith(`${field}:`);
    }
    const refusedCreate = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: "plain-two", repoUrl: r.url, volumes: [{ path: "../up" }] },
    });
    expect(refusedCreate.status).toBe(400);
    expect(refusedCreate.body.error.details.issues[0].path).toBe("volumes.0.path");
    const ok = await api.request("PATCH", "/api/v1/apps/plain", { cookie, body: { volumes: [{ path: "./storage/uploads/" }] } });
    expect(ok.status).toBe(200);
    expect(ok.body.app.volumes).toEqual([{ path: "storage/uploads" }]);
    const unknown = await api.request("DELETE", "/api/v1/apps/plain/volumes/nothing-here", { cookie });
    expect(unknown.status).toBe(404);
    const badName = await api.request("DELETE", "/api/v1/apps/plain/volumes/..", { cookie });
    expect([400, 404]).toContain(badName.status);
  });

  test("a file the app wrote survives three deploys and a rollback; both slots share it; usage is reported", async () => {
    const r = await createRepo(storingApp("v1", "from the repository v1"));
    repos.push(r);
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: "keeps", repoUrl: r.url, healthTimeoutSec: 20, watchSeconds: 1, drainSeconds: 2, volumes: [{ path: "data/" }] },
    });
    expect(created.status).toBe(201);
    expect(created.body.app.volumes).toEqual([{ path: "data" }]);
    const volumeDir = join(api.config.dataDir, "apps", "keeps", "volumes", "data");

    const v1 = await deploy("keeps");
    expect(v1.status).toBe("succeeded");
    // The repository's data/ seeded the empty volume, and the job log says so.
    expect(v1.log).toContain("Volume data: the repository's 1 entry seeded the empty volume");
    expect(await throughNginx("keeps", "/write?text=first")).toBe("ok");
    expect(await throughNginx("keeps", "/seed")).toBe("from the repository v1");
    const where = JSON.parse(await throughNginx("keeps", "/where"));
    expect(where).toEqual({ real: realpathSync(volumeDir), dir: volumeDir, all: join(api.config.dataDir, "apps", "keeps", "volumes") });

    for (const version of ["v2", "v3", "v4"]) {
      await r.commit({ "build.ts": `await Bun.write("version.txt", ${JSON.stringify(version)});\n`, "data/seed.txt": `from ${version}` });
      const job = await deploy("keeps");
      expect({ version, status: job.status }).toEqual({ version, status: "succeeded" });
      expect(await throughNginx("keeps", "/")).toBe(version);
      // The volume already holds data: the repository's copy is set aside, not used.
      expect(job.log).toContain("the volume already holds data, so the repository's own data/ is not used");
      expect(await throughNginx("keeps", "/seed")).toBe("from the repository v1");
      expect(await throughNginx("keeps", `/write?text=${version}`)).toBe("ok");
    }
    const notes = "v1:first\nv2:v2\nv3:v3\nv4:v4\n";
    expect(await throughNginx("keeps", "/read")).toBe(notes);

    // Blue and green (v4 live, v3 the warm standby) read and write the same directory.
    const ports = await slotPorts("keeps");
    expect(Object.keys(ports).sort()).toEqual(["blue", "green"]);
    const [one, other] = Object.values(ports) as [number, number];
    expect(await (await fetch(`http://127.0.0.1:${one}/write?text=direct`)).text()).toBe("ok");
    const fromOther = await (await fetch(`http://127.0.0.1:${other}/read`)).text();
    expect(fromOther).toContain(":direct\n");
    expect(fromOther.startsWith(notes)).toBe(true);

    // Roll back to v2, which no slot runs any more: it starts again and finds the same data.
    const releases = (await api.request("GET", "/api/v1/apps/keeps/releases", { cookie })).body.releases as Array<{
      id: string;
      number: number;
    }>;
    const v2 = releases.find((x) => x.number === 2);
    expect(v2).toBeDefined();
    const rb = await api.request("POST", "/api/v1/apps/keeps/rollback", { cookie, body: { releaseId: v2?.id } });
    expect(rb.status).toBe(202);
    expect((await finished(rb.body.job.id)).status).toBe("succeeded");
    expect(await throughNginx("keeps", "/")).toBe("v2");
    const afterRollback = await throughNginx("keeps", "/read");
    expect(afterRollback.startsWith(notes)).toBe(true);
    expect(await throughNginx("keeps", "/write?text=after-rollback")).toBe("ok");
    expect(readFileSync(join(volumeDir, "notes.txt"), "utf8")).toEndWith("v2:after-rollback\n");

    const usage = await api.request("GET", "/api/v1/apps/keeps/volumes", { cookie });
    expect(usage.status).toBe(200);
    expect(usage.body.volumes).toHaveLength(1);
    const [volume] = usage.body.volumes;
    expect(volume).toMatchObject({ path: "data", name: "data", dir: volumeDir, exists: true, files: 2, truncated: false });
    expect(volume.bytes).toBeGreaterThan(0);

    // Out of the settings: the data stays (listed without a path) until it is purged.
    const removed = await api.request("DELETE", "/api/v1/apps/keeps/volumes/data", { cookie });
    expect(removed.status).toBe(200);
    expect(removed.body.volumes).toEqual([expect.objectContaining({ path: null, name: "data", files: 2 })]);
    expect((await api.request("GET", "/api/v1/apps/keeps", { cookie })).body.app.volumes).toEqual([]);
    expect(existsSync(join(volumeDir, "notes.txt"))).toBe(true);
    const purged = await api.request("DELETE", "/api/v1/apps/keeps/volumes/data?purge=true", { cookie });
    expect(purged.status).toBe(200);
    expect(purged.body.volumes).toEqual([]);
    expect(existsSync(volumeDir)).toBe(false);
    const audit = await api.request("GET", "/api/v1/audit?action=app.volume_purged", { cookie });
    expect(audit.status).toBe(200);
    expect(audit.body.entries).toHaveLength(1);
  });
});
