import { join } from "node:path";
import { ensureDir } from "../../adapters/release-store.ts";
import type { Step } from "../runner.ts";
import { installRuntimes, packageManagerBin } from "../runtimes.ts";
import { toolsPath } from "../tools.ts";
import { buildBinDirs, type DeployState } from "./build-state.ts";
import { runUserCommand } from "./user-command.ts";

/** The pinned runtimes and the package manager (from npm when missing), then the app's dependencies, with a shared cache. */
export const installStep: Step<DeployState> = {
  name: "install",
  async run(ctx, state) {
    const { dataDir } = ctx.services.config;
    const log = (line: string) => ctx.log(line);
    state.runtimes = await installRuntimes(dataDir, state.resolved ?? { bun: null, node: null }, log, ctx.signal);
    const argv = state.detected?.install;
    if (!argv) {
      ctx.log("Nothing to install.");
      return;
    }
    const pm = state.detected?.packageManager;
    if (pm && !state.app.installCommand) {
      const path = [...state.runtimes.binDirs, toolsPath(dataDir)].join(":");
      const bin = await packageManagerBin(dataDir, pm, path, log, ctx.signal);
      state.toolBins = bin ? [bin] : [];
    }
    ensureDir(state.paths.bunCache);
    ensureDir(state.paths.npmCache);
    const installDir = state.detected?.installDir ?? ".";
    await runUserCommand(ctx, state, argv, state.app.buildTimeoutSec, {
      cwd: installDir === "." ? state.buildDir : join(state.buildDir, installDir),
      binDirs: buildBinDirs(state),
    });
  },
};
