/**
 * The self-update API over a real git source and a real panel directory layout (releases/,
 * slots/): what is available and kept, who may start an update, and every refusal. The job's
 * systemd side runs in tests/system (a booted Debian with install.sh).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REVISION } from "../../backend/config.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";

describe(`self-update API (${TEST_DB})`, () => {
  let repo: TestRepo;
  let panelRoot: string;
  let api: TestApi;
  let owner: string;
  const shas: string[] = [];

  beforeAll(async () => {
    repo = await createRepo({ "package.json": '{"name":"switchyard","version":"0.2.0"}' }, "main", "First version");
    shas.push(await repo.commit({ "CHANGELOG.md": "fixes\n" }, "Fix the thing"));
    shas.push(await repo.commit({ "CHANGELOG.md": "more\n" }, "Add a feature | with a pipe"));
    panelRoot = mkdtempSync(join(tmpdir(), "sy-panel-root-"));
    // Two versions kept on disk (the running one, whatever this checkout is, and an older one).
    for (const revision of [REVISION ?? "0123456789ab", "aaaaaaaaaaaa"]) {
      mkdirSync(join(panelRoot, "releases", revision), { recursive: true });
      writeFileSync(join(panelRoot, "releases", revision, ".installed"), "");
    }
    mkdirSync(join(panelRoot, "releases", "bbbbbbbbbbbb"), { recursive: true }); // unfinished: not offered
  });
  afterAll(() => {
    repo.cleanup();
    rmSync(panelRoot, { recursive: true, force: true });
  });
  afterEach(async () => {
    await api?.close();
  });

  const serverApi = async () => {
    api = await createTestApi({
      config: {
        SWITCHYARD_MODE: "server",
        SWITCHYARD_PANEL_SLOT: "blue",
        SWITCHYARD_PANEL_ROOT: panelRoot,
        SWITCHYARD_UPDATE_SOURCE: repo.url,
      },
    });
    mkdirSync(join(api.config.dataDir, "sock"), { recursive: true });
    symlinkSync("panel-blue.sock", join(api.config.dataDir, "sock", "panel.sock"));
    owner = await api.setupOwner();
  };

  test("lists the source's newer commits as the changelog, and the versions kept on disk", async () => {
    await serverApi();
    const res = await api.request("GET", "/api/v1/system/update", { cookie: owner });
    expect(res.status).toBe(200);
    const update = res.body.update;
    expect(update).toMatchObject({
      supported: true,
      reason: null,
      current: { revision: REVISION, slot: "blue" },
      source: { url: repo.url, branch: "main" },
      error: null,
    });
    // This checkout's revision is not in the source, so the branch's last commits are offered.
    expect(update.available.map((c: { subject: string }) => c.subject)).toEqual([
      "Add a feature | with a pipe",
      "Fix the thing",
      "First version",
    ]);
    expect(update.available[0]).toMatchObject({ revision: shas[1]?.slice(0, 12), author: "Ada Lovelace", tags: [] });
    expect(update.kept.map((k: { revision: string }) => k.revision).sort()).toEqual([REVISION ?? "0123456789ab", "aaaaaaaaaaaa"].sort());
    expect(update.kept.find((k: { current: boolean }) => k.current)?.revision).toBe(REVISION);
    expect(update.job).toBeNull();
  });

  test("the owner starts an update of the newest commit; a second one while it is queued is refused", async () => {
    await serverApi();
    const started = await api.request("POST", "/api/v1/system/update", { cookie: owner, body: {} });
    expect(started.status).toBe(202);
    expect(started.body.job).toMatchObject({ kind: "self-update", status: "queued", appId: null });
    expect(started.body.job.params).toMatchObject({ revision: shas[1]?.slice(0, 12), rollback: false });
    const again = await api.request("POST", "/api/v1/system/update", { cookie: owner, body: { revision: "aaaaaaaaaaaa" } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("update_running");
    const info = await api.request("GET", "/api/v1/system/update", { cookie: owner });
    expect(info.body.update.job).toMatchObject({ id: started.body.job.id, status: "queued" });
  });

  test("a kept version is a rollback; unknown, malformed and running revisions are refused", async () => {
    await serverApi();
    const bad = await api.request("POST", "/api/v1/system/update", { cookie: owner, body: { revision: "main; rm -rf /" } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.error)).toContain("revision");
    const unknown = await api.request("POST", "/api/v1/system/update", { cookie: owner, body: { revision: "cccccccccccc" } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain("cccccccccccc");
    if (REVISION) {
      const same = await api.request("POST", "/api/v1/system/update", { cookie: owner, body: { revision: REVISION } });
      expect(same.status).toBe(409);
      expect(same.body.error.code).toBe("already_current");
    }
    const back = await api.request("POST", "/api/v1/system/update", { cookie: owner, body: { revision: "aaaaaaaaaaaa" } });
    expect(back.status).toBe(202);
    expect(back.body.job.params).toMatchObject({ revision: "aaaaaaaaaaaa", rollback: true });
  });

  test("only the owner may see or start an update", async () => {
    await serverApi();
    const created = await api.request("POST", "/api/v1/users", {
      cookie: owner,
      body: { email: "admin@example.com", password: "another-long-password", name: "Admin", role: "admin" },
    });
    expect(created.status).toBe(201);
    const login = await api.request("POST", "/api/v1/auth/login", {
      body: { email: "admin@example.com", password: "another-long-password" },
    });
    const admin = cookieFrom(login.headers);
    expect((await api.request("GET", "/api/v1/system/update", { cookie: admin })).status).toBe(403);
    expect((await api.request("POST", "/api/v1/system/update", { cookie: admin, body: {} })).status).toBe(403);
    expect((await api.request("GET", "/api/v1/system/update")).status).toBe(401);
  });

  test("a source that cannot be read is reported, and nothing is started", async () => {
    api = await createTestApi({
      config: {
        SWITCHYARD_MODE: "server",
        SWITCHYARD_PANEL_SLOT: "blue",
        SWITCHYARD_PANEL_ROOT: panelRoot,
        SWITCHYARD_UPDATE_SOURCE: "file:///nonexistent/switchyard.git",
      },
    });
    owner = await api.setupOwner();
    const res = await api.request("GET", "/api/v1/system/update?refresh=1", { cookie: owner });
    expect(res.status).toBe(200);
    expect(res.body.update.error).toContain("could not be read");
    const start = await api.request("POST", "/api/v1/system/update", { cookie: owner, body: {} });
    expect(start.status).toBe(502);
    expect(start.body.error.code).toBe("source_unreachable");
  });

  test("locally the panel says how to update instead, and refuses to start a job", async () => {
    api = await createTestApi();
    owner = await api.setupOwner();
    const res = await api.request("GET", "/api/v1/system/update", { cookie: owner });
    expect(res.status).toBe(200);
    expect(res.body.update).toMatchObject({ supported: false, available: [], source: null });
    expect(res.body.update.reason).toContain("install.sh");
    const start = await api.request("POST", "/api/v1/system/update", { cookie: owner, body: {} });
    expect(start.status).toBe(422);
    expect(start.body.error.code).toBe("not_supported");
  });
});
