import { projectFiles } from "../../adapters/project-files.ts";
import { detectProject } from "../../domain/detect.ts";
import type { Step } from "../runner.ts";
import { resolveRuntimes } from "../runtimes.ts";
import * as store from "../store.ts";
import type { DeployState } from "./build-state.ts";

/** What the repository is (framework, package manager, runtime versions) and how it installs, builds and starts. */
export const detectStep: Step<DeployState> = {
  name: "detect",
  async run(ctx, state) {
    const { app } = state;
    state.detected = await detectProject(projectFiles(state.buildDir), {
      runtime: app.runtime,
      installCommand: app.installCommand,
      buildCommand: app.buildCommand,
      startCommand: app.startCommand,
      releaseCommand: app.releaseCommand,
      rootDir: app.rootDir,
      outputDir: app.outputDir,
      packageManager: app.packageManager,
      bunVersion: app.bunVersion,
      nodeVersion: app.nodeVersion,
    });
    for (const note of state.detected.notes) ctx.log(note);
    // A version nothing satisfies fails here, before anything is downloaded or built.
    state.resolved = await resolveRuntimes(state.detected.runtimes, ctx.signal);
    for (const r of [state.resolved.bun, state.resolved.node]) {
      if (r) ctx.log(`${r.name === "bun" ? "Bun" : "Node"} ${r.range} resolves to ${r.version}.`);
    }
    await store.updateBuild(ctx.services, state.buildId, { runtime: state.detected.runtime });
  },
};
