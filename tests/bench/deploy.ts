import { bunApp, createRepo } from "../helpers/git-repo.ts";
import { createTestApi } from "../helpers/panel.ts";
import { fmt, median } from "./stats.ts";

const RUNS = 5;

/**
 * Wall time of each deploy step for the reference Bun app (tests/helpers/git-repo.ts bunApp:
 * no dependencies, a one-line build, Bun.serve), and the platform's own overhead: the total
 * minus what the app's own install, build and boot take.
 */
export async function deployBench(): Promise<string> {
  const api = await createTestApi({ background: true });
  const cookie = await api.setupOwner();
  const repo = await createRepo(bunApp("v0"));
  await api.request("POST", "/api/v1/apps", { cookie, body: { name: "bench", repoUrl: repo.url, watchSeconds: 0, drainSeconds: 0 } });
  const byStep = new Map<string, number[]>();
  const totals: number[] = [];
  const overheads: number[] = [];
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      await repo.commit(bunApp(`v${i + 1}`), `v${i + 1}`);
      const started = performance.now();
      const res = await api.request("POST", "/api/v1/apps/bench/deploy", { cookie, body: {} });
      await api.services.orchestrator.waitFor(res.body.job.id);
      const total = performance.now() - started;
      const { job, steps } = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body;
      if (job.status !== "succeeded") throw new Error(`bench deploy failed: ${job.error}`);
      if (i === 0) continue; // the first run warms the caches
      totals.push(total);
      let appOwn = 0;
      for (const s of steps as Array<{ name: string; status: string; durationMs: number | null }>) {
        if (s.status !== "succeeded" || s.durationMs === null) continue;
        byStep.set(s.name, [...(byStep.get(s.name) ?? []), s.durationMs]);
        if (s.name === "install" || s.name === "build" || s.name === "health") appOwn += s.durationMs;
      }
      overheads.push(total - appOwn);
    }
  } finally {
    await api.close();
    repo.cleanup();
  }
  const rows = [...byStep].map(([name, values]) => `| ${name} | ${fmt(median(values))} | ${fmt(Math.max(...values))} |`);
  return `## Deploy steps (reference Bun app, PGlite, local process runtime)

Median and max of ${RUNS} deploys (after one warm-up) from \`POST /deploy\` to the job's end; each
step as recorded in the job. "Overhead" is the total minus install, build and health (the app's
own install, build and boot). The drain and watch windows are set to 0 here: they are waits the
user chooses (10 s and 60 s by default), not work.

| step | median | max |
| --- | --- | --- |
${rows.join("\n")}
| **total** | ${fmt(median(totals))} | ${fmt(Math.max(...totals))} |
| **platform overhead** | ${fmt(median(overheads))} | ${fmt(Math.max(...overheads))} |`;
}
