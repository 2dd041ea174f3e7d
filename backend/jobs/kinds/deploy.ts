import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { eq, max } from "drizzle-orm";
import { run } from "../../adapters/exec.ts";
import { fetchSource } from "../../adapters/git.ts";
import { appSlots, findAppById, productionEnvironment } from "../../db/queries/apps.ts";
import { readEnvVars } from "../../db/queries/env.ts";
import { builds, type Release, releases } from "../../db/schema/index.ts";
import { detectProject, detectStaticDir, startArgv } from "../../domain/detect.ts";
import { renderEnvFile } from "../../domain/env.ts";
import { appGitHubToken } from "../../domain/github-apps.ts";
import { createMasker } from "../../domain/masking.ts";
import { type JobContext, JobFailed, type JobHandler } from "../orchestrator.ts";
import { reportCommitStatus } from "../steps/commit-status.ts";
import { appPaths } from "../steps/paths.ts";
import { setAppStatus } from "../steps/slots.ts";
import { buildEnv, type DeployState } from "../steps/state.ts";
import { GO_LIVE_STEPS, goLive } from "../steps/switch.ts";
import { toolsPath } from "../steps/tools.ts";

const STATIC_SERVER = join(import.meta.dir, "..", "..", "adapters", "static-server.ts");

export const DEPLOY_STEPS = ["fetch", "detect", "install", "build", "release", ...GO_LIVE_STEPS];

/** fetch → detect → install → build → release, then the release goes live (see goLive). */
export const deployHandler: JobHandler = {
  steps: () => DEPLOY_STEPS,
  async run(ctx) {
    const { db, config, masterKey } = ctx.services;
    const app = ctx.app ?? (ctx.job.appId ? await findAppById(db, ctx.job.appId) : null);
    if (!app) throw new JobFailed("The app no longer exists.");
    const environment = await productionEnvironment(db, app.id);
    const vars = await readEnvVars(db, masterKey, environment.id);
    ctx.maskWith(createMasker(vars.filter((v) => v.secret).map((v) => v.value)));
    const paths = appPaths(config.dataDir, app.name);
    const [build] = await db.insert(builds).values({ appId: app.id, jobId: ctx.job.id }).returning();
    if (!build) throw new Error("build insert returned nothing");
    const state: DeployState = { app, environment, vars, paths, buildId: build.id, buildDir: paths.build(ctx.job.id) };
    await setAppStatus(ctx, app, "building");
    try {
      await ctx.step("fetch", () => fetchStep(ctx, state));
      if (state.commit) await reportCommitStatus(ctx, app, state.commit.sha, "pending", "Deploying…");
      await ctx.step("detect", () => detectStep(ctx, state));
      await ctx.step("install", () => installStep(ctx, state));
      await ctx.step("build", () => buildStep(ctx, state));
      await ctx.step("release", () => releaseStep(ctx, state));
      await db.update(builds).set({ status: "succeeded", finishedAt: new Date() }).where(eq(builds.id, build.id));
      const release = state.release as Release;
      const { color, switchMs } = await goLive(ctx, state.app, release);
      await reportCommitStatus(ctx, app, release.commitSha, "success", `Live as v${release.number} (${color} slot)`);
      return { releaseId: release.id, releaseNumber: release.number, commitSha: release.commitSha, color, switchMs };
    } catch (error) {
      const cancelled = ctx.signal.aborted;
      const sha = state.commit?.sha ?? (typeof ctx.job.params.ref === "string" ? ctx.job.params.ref : null);
      if (sha) {
        const why = cancelled ? "Deploy cancelled" : `Deploy failed: ${(error as Error).message}`;
        await reportCommitStatus(ctx, app, sha, cancelled ? "error" : "failure", why);
      }
      await db
        .update(builds)
        .set({ status: cancelled ? "cancelled" : "failed", finishedAt: new Date() })
        .where(eq(builds.id, build.id));
      await rm(state.buildDir, { recursive: true, force: true });
      const current = await findAppById(db, app.id);
      if (current) await setAppStatus(ctx, current, (await appSlots(db, app.id)).some((s) => s.state === "live") ? "live" : "failed");
      throw error;
    }
  },
};

async function fetchStep(ctx: JobContext, state: DeployState): Promise<void> {
  await rm(state.buildDir, { recursive: true, force: true });
  await mkdir(dirname(state.buildDir), { recursive: true });
  const sha = typeof ctx.job.params.ref === "string" ? ctx.job.params.ref : null;
  ctx.log(`Fetching ${state.app.repoUrl} ${sha ? `at ${sha}` : `branch ${state.app.branch}`}`);
  const head = await fetchSource({
    repoUrl: state.app.repoUrl,
    branch: state.app.branch,
    sha,
    dir: state.buildDir,
    token: (await appGitHubToken(ctx.services, state.app))?.token ?? null,
    onLine: (stream, line) => ctx.log(line, stream),
    signal: ctx.signal,
    timeoutMs: 10 * 60_000,
  });
  state.commit = { sha: head.commitSha, author: head.authorName, message: head.message };
  ctx.log(`Commit ${head.commitSha.slice(0, 12)} by ${head.authorName}: ${head.message}`);
  await ctx.services.db
    .update(builds)
    .set({ commitSha: head.commitSha, commitAuthor: head.authorName, commitMessage: head.message })
    .where(eq(builds.id, state.buildId));
}

async function detectStep(ctx: JobContext, state: DeployState): Promise<void> {
  const { app } = state;
  state.detected = await detectProject(state.buildDir, {
    runtime: app.runtime,
    installCommand: app.installCommand,
    buildCommand: app.buildCommand,
    startCommand: app.startCommand,
  });
  for (const note of state.detected.notes) ctx.log(note);
  await ctx.services.db.update(builds).set({ runtime: state.detected.runtime }).where(eq(builds.id, state.buildId));
}

async function installStep(ctx: JobContext, state: DeployState): Promise<void> {
  const argv = state.detected?.install;
  if (!argv) {
    ctx.log("Nothing to install.");
    return;
  }
  await mkdir(state.paths.bunCache, { recursive: true });
  await runUserCommand(ctx, state, argv, state.app.buildTimeoutSec);
}

async function buildStep(ctx: JobContext, state: DeployState): Promise<void> {
  const detected = state.detected;
  if (!detected?.build) {
    ctx.log("No build script.");
  } else {
    await runUserCommand(ctx, state, ["/bin/sh", "-c", detected.build], state.app.buildTimeoutSec);
  }
  if (detected?.runtime === "static") {
    const dir = detected.staticDir ?? (await detectStaticDir(state.buildDir));
    if (!dir)
      throw new JobFailed(
        "The build produced no index.html (looked in ., dist/, build/, public/, out/); set a start command or an output directory.",
      );
    detected.staticDir = dir;
    ctx.log(`Serving static files from ${dir}`);
  }
}

async function runUserCommand(ctx: JobContext, state: DeployState, argv: string[], timeoutSec: number): Promise<void> {
  ctx.log(`$ ${argv[0] === "/bin/sh" ? argv.slice(2).join(" ") : argv.join(" ")}`);
  const result = await run(argv, {
    cwd: state.buildDir,
    env: { ...buildEnv(state), PATH: `${state.buildDir}/node_modules/.bin:${toolsPath(ctx.services.config.dataDir)}` },
    signal: ctx.signal,
    timeoutMs: timeoutSec * 1000,
    onLine: (stream, line) => ctx.log(line, stream),
    pidFile: `${state.buildDir}.pid`,
  });
  ctx.throwIfCancelled();
  if (result.timedOut) throw new JobFailed(`${argv.join(" ")} did not finish within ${timeoutSec} s.`);
  if (result.code !== 0) {
    throw new JobFailed(`${argv[0] === "/bin/sh" ? argv[2] : argv.join(" ")} exited with ${result.code ?? result.signalCode}.`);
  }
}

async function releaseStep(ctx: JobContext, state: DeployState): Promise<void> {
  const { db } = ctx.services;
  const detected = state.detected;
  if (!detected || !state.commit) throw new Error("release step without detect/fetch");
  const [row] = await db
    .select({ n: max(releases.number) })
    .from(releases)
    .where(eq(releases.appId, state.app.id));
  const releaseId = crypto.randomUUID();
  const dir = state.paths.release(releaseId);
  const start =
    detected.runtime === "static" ? [process.execPath, STATIC_SERVER, detected.staticDir ?? "."] : startArgv(detected.start ?? "");
  await mkdir(state.paths.releases, { recursive: true });
  await rename(state.buildDir, dir);
  await mkdir(state.paths.envDir, { recursive: true, mode: 0o700 });
  const envFile = state.paths.releaseEnv(releaseId);
  await writeFile(envFile, renderEnvFile(state.vars.map(({ key, value }) => ({ key, value }))), { mode: 0o600 });
  const [release] = await db
    .insert(releases)
    .values({
      id: releaseId,
      appId: state.app.id,
      environmentId: state.environment.id,
      buildId: state.buildId,
      number: (row?.n ?? 0) + 1,
      commitSha: state.commit.sha,
      commitMessage: state.commit.message,
      commitAuthor: state.commit.author,
      runtime: detected.runtime,
      startCommand: start,
      dir,
      envFile,
    })
    .returning();
  state.release = release;
  ctx.log(`Release v${release?.number} (${releaseId}) with ${state.vars.length} environment variable(s).`);
}
