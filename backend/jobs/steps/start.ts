import { readFile, writeFile } from "node:fs/promises";
import { readEnvVars } from "../../db/queries/env.ts";
import type { App, Release, Slot } from "../../db/schema/index.ts";
import { parseEnvFile, renderEnvFile } from "../../domain/env.ts";
import { type JobContext, JobFailed } from "../orchestrator.ts";
import { appPaths } from "./paths.ts";
import { setSlot } from "./slots.ts";
import { toolsPath } from "./tools.ts";

/** Starts `release` in `slot`: its env snapshot plus PORT, through the runtime. */
export async function startSlot(ctx: JobContext, app: App, release: Release, slot: Slot): Promise<void> {
  const { config, runtime, db, masterKey } = ctx.services;
  const paths = appPaths(config.dataDir, app.name);
  const snapshot = parseEnvFile(await readFile(release.envFile, "utf8"));
  const slotEnv = paths.slotEnv(slot.color);
  const vars = Object.entries({
    PATH: `${release.dir}/node_modules/.bin:${toolsPath(config.dataDir)}`,
    NODE_ENV: "production",
    ...snapshot,
    PORT: String(slot.port),
    HOST: "127.0.0.1",
  }).map(([key, value]) => ({ key, value }));
  await writeFile(slotEnv, renderEnvFile(vars), { mode: 0o600 });
  // Mask both today's secrets and the ones the snapshot was taken with.
  const environment = await readEnvVars(db, masterKey, release.environmentId);
  const secrets = environment.filter((v) => v.secret).map((v) => v.value);
  await setSlot(ctx, app, slot.color, "starting", release.id);
  ctx.log(`Starting v${release.number} in the ${slot.color} slot on port ${slot.port}: ${release.startCommand.join(" ")}`);
  await runtime.start({
    app: app.name,
    color: slot.color,
    releaseId: release.id,
    releaseDir: release.dir,
    command: release.startCommand,
    envFile: slotEnv,
    port: slot.port,
    socketPath: ctx.services.proxy.paths.slotSocket(app.name, slot.color),
    secrets,
    memoryMax: app.memoryMax,
    cpuQuota: app.cpuQuota,
  });
}

/**
 * Polls the health path every `healthIntervalMs` until it answers 2xx/3xx `healthSuccesses`
 * times in a row, the process dies, or the timeout passes. Each kind of refusal is logged once,
 * so the log says why it never became healthy.
 */
export async function waitHealthy(ctx: JobContext, app: App, slot: Slot): Promise<void> {
  const url = `http://127.0.0.1:${slot.port}${app.healthPath}`;
  const deadline = Date.now() + app.healthTimeoutSec * 1000;
  let lastProblem = "";
  ctx.log(`Waiting for ${url} to answer 2xx/3xx (up to ${app.healthTimeoutSec} s)`);
  const started = performance.now();
  let streak = 0;
  while (Date.now() < deadline) {
    ctx.throwIfCancelled();
    const status = await ctx.services.runtime.status(app.name, slot.color);
    if (status.state === "crashed" || status.state === "stopped" || (status.state === "restarting" && status.restarts > 0)) {
      const tail = await ctx.services.runtime.logs(app.name, slot.color, { lines: 20 }).catch(() => []);
      for (const line of tail) ctx.log(line, "stderr");
      const exit = status.lastExit ? ` (exit ${status.lastExit.code ?? status.lastExit.signal})` : "";
      throw new JobFailed(`The app exited before it became healthy${exit}; its last output is above.`);
    }
    let problem: string;
    try {
      const res = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status >= 200 && res.status < 400) {
        if (++streak >= app.healthSuccesses) {
          ctx.log(`Healthy: ${res.status} after ${Math.round(performance.now() - started)} ms`);
          return;
        }
        await Bun.sleep(app.healthIntervalMs);
        continue;
      }
      problem = `answered ${res.status}`;
    } catch (error) {
      problem = (error as Error).name === "TimeoutError" ? "did not answer within 2 s" : "is not accepting connections yet";
    }
    streak = 0;
    if (problem !== lastProblem) ctx.log(`${url} ${problem}`);
    lastProblem = problem;
    await Bun.sleep(app.healthIntervalMs);
  }
  throw new JobFailed(`${url} did not become healthy within ${app.healthTimeoutSec} s (last: ${lastProblem}).`);
}
