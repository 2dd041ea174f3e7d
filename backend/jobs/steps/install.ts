import { ensureDir } from "../../adapters/release-store.ts";
import type { Step } from "../runner.ts";
import type { DeployState } from "./build-state.ts";
import { runUserCommand } from "./user-command.ts";

/** The app's dependencies, with a shared cache. */
export const installStep: Step<DeployState> = {
  name: "install",
  async run(ctx, state) {
    const argv = state.detected?.install;
    if (!argv) {
      ctx.log("Nothing to install.");
      return;
    }
    ensureDir(state.paths.bunCache);
    await runUserCommand(ctx, state, argv, state.app.buildTimeoutSec);
  },
};
