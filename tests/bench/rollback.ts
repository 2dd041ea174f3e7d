/**
 * Rollback to the warm standby, from `POST /rollback` to nginx answering with the old version,
 * on PGlite and on PostgreSQL in the same run (each driver in a child process of its own, as the
 * integration suite runs them).
 */
import { join } from "node:path";
import { postgresReachable } from "../helpers/database.ts";
import { createRepo } from "../helpers/git-repo.ts";
import { createTestApi } from "../helpers/panel.ts";
import { fmt, median } from "./stats.ts";

const RUNS = 20;

function app(version: string) {
  return {
    "package.json": JSON.stringify({ name: "r", private: true, scripts: { start: "bun server.ts" } }),
    "server.ts": `Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response(${JSON.stringify(version)}) });\n`,
  };
}

/**
 * Starts a poller (its own process) waiting for `version` through nginx; resolves once it polls.
 * `seen()` gives the ms from `t0` (absolute, performance.timeOrigin-based) to its first sight.
 */
async function watchFor(url: string, host: string, version: string) {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "poll-until.ts"), url, host, version], { stdout: "pipe" });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  while (!out.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("poller exited early");
    out += decoder.decode(value);
  }
  return async (t0: number): Promise<number> => {
    for (;;) {
      const { value, done } = await reader.read();
      if (value) out += decoder.decode(value);
      if (done) break;
    }
    if ((await proc.exited) !== 0) throw new Error(`nginx never answered ${version}`);
    return Number(out.trim().split("\n").at(-1)) - t0;
  };
}

const now = () => performance.timeOrigin + performance.now();

async function measure(): Promise<{ warm: number[]; cold: number[] }> {
  const api = await createTestApi({ background: true });
  const cookie = await api.setupOwner();
  const repo = await createRepo(app("v0"), "main", "v0");
  const url = `http://127.0.0.1:${api.config.proxyPort}/`;
  const host = "rb.localhost";
  const job = async (path: string, body: unknown = {}) => {
    const res = await api.request("POST", `/api/v1/apps/rb/${path}`, { cookie, body });
    const done = await api.services.orchestrator.waitFor(res.body.job.id);
    if (done.status !== "succeeded") throw new Error(`${path} failed: ${done.error}`);
  };
  try {
    await api.request("POST", "/api/v1/apps", { cookie, body: { name: "rb", repoUrl: repo.url, watchSeconds: 0, drainSeconds: 1 } });
    await job("deploy");
    await repo.commit(app("v1"), "v1");
    await job("deploy");
    const releases = async () => (await api.request("GET", "/api/v1/apps/rb/releases", { cookie })).body.releases;
    const warm: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const rel = (await releases()).find((r: { status: string }) => r.status === "standby");
      const seen = await watchFor(url, host, rel.commitMessage);
      const t0 = now();
      const res = await api.request("POST", "/api/v1/apps/rb/rollback", { cookie, body: { releaseId: rel.id } });
      warm.push(await seen(t0));
      await api.services.orchestrator.waitFor(res.body.job.id);
    }
    await repo.commit(app("v2"), "v2");
    await job("deploy");
    const cold: number[] = [];
    for (let i = 0; i < 3; i++) {
      const rel = (await releases())
        .filter((r: { rollbackEligible: boolean; status: string }) => r.rollbackEligible && r.status === "retired")
        .at(-1);
      const seen = await watchFor(url, host, rel.commitMessage);
      const t0 = now();
      const res = await api.request("POST", "/api/v1/apps/rb/rollback", { cookie, body: { releaseId: rel.id } });
      cold.push(await seen(t0));
      await api.services.orchestrator.waitFor(res.body.job.id);
    }
    return { warm, cold };
  } finally {
    await api.close();
    repo.cleanup();
  }
}

async function inChild(db: "pglite" | "postgres"): Promise<{ warm: number[]; cold: number[] }> {
  const proc = Bun.spawn([process.execPath, import.meta.path, "--measure"], {
    env: { ...process.env, TEST_DB: db, SWITCHYARD_BCRYPT_COST: "4" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const text = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`rollback bench on ${db} failed`);
  return JSON.parse(text.trim().split("\n").at(-1) ?? "{}");
}

export async function rollbackBench(): Promise<string> {
  const rows: string[] = [];
  for (const db of ["pglite", "postgres"] as const) {
    if (db === "postgres" && !(await postgresReachable())) {
      rows.push("| PostgreSQL | not measured: no server | | | |");
      continue;
    }
    const { warm, cold } = await inChild(db);
    rows.push(
      `| ${db === "pglite" ? "PGlite" : "PostgreSQL"} | ${fmt(median(warm))} | ${fmt(Math.max(...warm))} | ${fmt(median(cold))} | ${fmt(Math.max(...cold))} |`,
    );
  }
  return `## Rollback

From \`POST /api/v1/apps/:app/rollback\` until nginx answers with the old version, polled on fresh
connections by a process of its own (so the panel's work cannot delay the observation), no load.
To the warm standby it is the switch alone: the panel that received the request starts the job at
once (no queue, no poll) and moves traffic before writing the rest; start and health are skipped.
${RUNS} warm runs and 3 cold ones (start → health → switch of a kept release) per database.

| database | warm median | warm max | cold median | cold max |
| --- | --- | --- | --- | --- |
${rows.join("\n")}`;
}

if (process.argv.includes("--measure")) {
  console.log(JSON.stringify(await measure()));
  process.exit(0);
}
