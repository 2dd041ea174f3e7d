import { mkdir } from "node:fs/promises";
import {
  cloneArgv,
  fetchShaArgvs,
  gitEnv,
  headInfoArgv,
  historyFetchArgvs,
  isAncestorArgv,
  tokenOrigin,
  validateBranch,
  validateRepoUrl,
  validateSha,
} from "../commands/git.ts";
import { createMasker } from "../domain/masking.ts";
import { run, type Stream } from "./exec.ts";

export class GitError extends Error {
  override name = "GitError";
}

export interface FetchOptions {
  repoUrl: string;
  branch: string;
  sha?: string | null;
  dir: string;
  token?: string | null;
  /** The GitHub server the token came from (GITHUB_URL); the token goes nowhere else. */
  githubUrl?: string | null;
  onLine?: (stream: Stream, line: string) => void;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface Head {
  commitSha: string;
  authorName: string;
  authorEmail: string;
  message: string;
}

/** A shallow checkout of a branch head, or of exactly one commit, into `dir`. */
export async function fetchSource(o: FetchOptions): Promise<Head> {
  const bad = validateRepoUrl(o.repoUrl) ?? validateBranch(o.branch) ?? (o.sha ? validateSha(o.sha) : null);
  if (bad) throw new GitError(`Cannot fetch: ${bad}.`);
  const origin = o.token && o.githubUrl ? tokenOrigin(o.repoUrl, o.githubUrl) : null;
  const token = origin ? o.token : null;
  const env = { ...process.env, ...gitEnv({ token, origin }) };
  // Even an echo of the header (GIT_TRACE, a server's message) must not leak the token.
  const mask = createMasker(o.token ? [o.token, env.GIT_CONFIG_VALUE_0 ?? ""].filter(Boolean) : []);
  const onLine = (stream: Stream, line: string) => o.onLine?.(stream, mask(line));
  const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
  const step = async (argv: string[], cwd?: string, quiet = false) => {
    const result = await run(argv, {
      cwd,
      env,
      ...(quiet ? {} : { onLine }),
      signal: o.signal,
      timeoutMs: Math.max(1000, deadline - Date.now()),
      capture: true,
    });
    if (result.cancelled) throw new GitError("Cancelled.");
    if (result.timedOut) throw new GitError(`git ${argv[1]} timed out.`);
    if (result.code !== 0) throw new GitError(explain(mask(`${result.stderr}\n${result.stdout}`), o));
    return result;
  };
  if (o.sha) {
    await mkdir(o.dir, { recursive: true });
    for (const argv of fetchShaArgvs(o.repoUrl, o.sha)) await step(argv, o.dir);
  } else {
    await step(cloneArgv(o.repoUrl, o.branch, o.dir));
  }
  const info = await step(headInfoArgv(), o.dir, true);
  const [commitSha, authorName, authorEmail, message] = info.stdout.trim().split("\0");
  if (!commitSha) throw new GitError("The checkout has no commit.");
  return { commitSha, authorName: authorName ?? "", authorEmail: authorEmail ?? "", message: message ?? "" };
}

function explain(output: string, o: FetchOptions): string {
  const text = output.trim();
  if (/Remote branch .* not found|couldn't find remote ref/i.test(text)) {
    return o.sha ? `Commit ${o.sha} was not found in ${o.repoUrl}.` : `Branch ${o.branch} was not found in ${o.repoUrl}.`;
  }
  if (/not found|does not appear to be a git repository|Authentication failed|could not read Username|403|401/i.test(text)) {
    return `Repository ${o.repoUrl} was not found, or access was denied.`;
  }
  if (/Could not resolve host|Connection refused|timed out/i.test(text)) return `Could not reach ${o.repoUrl}: ${text.split("\n").at(-1)}`;
  return `git failed: ${text.split("\n").slice(-3).join(" ")}`;
}

export interface AncestryOptions {
  repoUrl: string;
  /** A bare repository kept for these checks; made when missing. */
  cacheDir: string;
  ancestor: string;
  descendant: string;
  token?: string | null;
  githubUrl?: string | null;
  timeoutMs?: number;
}

/**
 * Whether `ancestor` is `descendant` or in its history, fetched into a small bare cache
 * (deploys fetch one commit only); null when the history could not be had in time.
 */
export async function isAncestor(o: AncestryOptions): Promise<boolean | null> {
  if (validateRepoUrl(o.repoUrl) ?? validateSha(o.ancestor) ?? validateSha(o.descendant)) return null;
  if (o.ancestor === o.descendant) return true;
  const origin = o.token && o.githubUrl ? tokenOrigin(o.repoUrl, o.githubUrl) : null;
  const env = { ...process.env, ...gitEnv({ token: origin ? o.token : null, origin }) };
  const deadline = Date.now() + (o.timeoutMs ?? 8000);
  const step = (argv: string[]) => run(argv, { cwd: o.cacheDir, env, timeoutMs: Math.max(500, deadline - Date.now()), capture: true });
  try {
    await mkdir(o.cacheDir, { recursive: true });
    for (const argv of historyFetchArgvs(o.repoUrl, [o.ancestor, o.descendant])) {
      if ((await step(argv)).code !== 0) return null;
    }
    const answer = await step(isAncestorArgv(o.ancestor, o.descendant));
    return answer.code === 0 ? true : answer.code === 1 ? false : null;
  } catch {
    return null;
  }
}
