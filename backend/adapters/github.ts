import { Octokit } from "@octokit/rest";
import { CodeChallengeMethod, OAuth2Client, type OAuth2Tokens } from "arctic";
import type { Config } from "../config.ts";

/** The token was refused (revoked, expired or missing scopes): the user has to reconnect. */
export class GitHubAuthError extends Error {
  override name = "GitHubAuthError";
}

/** GitHub answered with an error, or could not be reached. */
export class GitHubError extends Error {
  override name = "GitHubError";
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export const OAUTH_SCOPES = ["repo", "admin:repo_hook", "read:user", "user:email"];

export interface GitHubUser {
  id: number;
  login: string;
  name: string | null;
  avatarUrl: string | null;
  email: string | null;
}

import type { GitHubRepo } from "../contract/api.ts";

/** A repository as the API hands it on (its shape is the contract's). */
export type { GitHubRepo } from "../contract/api.ts";

export interface GitHub {
  /** The authorize URL a browser is sent to, with state and a PKCE challenge. */
  authorizeUrl(state: string, codeVerifier: string): URL;
  exchangeCode(code: string, codeVerifier: string): Promise<{ accessToken: string; scopes: string }>;
  user(token: string): Promise<GitHubUser>;
  repos(token: string): Promise<GitHubRepo[]>;
  repo(token: string, owner: string, name: string): Promise<GitHubRepo>;
  branches(token: string, owner: string, name: string): Promise<Array<{ name: string; sha: string }>>;
  createHook(token: string, owner: string, name: string, hook: { url: string; secret: string }): Promise<number>;
  deleteHook(token: string, owner: string, name: string, hookId: number): Promise<void>;
  hook(
    token: string,
    owner: string,
    name: string,
    hookId: number,
  ): Promise<{ id: number; url: string; events: string[]; active: boolean } | null>;
  commitStatus(
    token: string,
    owner: string,
    name: string,
    sha: string,
    status: { state: "pending" | "success" | "failure" | "error"; targetUrl: string; description: string; context: string },
  ): Promise<void>;
}

const REPO_LIST_LIMIT = 1000;

/** GitHub (or GitHub Enterprise, or a compatible server) as configured; null when no OAuth app is set. */
export function createGitHub(config: Config): GitHub | null {
  if (!config.github) return null;
  const { clientId, clientSecret, url: web, apiUrl: api } = config.github;
  const oauth = new OAuth2Client(clientId, clientSecret, new URL("/api/v1/auth/github/callback", config.publicUrl).toString());
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  // Errors come back to the caller, who logs them with context; octokit itself stays quiet.
  const octokit = (token: string) =>
    new Octokit({ auth: token, baseUrl: api, userAgent: "switchyard", log: quiet, request: { retries: 0 } });

  /** Maps octokit's errors to ours; a 401 means the token is no good any more. */
  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      const status = typeof (error as { status?: unknown }).status === "number" ? (error as { status: number }).status : null;
      if (status === 401) throw new GitHubAuthError("GitHub refused the access token (revoked or expired); reconnect GitHub.");
      const detail = (error as Error).message.split("\n")[0];
      throw new GitHubError(`GitHub ${what} failed${status ? ` (${status})` : ""}: ${detail}`, status);
    }
  }

  const toRepo = (r: {
    full_name: string;
    name: string;
    owner: { login: string };
    private: boolean;
    default_branch?: string;
    clone_url?: string;
    description?: string | null;
    pushed_at?: string | null;
  }): GitHubRepo => ({
    fullName: r.full_name,
    owner: r.owner.login,
    name: r.name,
    private: r.private,
    defaultBranch: r.default_branch ?? "main",
    cloneUrl: r.clone_url ?? `${web}/${r.full_name}.git`,
    description: r.description ?? null,
    pushedAt: r.pushed_at ?? null,
  });

  return {
    authorizeUrl: (state, codeVerifier) =>
      oauth.createAuthorizationURLWithPKCE(`${web}/login/oauth/authorize`, state, CodeChallengeMethod.S256, codeVerifier, OAUTH_SCOPES),

    async exchangeCode(code, codeVerifier) {
      let tokens: OAuth2Tokens;
      try {
        tokens = await oauth.validateAuthorizationCode(`${web}/login/oauth/access_token`, code, codeVerifier);
      } catch (error) {
        throw new GitHubError(`GitHub did not accept the sign-in: ${(error as Error).message}`, null);
      }
      const data = tokens.data as { scope?: unknown };
      return { accessToken: tokens.accessToken(), scopes: typeof data.scope === "string" ? data.scope : "" };
    },

    user: (token) =>
      call("user lookup", async () => {
        const { data } = await octokit(token).rest.users.getAuthenticated();
        return { id: data.id, login: data.login, name: data.name ?? null, avatarUrl: data.avatar_url ?? null, email: data.email ?? null };
      }),

    repos: (token) =>
      call("repository list", async () => {
        const list: GitHubRepo[] = [];
        for await (const page of octokit(token).paginate.iterator(octokit(token).rest.repos.listForAuthenticatedUser, {
          per_page: 100,
          sort: "pushed",
          affiliation: "owner,collaborator,organization_member",
        })) {
          list.push(...page.data.map(toRepo));
          if (list.length >= REPO_LIST_LIMIT) break;
        }
        return list;
      }),

    repo: (token, owner, name) =>
      call("repository lookup", async () => toRepo((await octokit(token).rest.repos.get({ owner, repo: name })).data)),

    branches: (token, owner, name) =>
      call("branch list", async () => {
        const kit = octokit(token);
        const all = await kit.paginate(kit.rest.repos.listBranches, { owner, repo: name, per_page: 100 });
        return all.map((b) => ({ name: b.name, sha: b.commit.sha }));
      }),

    createHook: (token, owner, name, hook) =>
      call("webhook creation", async () => {
        const { data } = await octokit(token).rest.repos.createWebhook({
          owner,
          repo: name,
          name: "web",
          active: true,
          events: ["push"],
          config: { url: hook.url, content_type: "json", secret: hook.secret, insecure_ssl: "0" },
        });
        return data.id;
      }),

    deleteHook: (token, owner, name, hookId) =>
      call("webhook removal", async () => {
        try {
          await octokit(token).rest.repos.deleteWebhook({ owner, repo: name, hook_id: hookId });
        } catch (error) {
          // Already gone is what we wanted.
          if ((error as { status?: number }).status !== 404) throw error;
        }
      }),

    hook: (token, owner, name, hookId) =>
      call("webhook lookup", async () => {
        try {
          const { data } = await octokit(token).rest.repos.getWebhook({ owner, repo: name, hook_id: hookId });
          return { id: data.id, url: data.config.url ?? "", events: data.events, active: data.active };
        } catch (error) {
          if ((error as { status?: number }).status === 404) return null;
          throw error;
        }
      }),

    commitStatus: (token, owner, name, sha, s) =>
      call("commit status", async () => {
        await octokit(token).rest.repos.createCommitStatus({
          owner,
          repo: name,
          sha,
          state: s.state,
          target_url: s.targetUrl,
          description: s.description.slice(0, 140),
          context: s.context,
        });
      }),
  };
}
