import { join } from "node:path";
import { projectFiles } from "../../adapters/project-files.ts";
import { detectStaticDir, STATIC_DIRS } from "../../domain/detect.ts";
import { JobFailed } from "../orchestrator.ts";
import type { Step } from "../runner.ts";
import { appDir, buildBinDirs, type DeployState } from "./build-state.ts";
import { runUserCommand } from "./user-command.ts";

/** The app's build script, with its env (secrets masked in the log); a static site's output dir is found. */
export const buildStep: Step<DeployState> = {
  name: "build",
  async run(ctx, state) {
    const detected = state.detected;
    if (!detected?.build) ctx.log("No build script.");
    else
      await runUserCommand(ctx, state, ["/bin/sh", "-c", detected.build], state.app.buildTimeoutSec, {
        cwd: appDir(state),
        binDirs: buildBinDirs(state),
      });
    if (detected?.runtime !== "static") return;
    const files = projectFiles(state.buildDir);
    if (detected.staticDirFixed && detected.staticDir) {
      if (!files.exists(join(detected.staticDir, "index.html")))
        throw new JobFailed(
          `${detected.staticDir}/ has no index.html after the build. Check the output directory in the app's settings, or what the build writes.`,
        );
    } else {
      // Looked for again after the build: it may have written dist/ next to a public/ of sources.
      const dir = await detectStaticDir(projectFiles(appDir(state)), { allowRoot: !detected.build });
      if (!dir)
        throw new JobFailed(
          `The build produced no index.html (looked in ${STATIC_DIRS.map((d) => `${d}/`).join(", ")}); the repository root is served only when nothing is built. Set a start command or an output directory, or make the build write one of those directories.`,
        );
      detected.staticDir = detected.rootDir ? (dir === "." ? detected.rootDir : join(detected.rootDir, dir)) : dir;
    }
    ctx.log(`Serving static files from ${detected.staticDir}`);
  },
};
