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

const STATIC_SERVER = join(import.meta.dir, "..", "..", "adapters", "static-server.ts");

/** The build dir becomes releases/<id>, with the env snapshot it runs with (0600) and the list of its secret keys. */
export const releaseStep: Step<DeployState> = {
  name: "release",
  async run(ctx, state) {
    const detected = state.detected;
    if (!detected || !state.commit) throw new Error("release step without detect/fetch");
    const releaseId = crypto.randomUUID();
    const dir = state.paths.release(releaseId);
    if (detected.runtime === "static" && !detected.staticDir) throw new Error("release step without a static site's directory");
    const start =
      detected.runtime === "static" ? [process.execPath, STATIC_SERVER, detected.staticDir as string] : startArgv(detected.start ?? "");
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
      // The release command it was deployed with, for running it again later (see kinds/release-command.ts).
      details: { ...releaseSecretDetails(state.vars), ...(detected.release ? { releaseCommand: detected.release } : {}) },
    });
    state.release = release;
    state.golive = await planGoLive(ctx.services, state.app, release);
    ctx.log(`Release v${release.number} (${releaseId}) with ${state.vars.length} environment variable(s).`);
  },
};
