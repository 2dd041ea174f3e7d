/**
 * Builds cannot starve the apps: they run niced, under the build memory limit (going over it fails
 * the deploy with a message that says so while the live release keeps serving), and no more of them
 * at once than the build concurrency allows: a second deploy waits, says why, can be cancelled
 * while it waits, and fetches only once the first one's release step is done.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, inArray } from "drizzle-orm";
import { openDatabase } from "../../backend/db/client.ts";
import { buildSlotHolders, releaseBuildSlot, renewBuildSlot, takeBuildSlot } from "../../backend/db/queries/build-settings.ts";
import { jobs } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Says its own nice value, waits for BUILD_GATE (a file) when set, and with BUILD_HOG holds ever
 * more memory, a few MiB at a time.
 */
const BUILD = (version: string) => `import { existsSync, readFileSync } from "node:fs";
const stat = readFileSync("/proc/self/stat", "utf8");
console.log("build nice=" + stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
const gate = process.env.BUILD_GATE;
if (gate) while (!existsSync(gate)) await Bun.sleep(50);
if (process.env.BUILD_HOG) {
  const held = [];
  for (let i = 0; i < 400; i++) {
    held.push(Buffer.alloc(4 * 1024 * 1024, 1));
    await Bun.sleep(10);
  }
  console.log("held " + held.length * 4 + " MiB");
}
await Bun.write("version.txt", ${JSON.stringify(version)});
`;

type Step = { name: string; status: string; startedAt: string | null; finishedAt: string | null };

describe(`build limits (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  const repos: TestRepo[] = [];
  // Readable by the app user the builds run as.
  const gates = mkdtempSync(join(tmpdir(), "sy-gates-"));
  chmodSync(gates, 0o755);

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api?.close();
    for (const r of repos) r.cleanup();
    rmSync(gates, { recursive: true, force: true });
  });

  async function createApp(name: string, version: string, vars: Record<string, string> = {}): Promise<TestRepo> {
    const r = await createRepo(bunApp(version, { "build.ts": BUILD(version) }));
    repos.push(r);
    const res = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name, repoUrl: r.url, healthTimeoutSec: 60, watchSeconds: 1, drainSeconds: 1 },
    });
    expect(res.status).toBe(201);
    await setVars(name, vars);
    return r;
  }

  async function setVars(app: string, vars: Record<string, string>) {
    const body = { vars: Object.entries(vars).map(([key, value]) => ({ key, value, secret: false })) };
    expect((await api.request("PUT", `/api/v1/apps/${app}/env`, { cookie, body })).status).toBe(200);
  }

  async function deploy(app: string): Promise<string> {
    const res = await api.request("POST", `/api/v1/apps/${app}/deploy`, { cookie, body: {} });
    expect(res.status).toBe(202);
    return res.body.job.id as string;
  }

  async function finished(jobId: string) {
    await api.services.orchestrator.waitFor(jobId, 300_000);
    return (await api.request("GET", `/api/v1/jobs/${jobId}`, { cookie })).body as { job: Record<string, any>; steps: Step[] };
  }

  async function logText(jobId: string): Promise<string> {
    const res = await api.request("GET", `/api/v1/jobs/${jobId}/logs`, { cookie });
    return (res.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n");
  }

  async function throughNginx(app: string): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${api.config.proxyPort}/`, { headers: { host: `${app}.localhost` } });
    expect(res.status).toBe(200);
    return res.text();
  }

  const putBuilds = (body: unknown, as = cookie) => api.request("PUT", "/api/v1/settings/builds", { cookie: as, body });

  test("the build settings: defaults, changes, and bad input named", async () => {
    const initial = await api.request("GET", "/api/v1/settings/builds", { cookie });
    expect(initial.status).toBe(200);
    expect(initial.body.builds.concurrency).toBe(1);
    expect(initial.body.builds.memoryMaxMb).toBeGreaterThanOrEqual(256);
    expect(initial.body.builds.memoryMaxMb).toBeLessThanOrEqual(2048);

    for (const [field, value] of [
      ["concurrency", 0],
      ["concurrency", 9],
      ["concurrency", "2"],
      ["memoryMaxMb", 255],
      ["memoryMaxMb", 65537],
      ["memoryMaxMb", 1.5],
    ] as const) {
      const res = await putBuilds({ [field]: value });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("validation_failed");
      expect(res.body.error.message).toStartWith(`${field}:`);
      expect(res.body.error.details.issues[0].path).toBe(field);
    }
    expect((await putBuilds({ parallel: 2 })).status).toBe(400);
    expect((await putBuilds("two")).status).toBe(400);
    expect((await api.request("PUT", "/api/v1/settings/builds", { body: { concurrency: 2 } })).status).toBe(401);
    expect((await api.request("GET", "/api/v1/settings/builds", {})).status).toBe(401);

    const changed = await putBuilds({ concurrency: 3, memoryMaxMb: 4096 });
    expect(changed.status).toBe(200);
    expect(changed.body.builds).toEqual({ concurrency: 3, memoryMaxMb: 4096 });
    const partly = await putBuilds({ concurrency: 1 });
    expect(partly.body.builds).toEqual({ concurrency: 1, memoryMaxMb: 4096 });
    expect((await api.request("GET", "/api/v1/settings/builds", { cookie })).body.builds).toEqual({ concurrency: 1, memoryMaxMb: 4096 });
  });

  test("builds run niced; one over the memory limit fails the deploy with the message and the live release keeps serving", async () => {
    expect((await putBuilds({ concurrency: 1, memoryMaxMb: 256 })).status).toBe(200);
    await createApp("hog", "v1");
    const first = await finished(await deploy("hog"));
    expect(first.job.status).toBe("succeeded");
    const niceLine = (await logText(first.job.id)).match(/build nice=(-?\d+)/);
    expect(Number(niceLine?.[1])).toBeGreaterThanOrEqual(10);
    expect(await throughNginx("hog")).toBe("v1");

    await setVars("hog", { BUILD_HOG: "1" });
    const second = await finished(await deploy("hog"));
    expect(second.job.status).toBe("failed");
    expect(second.job.error).toBe("The build used more than 256 MiB; raise the build memory limit in Settings → Builds.");
    expect(second.steps.find((s) => s.name === "build")?.status).toBe("failed");
    const log = await logText(second.job.id);
    expect(log).toContain("The build used more than 256 MiB");
    expect(log).not.toContain("held 1600 MiB");
    expect(await throughNginx("hog")).toBe("v1");
    const app = (await api.request("GET", "/api/v1/apps/hog", { cookie })).body.app;
    expect(app.status).toBe("live");
    expect((await putBuilds({ memoryMaxMb: 2048 })).status).toBe(200);
  });

  test("with concurrency 1 a second deploy waits (and can be cancelled while it does), then fetches after the first one's release", async () => {
    expect((await putBuilds({ concurrency: 1 })).status).toBe(200);
    const gate = join(gates, "first");
    await createApp("first", "f1", { BUILD_GATE: gate });
    await createApp("second", "s1");

    const a = await deploy("first");
    await waitFor(async () => (await logText(a)).includes("build nice="), { what: "the first build to be running", timeoutMs: 120_000 });

    // Waiting, then cancelled while it waits.
    const cancelled = await deploy("second");
    await waitFor(async () => (await logText(cancelled)).includes("waiting for a build slot: 1 build running (app first)"), {
      what: "the second deploy to wait for a build slot",
    });
    expect((await api.request("POST", `/api/v1/jobs/${cancelled}/cancel`, { cookie, body: {} })).status).toBeLessThan(300);
    const gone = await finished(cancelled);
    expect(gone.job).toMatchObject({ status: "cancelled" });
    expect(gone.steps.find((s) => s.name === "fetch")?.startedAt).toBeNull();

    const b = await deploy("second");
    await waitFor(async () => (await logText(b)).includes("waiting for a build slot: 1 build running (app first)"), {
      what: "the second deploy to wait again",
    });
    const waiting = (await api.request("GET", `/api/v1/jobs/${b}`, { cookie })).body as { steps: Step[] };
    expect(waiting.steps.find((s) => s.name === "fetch")?.status).toBe("pending");

    writeFileSync(gate, "go");
    const [first, second] = await Promise.all([finished(a), finished(b)]);
    expect(first.job).toMatchObject({ status: "succeeded" });
    expect(second.job).toMatchObject({ status: "succeeded" });
    const firstRelease = first.steps.find((s) => s.name === "release");
    const secondFetch = second.steps.find((s) => s.name === "fetch");
    expect(firstRelease?.finishedAt).toBeTruthy();
    expect(secondFetch?.startedAt).toBeTruthy();
    expect(Date.parse(secondFetch?.startedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(firstRelease?.finishedAt ?? ""));
    expect(await logText(b)).toContain("build slot free: going on");
    expect(await throughNginx("first")).toBe("f1");
    expect(await throughNginx("second")).toBe("s1");
  });

  test("a slot is held once across panels on one database: racing takers, one winner; a finished holder frees it", async () => {
    // Against Postgres a second connection pool stands for another panel; PGlite has one connection.
    const other = api.database.url ? await openDatabase({ url: api.database.url, pgliteDir: null, max: 5 }) : null;
    try {
      const dbs = [api.services.db, other?.db ?? api.services.db];
      // Holders are running jobs (a slot held by a job that no longer runs is free).
      const running = await api.services.db
        .insert(jobs)
        .values(Array.from({ length: 6 }, () => ({ kind: "deploy" as const, appId: null, status: "running" as const })))
        .returning({ id: jobs.id });
      const slot = 7; // one no deploy of this file uses
      const wins = await Promise.all(running.map((j, i) => takeBuildSlot(dbs[i % 2] ?? api.services.db, slot, j.id, `app${i}`)));
      expect(wins.filter(Boolean)).toHaveLength(1);
      const winner = running[wins.indexOf(true)]?.id ?? "";
      expect((await buildSlotHolders(api.services.db)).map((h) => h.jobId)).toEqual([winner]);
      // Renewed by its holder only; given back, the next one gets it.
      expect(await renewBuildSlot(api.services.db, slot, winner)).toBe(true);
      const loser = running.find((j) => j.id !== winner)?.id ?? "";
      expect(await renewBuildSlot(api.services.db, slot, loser)).toBe(false);
      expect(await takeBuildSlot(dbs[1] ?? api.services.db, slot, loser, "next")).toBe(false);
      // A holder whose job has ended (its panel crashed mid-build, say) holds nothing.
      await api.services.db.update(jobs).set({ status: "failed" }).where(eq(jobs.id, winner));
      expect(await takeBuildSlot(dbs[1] ?? api.services.db, slot, loser, "next")).toBe(true);
      await releaseBuildSlot(api.services.db, slot, loser);
      expect(await buildSlotHolders(api.services.db)).toEqual([]);
      await api.services.db
        .update(jobs)
        .set({ status: "failed" })
        .where(
          inArray(
            jobs.id,
            running.map((j) => j.id),
          ),
        );
    } finally {
      await other?.close();
    }
  });
});
