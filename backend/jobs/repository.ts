/**
 * A repository before an app is made from it: is it there, has it the branch (`git ls-remote`),
 * and what would a deploy of it detect (a throwaway shallow checkout, through the deploy's fetch).
 * GitHub tokens go only where a deploy's fetch would send them (GITHUB_URL's origin, as a header).
 */
import { checkRepository, GitError, withCheckout } from "../adapters/git.ts";
import { projectFiles } from "../adapters/project-files.ts";
import type { DetectPreview, ProjectPreview } from "../contract/api.ts";
import { accountById, accountForUser, accountToken } from "../db/queries/github.ts";
import type { DetectSettings } from "../domain/detect.ts";
import { previewProject } from "../domain/preview.ts";
import type { Services } from "../services.ts";
import { JobFailed } from "./orchestrator.ts";
import { resolveRuntimes } from "./runtimes.ts";

/** How long `git ls-remote` may take before the repository counts as unreachable. */
export const CHECK_TIMEOUT_MS = 20_000;
/** How long the preview's shallow clone may take. */
export const PREVIEW_FETCH_TIMEOUT_MS = 90_000;

/** The repository or branch an app would be made from is not usable; `field` is the setting to fix. */
export class RepositoryProblem extends Error {
  override name = "RepositoryProblem";
  constructor(
    readonly field: "repoUrl" | "branch",
    message: string,
    /** For a missing branch: a few that exist. */
    readonly branches: string[] = [],
  ) {
    super(message);
  }
}

interface Source {
  repoUrl: string;
  branch: string;
  /** The GitHub account whose token a deploy would fetch with (an app made from a GitHub repository). */
  githubAccountId?: string | null;
  /** Or: the signed-in user, whose connected account's token may be sent (previews). */
  userId?: string | null;
}

async function tokenFor(services: Services, source: Source): Promise<string | null> {
  const account = source.githubAccountId
    ? await accountById(services.db, source.githubAccountId)
    : source.userId
      ? await accountForUser(services.db, source.userId)
      : null;
  return account?.tokenStatus === "ok" ? accountToken(services.masterKey, account) : null;
}

/** Throws RepositoryProblem unless the repository answers and has the branch; answers the branch's head. */
export async function assertRepository(services: Services, source: Source): Promise<string> {
  const checked = await checkRepository({
    repoUrl: source.repoUrl,
    branch: source.branch,
    token: await tokenFor(services, source),
    githubUrl: services.config.githubUrl,
    timeoutMs: CHECK_TIMEOUT_MS,
  });
  if (!checked.ok) throw new RepositoryProblem(checked.field, checked.message, checked.field === "branch" ? checked.branches : []);
  return checked.commitSha;
}

/** What a deploy of the branch's head would detect, with `settings` overriding detection as an app's settings do. */
export async function previewRepository(services: Services, source: Source, settings: DetectSettings): Promise<DetectPreview> {
  await assertRepository(services, source);
  const token = await tokenFor(services, source);
  try {
    return await withCheckout(
      {
        repoUrl: source.repoUrl,
        branch: source.branch,
        token,
        githubUrl: services.config.githubUrl,
        timeoutMs: PREVIEW_FETCH_TIMEOUT_MS,
      },
      async (dir, head) => ({
        repoUrl: source.repoUrl,
        branch: source.branch,
        commit: { sha: head.commitSha, message: head.message, author: head.authorName },
        ...(await withExactVersions(await previewProject(projectFiles(dir), settings))),
      }),
    );
  } catch (error) {
    // Between the check and the clone the branch may go, or the server stop answering.
    if (error instanceof GitError) {
      throw new RepositoryProblem(/^Branch /.test(error.message) ? "branch" : "repoUrl", error.message.replace(/\.$/, ""));
    }
    throw error;
  }
}

/** The exact Bun and Node versions a deploy would install now; a range nothing satisfies becomes the preview's problem. */
async function withExactVersions(preview: ProjectPreview): Promise<ProjectPreview> {
  const { bun, node } = preview.versions;
  if (!bun && !node) return preview;
  try {
    const resolved = await resolveRuntimes({ bun: bun ?? null, node: node ?? null });
    return {
      ...preview,
      versions: {
        bun: bun ? { ...bun, version: resolved.bun?.version ?? null } : null,
        node: node ? { ...node, version: resolved.node?.version ?? null } : null,
      },
    };
  } catch (error) {
    if (!(error instanceof JobFailed)) throw error;
    // The registry not answering is no reason to hide the rest of the preview.
    const unreachable = /did not answer|answered \d+/.test(error.message);
    return unreachable
      ? { ...preview, notes: [...preview.notes, error.message] }
      : { ...preview, problem: preview.problem ?? error.message };
  }
}
