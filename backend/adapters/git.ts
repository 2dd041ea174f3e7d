import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  cloneArgv,
  fetchRefArgvs,
  gitEnv,
  headInfoArgv,
  historyFetchArgvs,
  isAncestorArgv,
  isFullSha,
  lsRemoteArgv,
  missingBranch,
  parseHeads,
  tokenOrigin,
  validateBranch,
  validateRef,
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
  /** A full commit sha, or a branch or tag name; null: the head of `branch`. */
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
  const bad = validateRepoUrl(o.repoUrl) ?? validateBranch(o.branch) ?? (o.sha ? validateRef(o.sha) : null);
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
    for (const argv of fetchRefArgvs(o.repoUrl, o.sha)) await step(argv, o.dir);
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
    return o.sha
      ? `${isFullSha(o.sha) ? "Commit" : "Branch or tag"} ${o.sha} was not found in ${o.repoUrl}.`
      : `Branch ${o.branch} was not found in ${o.repoUrl}.`;
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

export interface CheckOptions {
  repoUrl: string;
  branch: string;
  token?: string | null;
  githubUrl?: string | null;
  timeoutMs?: number;
}

/** What `git ls-remote` says about a repository and branch, before anything is created from them. */
export type RepositoryCheck =
  | { ok: true; commitSha: string }
  | { ok: false; field: "repoUrl"; message: string }
  | { ok: false; field: "branch"; message: string; branches: string[] };

/**
 * Asks the repository for its branch heads, as a fetch would reach it (the same environment, the
 * token only to GITHUB_URL's origin), and whether `branch` is one of them. Nothing is downloaded.
 */
export async function checkRepository(o: CheckOptions): Promise<RepositoryCheck> {
  const bad = validateRepoUrl(o.repoUrl);
  if (bad) return { ok: false, field: "repoUrl", message: bad };
  const badBranch = validateBranch(o.branch);
  if (badBranch) return { ok: false, field: "branch", message: badBranch, branches: [] };
  const origin = o.token && o.githubUrl ? tokenOrigin(o.repoUrl, o.githubUrl) : null;
  const env = { ...process.env, ...gitEnv({ token: origin ? o.token : null, origin }) };
  const mask = createMasker(o.token ? [o.token, env.GIT_CONFIG_VALUE_0 ?? ""].filter(Boolean) : []);
  const timeoutMs = o.timeoutMs ?? 20_000;
  const result = await run(lsRemoteArgv(o.repoUrl), { env, timeoutMs, capture: true });
  if (result.timedOut) {
    return { ok: false, field: "repoUrl", message: `the repository did not answer within ${Math.round(timeoutMs / 1000)} seconds` };
  }
  if (result.code !== 0)
    return { ok: false, field: "repoUrl", message: `could not read the repository: ${gitReason(mask(result.stderr))}` };
  const heads = parseHeads(result.stdout);
  const missing = missingBranch(o.branch, heads);
  if (missing) return { ok: false, field: "branch", ...missing };
  return { ok: true, commitSha: heads.get(o.branch) as string };
}

/** git's own words for why it failed: its first `fatal:` line (the next ones only say it gave up), else its last line. */
function gitReason(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const fatal = lines.find((l) => /^fatal:/i.test(l));
  const line = (fatal ?? lines.at(-1) ?? "git gave no reason").replace(/^fatal:\s*/i, "");
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/**
 * A throwaway shallow checkout of the branch head, through the same fetch as a deploy: `use` reads
 * it, then it is removed whatever happened.
 */
export async function withCheckout<T>(o: Omit<FetchOptions, "dir">, use: (dir: string, head: Head) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "sy-detect-"));
  try {
    const head = await fetchSource({ ...o, dir });
    return await use(dir, head);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
