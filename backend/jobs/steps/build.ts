import { projectFiles } from "../../adapters/project-files.ts";
import { detectStaticDir, STATIC_DIRS } from "../../domain/detect.ts";
import { JobFailed } from "../orchestrator.ts";
import type { Step } from "../runner.ts";
import type { DeployState } from "./build-state.ts";
import { runUserCommand } from "./user-command.ts";

/** The app's build script, with its env (secrets masked in the log); a static site's output dir is found. */
export const buildStep: Step<DeployState> = {
  name: "build",
  async run(ctx, state) {
    const detected = state.detected;
    if (!detected?.build) ctx.log("No build script.");
    else await runUserCommand(ctx, state, ["/bin/sh", "-c", detected.build], state.app.buildTimeoutSec);
    if (detected?.runtime === "static") {
      // Looked for again after the build: it may have written dist/ next to a public/ of sources.
      const dir = await detectStaticDir(projectFiles(state.buildDir), { allowRoot: !detected.build });
      if (!dir)
        throw new JobFailed(
          `The build produced no index.html (looked in ${STATIC_DIRS.map((d) => `${d}/`).join(", ")}); the repository root is served only when nothing is built. Set a start command, or make the build write one of those directories.`,
        );
      detected.staticDir = dir;
      ctx.log(`Serving static files from ${dir}`);
    }
  },
};
