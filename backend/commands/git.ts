/** Pure builders of git argv arrays and environments, and the checks that guard them. */

export function validateRepoUrl(url: string): string | null {
  if (/\s/.test(url)) return "must not contain spaces or line breaks";
  if (url.startsWith("-")) return "must not start with -";
  // `new URL` accepts `file:relative` and `https:host` and makes them absolute: refuse them as written.
  if (/^file:/i.test(url) && !/^file:\/\/\//i.test(url)) return "a file URL must name an absolute path: file:///path/to/repo.git";
  if (/^https?:/i.test(url) && !/^https?:\/\/[^/]/i.test(url)) return "must be written in full: https://host/owner/repo.git";
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "must be an https://, http:// or file:// URL";
  }
  if (!["https:", "http:", "file:"].includes(parsed.protocol)) return "must be an https://, http:// or file:// URL";
  if (parsed.username || parsed.password) {
    return "must not contain credentials; connect GitHub (the token is sent as a header) instead of putting it in the URL";
  }
  if (parsed.protocol === "file:" && !parsed.pathname.startsWith("/")) return "file:// URLs need an absolute path";
  if (parsed.protocol !== "file:" && !parsed.hostname) return "needs a host name";
  return null;
}

export function validateBranch(name: string): string | null {
  if (name.length === 0 || name.length > 255) return "must be 1-255 characters";
  if (name.startsWith("-") || name.startsWith("/") || name.endsWith("/") || name.endsWith(".") || name.endsWith(".lock")) {
    return "is not a valid branch name";
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
  if (/\.\.|@\{|\/\/|\/\.|[\s~^:?*[\\\x00-\x1f\x7f]/.test(name) || name === "@") return "is not a valid branch name";
  return null;
}

/** Deploys pin an exact commit: the full 40-hex sha (git can fetch only a full sha by itself). */
export function validateSha(sha: string): string | null {
  return /^[0-9a-f]{40}$/.test(sha) ? null : "must be a full 40-character commit sha";
}

export const isFullSha = (ref: string) => /^[0-9a-f]{40}$/.test(ref);

/**
 * What a deploy may be asked to fetch: a full commit sha, or a branch or tag name (git's ref-name
 * rules; never an option or a refspec). An abbreviated sha cannot be fetched from a remote.
 */
export function validateRef(ref: string): string | null {
  if (isFullSha(ref)) return null;
  if (/^[0-9a-f]{7,39}$/.test(ref)) return "is an abbreviated sha: give the full 40-character sha, or a branch or tag name";
  return validateBranch(ref) ? "must be a branch or tag name, or a full 40-character commit sha" : null;
}

export function cloneArgv(url: string, branch: string, dir: string): string[] {
  return ["git", "clone", "--depth", "1", "--single-branch", "--branch", branch, "--no-tags", "--progress", "--", url, dir];
}

/** Fetches exactly one commit (a full sha, or the head of a branch or tag) into a fresh repository at `dir` (run in order, each in `dir`). */
export function fetchRefArgvs(url: string, sha: string): string[][] {
  return [
    ["git", "init", "-q"],
    ["git", "remote", "add", "origin", url],
    ["git", "fetch", "--depth", "1", "--no-tags", "--progress", "origin", sha],
    ["git", "checkout", "-q", "--detach", "FETCH_HEAD"],
  ];
}

export const HEAD_FORMAT = "%H%x00%an%x00%ae%x00%s";

export function headInfoArgv(): string[] {
  return ["git", "log", "-1", `--format=${HEAD_FORMAT}`];
}

/** Every branch head of the repository: `<sha>\trefs/heads/<name>` lines, nothing fetched. */
export function lsRemoteArgv(url: string): string[] {
  return ["git", "ls-remote", "--heads", "--", url];
}

/** The branch heads in `git ls-remote --heads` output, by name. */
export function parseHeads(output: string): Map<string, string> {
  const heads = new Map<string, string>();
  for (const line of output.split("\n")) {
    const m = /^([0-9a-f]{40,64})\trefs\/heads\/(.+)$/.exec(line.trim());
    if (m) heads.set(m[2] as string, m[1] as string);
  }
  return heads;
}

/** How many branch names a "no such branch" answer offers. */
export const BRANCHES_SHOWN = 5;

/**
 * Why `branch` cannot be deployed from these heads, or null when it can. The branches offered
 * instead are the usual default names first, then the others in order.
 */
export function missingBranch(branch: string, heads: Map<string, string>): { message: string; branches: string[] } | null {
  if (heads.has(branch)) return null;
  if (heads.size === 0) return { message: "the repository has no branches yet: push a commit first", branches: [] };
  const usual = ["main", "master", "trunk", "develop"];
  const names = [...heads.keys()].sort((a, b) => {
    const [ia, ib] = [usual.indexOf(a), usual.indexOf(b)];
    return (ia < 0 ? usual.length : ia) - (ib < 0 ? usual.length : ib) || a.localeCompare(b);
  });
  const shown = names.slice(0, BRANCHES_SHOWN);
  const more = names.length - shown.length;
  return {
    message: `there is no branch ${branch} in the repository; it has ${shown.join(", ")}${more > 0 ? ` and ${more} more` : ""}`,
    branches: shown,
  };
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * The origin (scheme://host[:port]) a GitHub token may be sent to for this repository, or null
 * when it may not be sent at all: only the GitHub server's own origin, and only over https (plain
 * http only when that server itself is configured on a loopback address).
 */
export function tokenOrigin(repoUrl: string, githubUrl: string): string | null {
  let repo: URL;
  let github: URL;
  try {
    repo = new URL(repoUrl);
    github = new URL(githubUrl);
  } catch {
    return null;
  }
  const secure = github.protocol === "https:" || (github.protocol === "http:" && LOOPBACK.has(github.hostname));
  if (!secure || repo.origin !== github.origin || repo.username || repo.password) return null;
  return github.origin;
}

/**
 * The environment for every git call. A token travels as an HTTP header set through
 * environment config, so it is in no argv, URL or .git/config; the header is scoped to the
 * token's origin and only that origin's protocol is allowed, so a redirect cannot carry it elsewhere.
 */
export function gitEnv(options: { token?: string | null; origin?: string | null } = {}): Record<string, string> {
  const env: Record<string, string> = {
    GIT_TERMINAL_PROMPT: "0",
    GIT_ALLOW_PROTOCOL: "file:http:https",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_ASKPASS: "/bin/false",
    GCM_INTERACTIVE: "never",
  };
  if (options.token && options.origin) {
    env.GIT_ALLOW_PROTOCOL = new URL(options.origin).protocol.replace(":", "");
    env.GIT_CONFIG_COUNT = "1";
    env.GIT_CONFIG_KEY_0 = `http.${options.origin}/.extraHeader`;
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${Buffer.from(`x-access-token:${options.token}`).toString("base64")}`;
  }
  return env;
}

/**
 * Brings the history of two commits (commits only where the server allows it) into the bare
 * repository at `dir`, enough to ask whether one is an ancestor of the other (run in order, each in `dir`).
 */
export function historyFetchArgvs(url: string, shas: string[]): string[][] {
  return [
    ["git", "init", "-q", "--bare"],
    ["git", "fetch", "-q", "--no-tags", "--no-write-fetch-head", "--filter=tree:0", url, ...shas],
  ];
}

/** Exits 0 when `ancestor` is `descendant` or one of its ancestors, 1 when not. */
export function isAncestorArgv(ancestor: string, descendant: string): string[] {
  return ["git", "merge-base", "--is-ancestor", ancestor, descendant];
}
