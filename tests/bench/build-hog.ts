/**
 * A memory-hungry, CPU-bound build beside a running app: the app's latency under steady light
 * load with no build, with the build running through a deploy (nice, ionice and the build memory
 * limit on), and with the same build run plainly (limits off), for comparison.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildIoClass, run } from "../../backend/adapters/exec.ts";
import { createRepo } from "../helpers/git-repo.ts";
import { createTestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";
import { fmt } from "./stats.ts";
import { machineFacts, type PacedResult, paced } from "./traffic.ts";

const RATE = 100;
const CONNECTIONS = 4;
const SECONDS = 15;
/** The build outlasts the measurement: it is still busy when wrk stops. */
const HOG_SECONDS = SECONDS + 10;
const HOG_MIB = 1536;

/** Holds ~1.5 GiB (touched, so resident) and keeps both cores busy with two children. */
const HOG = `const seconds = Number(process.env.HOG_SECONDS ?? 20);
const held = [];
for (let i = 0; i < ${HOG_MIB / 4}; i++) held.push(Buffer.alloc(4 * 1024 * 1024, i & 0xff));
const burn = "const end = Date.now() + " + seconds * 1000 + "; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1);";
const children = [0, 1].map(() => Bun.spawn([process.execPath, "-e", burn], { stdout: "inherit" }));
console.log("hog holding " + held.length * 4 + " MiB, burning 2 cores");
const end = Date.now() + seconds * 1000;
let x = 0;
while (Date.now() < end) { x += held[x % held.length].length; await Bun.sleep(100); }
await Promise.all(children.map((c) => c.exited));
console.log("hog done");
`;

const SERVER = `Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response("ok") });\n`;

function ioWords(): string {
  const io = buildIoClass();
  return io === "idle" ? "`ionice` idle class" : io === "best-effort" ? "`ionice` best-effort 7" : "no ionice (not available)";
}

function measureLoad(url: string, host: string): Promise<PacedResult> {
  return paced({ url, rate: RATE, seconds: SECONDS, connections: CONNECTIONS, headers: { Host: host } }).done;
}

export async function buildHogBench(): Promise<string> {
  const facts = await machineFacts();
  const busy = Number((await Bun.file("/proc/loadavg").text()).split(" ")[0]) > navigator.hardwareConcurrency;
  const api = await createTestApi({ background: true });
  const cookie = await api.setupOwner();
  const web = await createRepo({
    "package.json": JSON.stringify({ name: "web", private: true, scripts: { start: "bun server.ts" } }),
    "server.ts": SERVER,
  });
  const builder = await createRepo({
    "package.json": JSON.stringify({ name: "builder", private: true, scripts: { build: "bun hog.ts", start: "bun server.ts" } }),
    "server.ts": SERVER,
    "hog.ts": HOG,
  });
  const plain = mkdtempSync(join(tmpdir(), "sy-bench-hog-"));
  const url = `http://127.0.0.1:${api.config.proxyPort}/`;
  const host = "web.localhost";
  const deploy = async (app: string) => {
    const res = await api.request("POST", `/api/v1/apps/${app}/deploy`, { cookie, body: {} });
    return res.body.job.id as string;
  };
  const logOf = async (jobId: string) =>
    ((await api.request("GET", `/api/v1/jobs/${jobId}/logs`, { cookie })).body.lines as Array<{ line: string }>)
      .map((l) => l.line)
      .join("\n");
  try {
    for (const [name, repo] of [
      ["web", web],
      ["builder", builder],
    ] as const) {
      const res = await api.request("POST", "/api/v1/apps", {
        cookie,
        body: { name, repoUrl: repo.url, watchSeconds: 0, drainSeconds: 1 },
      });
      if (res.status !== 201) throw new Error(`creating ${name}: ${JSON.stringify(res.body)}`);
    }
    await api.request("PUT", "/api/v1/apps/builder/env", {
      cookie,
      body: { vars: [{ key: "HOG_SECONDS", value: String(HOG_SECONDS), secret: false }] },
    });
    const settings = await api.request("PUT", "/api/v1/settings/builds", { cookie, body: { concurrency: 1, memoryMaxMb: 2048 } });
    if (settings.status !== 200) throw new Error(`build settings: ${JSON.stringify(settings.body)}`);
    const first = await api.services.orchestrator.waitFor(await deploy("web"), 300_000);
    if (first.status !== "succeeded") throw new Error(`deploying web: ${first.error}`);

    const answer = await fetch(url, { headers: { host } });
    if (answer.status !== 200) throw new Error(`web answers ${answer.status} through nginx`);
    // Warm the path, then the figures without a build.
    await paced({ url, rate: RATE, seconds: 3, connections: CONNECTIONS, headers: { Host: host } }).done;
    const quiet = await measureLoad(url, host);

    // The build through a deploy: runAppCommand with nice, ionice and the memory watch.
    const job = await deploy("builder");
    await waitFor(async () => (await logOf(job)).includes("hog holding"), {
      timeoutMs: 300_000,
      intervalMs: 200,
      what: "the build to hold its memory",
    });
    const limited = await measureLoad(url, host);
    const built = await api.services.orchestrator.waitFor(job, 300_000);
    if (built.status !== "succeeded") throw new Error(`the limited build failed: ${built.error}`);

    // The same build run plainly: no nice, no ionice, no ceiling.
    writeFileSync(join(plain, "hog.ts"), HOG);
    let holding: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      holding = resolve;
    });
    const plainRun = run([process.execPath, "hog.ts"], {
      cwd: plain,
      env: { ...process.env, HOG_SECONDS: String(HOG_SECONDS) },
      onLine: (_stream, line) => {
        if (line.startsWith("hog holding")) holding();
      },
    });
    await started;
    const unlimited = await measureLoad(url, host);
    await plainRun;

    for (const r of [quiet, limited, unlimited])
      if (r.non2xx + r.socketErrors > r.requests / 10) throw new Error(`most requests failed: ${JSON.stringify(r)}`);
    const row = (what: string, r: PacedResult) =>
      `| ${what} | ${r.requests} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.non2xx + r.socketErrors} |`;
    const ratio = (r: PacedResult) => (quiet.p99 > 0 ? r.p99 / quiet.p99 : Number.NaN);
    const holds = ratio(limited) <= 2;
    return `## Builds beside a running app

A Bun app behind nginx under steady light load (wrk at ${RATE} requests/s over ${CONNECTIONS} connections,
${SECONDS} s each, latency from the write of a request to its answer), first alone, then while a
build holds ${HOG_MIB} MiB and keeps both cores busy for ${HOG_SECONDS} s. "Limits on" is the build as a
deploy runs it (runAppCommand: the idle scheduling class, \`nice -n 10\`, ${ioWords()}, the build memory limit of
2048 MiB watched); "limits off" is the same program started plainly. ${facts}.

| build | requests | p50 | p99 | max | errors |
|---|---|---|---|---|---|
${row("none", quiet)}
${row("limits on", limited)}
${row("limits off", unlimited)}

p99 with the limited build is ${ratio(limited).toFixed(2)}× the p99 without a build (goal ≤ 2×: ${holds ? "holds" : "does not hold"});
with the build run plainly it is ${ratio(unlimited).toFixed(2)}×. On a server the build runs in a systemd scope
(CPUWeight=20, IOWeight=20, MemoryMax=) instead, which this machine, without systemd, cannot measure.${busy ? "\nThe machine was busy with other work when this ran (a load average above its core count): the\nrows differ by its noise as much as by the build." : ""}`;
  } finally {
    await api.close();
    web.cleanup();
    builder.cleanup();
    rmSync(plain, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  console.log(await buildHogBench());
  process.exit(0);
}
