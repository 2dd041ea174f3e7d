import { projectFiles } from "../../adapters/project-files.ts";
import { detectProject } from "../../domain/detect.ts";
import type { Step } from "../runner.ts";
import * as store from "../store.ts";
import type { DeployState } from "./build-state.ts";

/** What the repository is (Bun, Node, static) and how it installs, builds and starts. */
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
    });
    for (const note of state.detected.notes) ctx.log(note);
    await store.updateBuild(ctx.services, state.buildId, { runtime: state.detected.runtime });
  },
};
