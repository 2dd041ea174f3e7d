import { join } from "node:path";
import { promoteBuild, writeEnvSnapshot } from "../../adapters/release-store.ts";
import { startArgv } from "../../domain/detect.ts";
import { renderEnvFile } from "../../domain/env.ts";
import type { Step } from "../runner.ts";
import { releaseSecretDetails } from "../secrets.ts";
import * as store from "../store.ts";
import { planGoLive } from "../targets/app.ts";
import { attachVolumes } from "../volumes.ts";
import type { DeployState } from "./build-state.ts";

/** The release's runtimes, package manager, framework and root directory, as its details record them. */
function buildDetails(state: DeployState, dir: string): Record<string, unknown> {
  const detected = state.detected;
  const runtimes = state.runtimes ?? { bun: null, node: null, binDirs: [] };
  // A monorepo package's own node_modules/.bin is not the release root's: its processes need it too.
  const ownBins = detected?.rootDir ? [join(dir, detected.rootDir, "node_modules", ".bin")] : [];
  return {
    versions: { ...runtimes, binDirs: [...ownBins, ...runtimes.binDirs] },
    ...(detected?.packageManager ? { packageManager: detected.packageManager.name } : {}),
    ...(detected?.framework ? { framework: detected.framework.id } : {}),
    ...(detected?.rootDir ? { rootDir: detected.rootDir } : {}),
  };
}

/** The build dir becomes releases/<id>, with the env snapshot it runs with (0600) and the list of its secret keys. */
export const releaseStep: Step<DeployState> = {
  name: "release",
  async run(ctx, state) {
    const detected = state.detected;
    if (!detected || !state.commit) throw new Error("release step without detect/fetch");
    const releaseId = crypto.randomUUID();
    const dir = state.paths.release(releaseId);
    if (detected.runtime === "static" && !detected.staticDir) throw new Error("release step without a static site's directory");
    // A static site runs nothing: nginx serves its output directory (targets/static.ts).
    const start = detected.runtime === "static" ? [] : startArgv(detected.start ?? "", detected.rootDir);
    promoteBuild(state.buildDir, dir);
    // Before the release command and the start, so both find the app's data where it left it.
    attachVolumes(ctx.services, state.app, dir, (line) => ctx.log(line));
    const envFile = state.paths.releaseEnv(releaseId);
    writeEnvSnapshot(envFile, renderEnvFile(state.vars.map(({ key, value }) => ({ key, value }))));
    const release = await store.createRelease(ctx.services, {
      id: releaseId,
      appId: state.app.id,
      environmentId: state.environment.id,
      buildId: state.buildId,
      commitSha: state.commit.sha,
      commitMessage: state.commit.message,
      commitAuthor: state.commit.author,
      runtime: detected.runtime,
      startCommand: start,
      dir,
      envFile,
      // The release command it was deployed with, for running it again later (see kinds/release-command.ts),
      // and its worker processes (the Procfile's other lines), which run beside the web after its switch.
      details: {
        ...releaseSecretDetails(state.vars),
        ...(detected.runtime === "static" ? { staticDir: detected.staticDir } : {}),
        ...(detected.release ? { releaseCommand: detected.release } : {}),
        ...(Object.keys(detected.processes ?? {}).length > 0 ? { processes: detected.processes } : {}),
        // How it was built, shown with the release; versions.binDirs go first on PATH of its every process.
        ...buildDetails(state, dir),
      },
    });
    state.release = release;
    state.golive = await planGoLive(ctx.services, state.app, release);
    ctx.log(`Release v${release.number} (${releaseId}) with ${state.vars.length} environment variable(s).`);
  },
};
