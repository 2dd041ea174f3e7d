import { appGitHubToken } from "../db/queries/github.ts";
import type { App } from "../db/schema/index.ts";
import { splitRepo } from "../domain/github-apps.ts";
import type { JobContext } from "./orchestrator.ts";

export type CommitState = "pending" | "success" | "failure" | "error";

/**
 * Tells GitHub how the deploy of a commit went (pending → success/failure), linking to the job.
 * Never fails the deploy: a refused or unreachable GitHub is only logged.
 */
export async function reportCommitStatus(ctx: JobContext, app: App, sha: string, state: CommitState, description: string): Promise<void> {
  const { github, config, log } = ctx.services;
  if (!github || !app.githubRepo) return;
  try {
    const auth = await appGitHubToken(ctx.services, app);
    if (!auth) return;
    const { owner, repo } = splitRepo(app.githubRepo);
    const targetUrl = new URL(`/apps/${app.name}?job=${ctx.job.id}`, config.publicUrl).toString();
    await github.commitStatus(auth.token, owner, repo, sha, { state, targetUrl, description, context: `switchyard/${app.name}` });
  } catch (error) {
    log.warn("could not post the commit status to GitHub", { app: app.name, state, error: (error as Error).message });
  }
}
