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

Rollback latency, on PGlite and PostgreSQL, is in the Rollback section.`);
  } finally {
    await api.close();
    repo.cleanup();
  }
  return lines.join("\n");
}
