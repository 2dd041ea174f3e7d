import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

const SECRET = "s3cr3t-value";

describe(`deploy pipeline (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  const repos: TestRepo[] = [];

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api.close();
    for (const r of repos) r.cleanup();
  });

  async function repo(files: Record<string, string>): Promise<TestRepo> {
    const r = await createRepo(files);
    repos.push(r);
    return r;
  }

  async function createApp(name: string, repoUrl: string, extra: Record<string, unknown> = {}) {
    const res = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name, repoUrl, healthTimeoutSec: 20, watchSeconds: 1, drainSeconds: 2, ...extra },
    });
    expect(res.status).toBe(201);
    return res.body.app;
  }

  async function deploy(name: string, body: Record<string, unknown> = {}) {
    const res = await api.request("POST", `/api/v1/apps/${name}/deploy`, { cookie, body });
    expect(res.status).toBe(202);
    expect(["queued", "running"]).toContain(res.body.job.status);
    return res.body.job.id as string;
  }

  async function finished(jobId: string) {
    await api.services.orchestrator.waitFor(jobId, 120_000);
    return (await api.request("GET", `/api/v1/jobs/${jobId}`, { cookie })).body;
  }

  async function logText(jobId: string): Promise<string> {
    const res = await api.request("GET", `/api/v1/jobs/${jobId}/logs`, { cookie });
    return (res.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n");
  }

  async function liveSlot(name: string) {
    const app = (await api.request("GET", `/api/v1/apps/${name}`, { cookie })).body.app;
    return app.slots.find((s: { color: string }) => s.color === app.liveColor);
  }

  test("a Bun app goes queued → running → succeeded with timed steps and answers on its slot", async () => {
    const r = await repo(bunApp("v1"));
    await createApp("hello-bun", r.url);
    const env = await api.request("PUT", "/api/v1/apps/hello-bun/env", {
      cookie,
      body: {
        vars: [
          { key: "API_KEY", value: SECRET, secret: true },
          { key: "GREETING", value: "hi" },
        ],
      },
    });
    expect(env.status).toBe(200);
    const jobId = await deploy("hello-bun");
    const { job, steps } = await finished(jobId);
    expect(job.status).toBe("succeeded");
    expect(steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
      "fetch:succeeded",
      "detect:succeeded",
      "install:succeeded",
      "build:succeeded",
      "release:succeeded",
      "release-command:skipped",
      "start:succeeded",
      "health:succeeded",
      "switch:succeeded",
      "workers:skipped",
      "drain:skipped",
      "watch:skipped",
      "retain:succeeded",
    ]);
    for (const s of steps.filter((s: { status: string }) => s.status === "succeeded")) expect(s.durationMs).toBeGreaterThanOrEqual(0);
    const slot = await liveSlot("hello-bun");
    expect(await (await fetch(`http://127.0.0.1:${slot.port}/`)).text()).toBe("v1");
    expect(await (await fetch(`http://127.0.0.1:${slot.port}/env`)).json()).toEqual({ GREETING: "hi" });

    // The secret printed by the build and by the app never shows, anywhere we hand out text.
    const log = await logText(jobId);
    expect(log).toContain("building with API_KEY=••••");
    expect(log).not.toContain(SECRET);
    const slotLogs = await api.request("GET", `/api/v1/apps/hello-bun/slots/${slot.color}/logs`, { cookie });
    expect(JSON.stringify(slotLogs.body)).toContain("starting v1 with API_KEY=••••");
    for (const path of [
      "/api/v1/apps/hello-bun",
      "/api/v1/apps/hello-bun/env",
      "/api/v1/apps/hello-bun/releases",
      "/api/v1/apps/hello-bun/slots",
      `/api/v1/jobs/${jobId}`,
    ]) {
      expect(JSON.stringify((await api.request("GET", path, { cookie })).body)).not.toContain(SECRET);
    }
    // The slot's log file on disk is masked too.
    const slotDir = join(api.config.dataDir, "apps", "hello-bun", "slots", slot.color);
    for (const f of readdirSync(slotDir).filter((f) => f.endsWith(".log")))
      expect(readFileSync(join(slotDir, f), "utf8")).not.toContain(SECRET);
  });

  test("a failing build leaves the live release serving, with the reason in the log", async () => {
    const r = await repo(bunApp("v1"));
    await createApp("breaks", r.url);
    expect((await finished(await deploy("breaks"))).job.status).toBe("succeeded");
    const before = await liveSlot("breaks");
    await r.commit({ "build.ts": 'console.error("syntax is fine but the build says no"); process.exit(3);\n' }, "break the build");
    const { job, steps } = await finished(await deploy("breaks"));
    expect(job.status).toBe("failed");
    expect(job.error).toContain("exited with 3");
    expect(steps.find((s: { name: string }) => s.name === "build").status).toBe("failed");
    expect(steps.find((s: { name: string }) => s.name === "start").status).toBe("skipped");
    expect(await logText(job.id)).toContain("the build says no");
    expect(await (await fetch(`http://127.0.0.1:${before.port}/`)).text()).toBe("v1");
    const after = (await api.request("GET", "/api/v1/apps/breaks", { cookie })).body.app;
    expect(after.status).toBe("live");
    expect(after.liveColor).toBe(before.color);
    expect(readdirSync(join(api.config.dataDir, "apps", "breaks", "builds"))).toEqual([]);
  });

  test("a start command that exits at once fails the deploy and leaves nothing running", async () => {
    const r = await repo({ ...bunApp("v1"), "server.ts": 'console.error("cannot start: missing config"); process.exit(1);\n' });
    await createApp("exits", r.url);
    const { job } = await finished(await deploy("exits"));
    expect(job.status).toBe("failed");
    expect(await logText(job.id)).toContain("cannot start: missing config");
    for (const color of ["blue", "green"] as const) {
      expect(["stopped", "crashed"]).toContain((await api.services.runtime.status("exits", color)).state);
    }
    expect((await api.request("GET", "/api/v1/apps/exits", { cookie })).body.app.status).toBe("failed");
  });

  test("cancelling a running build kills its process tree", async () => {
    // A sleep no other test (nor another copy of this suite) runs: pgrep must find only this one.
    const sleep = `sleep 37.${process.pid}${Math.floor(Math.random() * 1e6)}`;
    const r = await repo({ ...bunApp("v1"), "build.ts": `console.log("long build"); await Bun.$\`${sleep}\`;\n` });
    await createApp("cancels", r.url);
    const jobId = await deploy("cancels");
    await waitFor(async () => (await logText(jobId)).includes("long build"), { timeoutMs: 20_000, what: "the build to start" });
    await waitFor(() => Bun.spawnSync(["pgrep", "-f", sleep]).exitCode === 0, { timeoutMs: 20_000, what: `"${sleep}" to run` });
    const cancel = await api.request("POST", `/api/v1/jobs/${jobId}/cancel`, { cookie });
    expect(cancel.status).toBe(202);
    const { job, steps } = await finished(jobId);
    expect(job.status).toBe("cancelled");
    expect(steps.find((s: { name: string }) => s.name === "build").status).toBe("cancelled");
    await waitFor(() => Bun.spawnSync(["pgrep", "-f", sleep]).exitCode === 1, { timeoutMs: 10_000, what: `no "${sleep}" process left` });
  });

  test("two deploys of one app requested at once run one after the other", async () => {
    const r = await repo(bunApp("v1"));
    await createApp("serial", r.url);
    const [a, b] = await Promise.all([deploy("serial"), deploy("serial")]);
    const [ja, jb] = [(await finished(a)).job, (await finished(b)).job];
    expect(ja.status).toBe("succeeded");
    expect(jb.status).toBe("succeeded");
    const [first, second] = [ja, jb].sort((x, y) => Date.parse(x.startedAt) - Date.parse(y.startedAt));
    expect(Date.parse(second.startedAt)).toBeGreaterThanOrEqual(Date.parse(first.finishedAt));
  });

  test("a Node app and a static site deploy too", async () => {
    const node = await repo({
      "package.json": JSON.stringify({ name: "n", version: "1.0.0", scripts: { start: "node server.js" }, engines: { node: ">=18" } }),
      "package-lock.json": JSON.stringify({
        name: "n",
        version: "1.0.0",
        lockfileVersion: 3,
        requires: true,
        packages: { "": { name: "n", version: "1.0.0" } },
      }),
      "server.js":
        'require("http").createServer((q, s) => s.end("node " + process.version)).listen(Number(process.env.PORT), "127.0.0.1");\n',
    });
    await createApp("hello-node", node.url);
    const nodeJob = await finished(await deploy("hello-node"));
    expect(nodeJob.job.status).toBe("succeeded");
    expect(await (await fetch(`http://127.0.0.1:${(await liveSlot("hello-node")).port}/`)).text()).toStartWith("node v");

    const site = await repo({ "index.html": "<!doctype html><title>site</title><h1>static!</h1>" });
    await createApp("hello-static", site.url);
    const siteJob = await finished(await deploy("hello-static"));
    expect(siteJob.job.status).toBe("succeeded");
    // nginx serves a static site itself: no process answers on the slot's port.
    const served = await fetch(`http://127.0.0.1:${api.config.proxyPort}/`, { headers: { host: "hello-static.localhost" } });
    expect(await served.text()).toContain("static!");
  });

  test("the releases list shows the live one; rollback to the standby puts it back", async () => {
    const r = await repo(bunApp("v1"));
    await createApp("rolls", r.url);
    expect((await finished(await deploy("rolls"))).job.status).toBe("succeeded");
    await r.commit(bunApp("v2"), "v2");
    expect((await finished(await deploy("rolls"))).job.status).toBe("succeeded");
    expect(await (await fetch(`http://127.0.0.1:${(await liveSlot("rolls")).port}/`)).text()).toBe("v2");
    const { releases } = (await api.request("GET", "/api/v1/apps/rolls/releases", { cookie })).body;
    expect(releases.map((x: { number: number; status: string }) => [x.number, x.status])).toEqual([
      [2, "live"],
      [1, "standby"],
    ]);
    expect(releases.every((x: { rollbackEligible: boolean }) => x.rollbackEligible)).toBe(true);
    const rb = await api.request("POST", "/api/v1/apps/rolls/rollback", { cookie, body: { releaseId: releases[1].id } });
    expect(rb.status).toBe(202);
    expect((await finished(rb.body.job.id)).job.status).toBe("succeeded");
    expect(await (await fetch(`http://127.0.0.1:${(await liveSlot("rolls")).port}/`)).text()).toBe("v1");
  });

  test("restart boots the live release again in the other slot; stop stops both slots; restart brings it back", async () => {
    const r = await repo(bunApp("v1"));
    await createApp("cycles", r.url);
    expect((await finished(await deploy("cycles"))).job.status).toBe("succeeded");
    const before = await liveSlot("cycles");

    const restart = await api.request("POST", "/api/v1/apps/cycles/restart", { cookie });
    expect(restart.status).toBe(202);
    expect(restart.body.job.kind).toBe("restart");
    expect((await finished(restart.body.job.id)).job.status).toBe("succeeded");
    const after = await liveSlot("cycles");
    expect(after.color).not.toBe(before.color);
    expect(after.releaseId).toBe(before.releaseId);
    expect(await (await fetch(`http://127.0.0.1:${after.port}/`)).text()).toBe("v1");

    const stop = await api.request("POST", "/api/v1/apps/cycles/stop", { cookie });
    expect(stop.status).toBe(202);
    expect((await finished(stop.body.job.id)).job.status).toBe("succeeded");
    const stopped = (await api.request("GET", "/api/v1/apps/cycles", { cookie })).body.app;
    expect(stopped.status).toBe("stopped");
    const refused = await fetch(`http://127.0.0.1:${after.port}/`).then(
      () => "answered",
      () => "refused",
    );
    expect(refused).toBe("refused");

    const again = await api.request("POST", "/api/v1/apps/cycles/restart", { cookie });
    expect((await finished(again.body.job.id)).job.status).toBe("succeeded");
    const back = await liveSlot("cycles");
    expect(await (await fetch(`http://127.0.0.1:${back.port}/`)).text()).toBe("v1");

    expect((await api.request("POST", "/api/v1/apps/nope-app/restart", { cookie })).status).toBe(404);
  });

  test("bad input: invalid names, URLs, env keys and unknown apps are 4xx naming the field", async () => {
    const badName = await api.request("POST", "/api/v1/apps", { cookie, body: { name: "Bad_Name", repoUrl: "file:///tmp/x" } });
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toStartWith("name:");
    const badUrl = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: "ok-name", repoUrl: "https://user:pw@example.com/x.git" },
    });
    expect(badUrl.status).toBe(400);
    expect(badUrl.body.error.message).toStartWith("repoUrl:");
    const dup = await api.request("POST", "/api/v1/apps", { cookie, body: { name: "hello-bun", repoUrl: "file:///tmp/x" } });
    expect(dup.status).toBe(409);
    const port = await api.request("PUT", "/api/v1/apps/hello-bun/env", { cookie, body: { vars: [{ key: "PORT", value: "1" }] } });
    expect(port.status).toBe(400);
    expect(port.body.error.message).toContain("PORT");
    const key = await api.request("PUT", "/api/v1/apps/hello-bun/env", { cookie, body: { vars: [{ key: "1BAD", value: "1" }] } });
    expect(key.status).toBe(400);
    // Nothing saved was lost by the refused writes.
    const env = await api.request("GET", "/api/v1/apps/hello-bun/env", { cookie });
    expect(env.body.vars.map((v: { key: string }) => v.key)).toEqual(["API_KEY", "GREETING"]);
    expect(env.body.vars[0].value).toBe("••••••••");
    expect((await api.request("GET", "/api/v1/apps/nope-app", { cookie })).status).toBe(404);
    const del = await api.request("DELETE", "/api/v1/apps/hello-bun", { cookie, body: { confirm: "hello" } });
    expect(del.status).toBe(400);
    expect(del.body.error.code).toBe("confirmation_mismatch");
  });

  test("deleting an app stops its slots and removes its files", async () => {
    const slot = await liveSlot("hello-bun");
    const res = await api.request("DELETE", "/api/v1/apps/hello-bun", { cookie, body: { confirm: "hello-bun" } });
    expect(res.status).toBe(204);
    expect(
      await fetch(`http://127.0.0.1:${slot.port}/`).then(
        () => "answered",
        () => "refused",
      ),
    ).toBe("refused");
    expect(readdirSync(join(api.config.dataDir, "apps"))).not.toContain("hello-bun");
    expect((await api.request("GET", "/api/v1/apps/hello-bun", { cookie })).status).toBe(404);
  });
});
