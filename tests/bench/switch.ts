import { createRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { fmt, median } from "./stats.ts";

const SWITCHES = 10;
const LOAD_SECONDS = 40;

function app(version: string) {
  return {
    "package.json": JSON.stringify({ name: "b", private: true, scripts: { start: "bun server.ts" } }),
    "server.ts": `Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response(${JSON.stringify(version)}) });\n`,
  };
}

interface Wrk {
  requests: number;
  non2xx: number;
  socketErrors: number;
  detail: string;
}

function startWrk(url: string, host: string, close: boolean, seconds: number) {
  const proc = Bun.spawn(
    ["wrk", "-t2", "-c50", `-d${seconds}s`, "--latency", "-H", `Host: ${host}`, ...(close ? ["-H", "Connection: close"] : []), url],
    { stdout: "pipe", stderr: "pipe" },
  );
  return async (): Promise<Wrk> => {
    const text = await new Response(proc.stdout).text();
    await proc.exited;
    const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const sockets = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
    const socketErrors = sockets ? sockets.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
    return {
      requests: num(/(\d+) requests in/),
      non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
      socketErrors,
      detail: sockets ? sockets[0] : "no socket errors",
    };
  };
}

async function job(api: TestApi, cookie: string, path: string, body: unknown = {}) {
  const res = await api.request("POST", `/api/v1/apps/bg/${path}`, { cookie, body });
  if (!res.body.job) throw new Error(`${path} was refused: ${JSON.stringify(res.body)}`);
  const done = await api.services.orchestrator.waitFor(res.body.job.id);
  if (done.status !== "succeeded") throw new Error(`${path} failed: ${done.error}`);
  return done;
}

/** Polls through nginx (fresh connections) until the app answers `version`; ms from `t0`. */
async function until(url: string, host: string, version: string, t0: number): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`nginx never answered ${version}`);
    const res = await fetch(url, { headers: { host, connection: "close" }, keepalive: false });
    if ((await res.text()) === version) return performance.now() - t0;
    await Bun.sleep(2);
  }
}

export async function switchBench(): Promise<string> {
  const api = await createTestApi({ background: true });
  const cookie = await api.setupOwner();
  const repo = await createRepo(app("v0"), "main", "v0");
  await api.request("POST", "/api/v1/apps", { cookie, body: { name: "bg", repoUrl: repo.url, watchSeconds: 0, drainSeconds: 3 } });
  const url = `http://127.0.0.1:${api.config.proxyPort}/`;
  const host = "bg.localhost";
  const lines: string[] = [];
  try {
    await job(api, cookie, "deploy");
    await repo.commit(app("v1"), "v1");
    await job(api, cookie, "deploy");

    const underLoad: string[] = [];
    const switchMs: number[] = [];
    for (const close of [false, true]) {
      const stop = startWrk(url, host, close, LOAD_SECONDS);
      await Bun.sleep(1000);
      for (let i = 0; i < SWITCHES; i++) {
        if (i % 2 === 0) {
          await repo.commit(app(`load-${close}-${i}`), `load-${close}-${i}`);
          switchMs.push(Number((await job(api, cookie, "deploy")).result?.switchMs));
        } else {
          const rel = (await api.request("GET", "/api/v1/apps/bg/releases", { cookie })).body.releases.find(
            (r: { status: string }) => r.status === "standby",
          );
          switchMs.push(Number((await job(api, cookie, "rollback", { releaseId: rel.id })).result?.switchMs));
        }
      }
      const w = await stop();
      underLoad.push(
        `| blue-green switch (symlink, no reload), ${close ? "Connection: close" : "keep-alive"} | ${w.requests} | ${SWITCHES} | ${w.non2xx} | ${w.socketErrors} (${w.detail}) |`,
      );
    }
    for (const close of [false, true]) {
      const stop = startWrk(url, host, close, 20);
      await Bun.sleep(1000);
      const nginx = api.services.proxy;
      for (let i = 0; i < SWITCHES; i++) {
        await nginx.configureApp("bg", { serverNames: [`reload-${i}.example.com`], preview: true });
        await Bun.sleep(1500);
      }
      const w = await stop();
      underLoad.push(
        `| baseline: \`nginx -s reload\` ×${SWITCHES}, no switch, ${close ? "Connection: close" : "keep-alive"} | ${w.requests} | 0 | ${w.non2xx} | ${w.socketErrors} (${w.detail}) |`,
      );
    }
    await api.services.proxy.configureApp("bg", { serverNames: [], preview: true });

    const warm: number[] = [];
    for (let i = 0; i < 10; i++) {
      const rel = (await api.request("GET", "/api/v1/apps/bg/releases", { cookie })).body.releases.find(
        (r: { status: string }) => r.status === "standby",
      );
      const t0 = performance.now();
      const res = await api.request("POST", "/api/v1/apps/bg/rollback", { cookie, body: { releaseId: rel.id } });
      warm.push(await until(url, host, rel.commitMessage, t0));
      await api.services.orchestrator.waitFor(res.body.job.id);
    }
    const cold: number[] = [];
    for (let i = 0; i < 3; i++) {
      const all = (await api.request("GET", "/api/v1/apps/bg/releases", { cookie })).body.releases;
      const rel = all.filter((r: { rollbackEligible: boolean; status: string }) => r.rollbackEligible && r.status === "retired").at(-1);
      const t0 = performance.now();
      const res = await api.request("POST", "/api/v1/apps/bg/rollback", { cookie, body: { releaseId: rel.id } });
      cold.push(await until(url, host, rel.commitMessage, t0));
      await api.services.orchestrator.waitFor(res.body.job.id);
    }
    lines.push(`## Blue-green switch through nginx

Load: \`wrk -t2 -c50\` through the panel's nginx to a Bun app for ${LOAD_SECONDS} s while ${SWITCHES} switches happen
(alternately a deploy of a new version and a rollback to the warm standby); the baseline is the same
load against ${SWITCHES} plain nginx reloads with no switch.

| run | requests | switches | non-2xx | socket errors |
| --- | --- | --- | --- | --- |
${underLoad.join("\n")}

| latency | median | max |
| --- | --- | --- |
| switch: health passed → traffic on the new slot (symlink + confirming request through nginx), ${switchMs.length} switches | ${fmt(median(switchMs))} | ${fmt(Math.max(...switchMs))} |
| rollback to the warm standby: \`POST /rollback\` → nginx answers with the old version, ${warm.length} runs | ${fmt(median(warm))} | ${fmt(Math.max(...warm))} |
| rollback to a cold release (start → health → switch), ${cold.length} runs | ${fmt(median(cold))} | ${fmt(Math.max(...cold))} |`);
  } finally {
    await api.close();
    repo.cleanup();
  }
  return lines.join("\n");
}
