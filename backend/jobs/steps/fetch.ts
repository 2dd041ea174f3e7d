import { fetchSource } from "../../adapters/git.ts";
import { freshBuildDir } from "../../adapters/release-store.ts";
import { tokenOrigin } from "../../commands/git.ts";
import { appGitHubToken } from "../../db/queries/github.ts";
import { reportCommitStatus } from "../commit-status.ts";
import type { Step } from "../runner.ts";
import * as store from "../store.ts";
import type { DeployState } from "./build-state.ts";

/** The commit (the branch's newest, or the sha asked for) into a fresh build dir. */
export const fetchStep: Step<DeployState> = {
  name: "fetch",
  async run(ctx, state) {
    freshBuildDir(state.buildDir);
    const sha = typeof ctx.job.params.ref === "string" ? ctx.job.params.ref : null;
    ctx.log(`Fetching ${state.app.repoUrl} ${sha ? `at ${sha}` : `branch ${state.app.branch}`}`);
    const githubUrl = ctx.services.config.githubUrl;
    const auth = await appGitHubToken(ctx.services, state.app);
    if (auth && !tokenOrigin(state.app.repoUrl, githubUrl)) {
      ctx.log(`Not sending the GitHub token: ${state.app.repoUrl} is not on ${githubUrl} over https.`);
    }
    const head = await fetchSource({
      repoUrl: state.app.repoUrl,
      branch: state.app.branch,
      sha,
      dir: state.buildDir,
      token: auth?.token ?? null,
      githubUrl,
      onLine: (stream, line) => ctx.log(line, stream),
      signal: ctx.signal,
      timeoutMs: 10 * 60_000,
    });
    state.commit = { sha: head.commitSha, author: head.authorName, message: head.message };
    ctx.log(`Commit ${head.commitSha.slice(0, 12)} by ${head.authorName}: ${head.message}`);
    await store.updateBuild(ctx.services, state.buildId, {
      commitSha: head.commitSha,
      commitAuthor: head.authorName,
      commitMessage: head.message,
    });
    await reportCommitStatus(ctx, state.app, head.commitSha, "pending", "Deploying…");
  },
};
