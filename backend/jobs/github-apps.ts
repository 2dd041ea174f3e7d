/**
 * GitHub on behalf of users and apps: the account a user connected, its repositories, the OAuth
 * sign-in, and each app's webhook. Adapter failures come out as GitHubProblem, which says what the
 * user can do about it; a refused token is marked for reconnection on the way.
 */
import { randomBytes } from "node:crypto";
import { type GitHub, GitHubAuthError, GitHubError, type GitHubRepo, type GitHubUser } from "../adapters/github.ts";
import { createSession } from "../auth/sessions.ts";
import {
  accountByGithubId,
  accountForUser,
  accountToken,
  appGitHubToken,
  deleteAccount,
  encryptHookSecret,
  githubSignupAllowed,
  markTokenRevoked,
  saveAccount,
  setAppHook,
} from "../db/queries/github.ts";
import { countUsers, createUser, findUserByEmail, findUserById } from "../db/queries/users.ts";
import { listDeliveries } from "../db/queries/webhooks.ts";
import type { App, GithubAccount, WebhookDelivery } from "../db/schema/index.ts";
import { splitRepo, webhookUrl } from "../domain/github-apps.ts";
import type { Services } from "../services.ts";

export type GitHubProblemKind = "not_configured" | "not_connected" | "reconnect" | "refused" | "not_found" | "unavailable";

export class GitHubProblem extends Error {
  override name = "GitHubProblem";
  constructor(
    readonly kind: GitHubProblemKind,
    message: string,
  ) {
    super(message);
  }
}

export const HOW_TO_ENABLE =
  "Create an OAuth app on GitHub (Settings → Developer settings → OAuth Apps) with the callback URL shown here, then set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET for the panel and restart it.";

const RECONNECT = "GitHub no longer accepts the stored access token (revoked or expired). Reconnect GitHub in Settings.";
const REPO_CACHE_MS = 60_000;

export function requireGitHub(services: Services): GitHub {
  if (!services.github) throw new GitHubProblem("not_configured", `GitHub is not set up on this panel. ${HOW_TO_ENABLE}`);
  return services.github;
}

interface Connected {
  github: GitHub;
  account: GithubAccount;
  token: string;
}

/** The user's GitHub account with a usable token. */
async function connected(services: Services, userId: string | undefined): Promise<Connected> {
  const github = requireGitHub(services);
  const account = userId ? await accountForUser(services.db, userId) : null;
  if (!account) throw new GitHubProblem("not_connected", "Connect your GitHub account first (Settings → GitHub).");
  if (account.tokenStatus !== "ok") throw new GitHubProblem("reconnect", RECONNECT);
  return { github, account, token: accountToken(services.masterKey, account) };
}

/** Runs a GitHub call for an account: a refused token marks the account for reconnection. */
async function call<T>(services: Services, account: GithubAccount, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof GitHubAuthError) {
      await markTokenRevoked(services.db, account.id);
      throw new GitHubProblem("reconnect", RECONNECT);
    }
    if (error instanceof GitHubError) {
      const kind = error.status === 404 ? "not_found" : error.status === 422 ? "refused" : "unavailable";
      throw new GitHubProblem(kind, error.message);
    }
    throw error;
  }
}

export async function connectionStatus(services: Services, userId: string | null) {
  const { github } = services;
  const account = github && userId ? await accountForUser(services.db, userId) : null;
  return {
    configured: github !== null,
    allowSignup: github ? await githubSignupAllowed(services.db) : false,
    account,
  };
}

/** The repository as the user's account sees it (for an app created from it). */
export async function userRepo(services: Services, userId: string | undefined, owner: string, repo: string) {
  const { github, account, token } = await connected(services, userId);
  const info = await call(services, account, () => github.repo(token, owner, repo));
  return { info, accountId: account.id };
}

export async function userBranches(services: Services, userId: string | undefined, owner: string, repo: string) {
  const { github, account, token } = await connected(services, userId);
  const [info, branches] = await call(services, account, () =>
    Promise.all([github.repo(token, owner, repo), github.branches(token, owner, repo)]),
  );
  return { info, branches };
}

const repoCache = new Map<string, { at: number; repos: GitHubRepo[] }>();

/** The user's repositories, fetched at most once a minute per account. */
export async function userRepos(services: Services, userId: string | undefined): Promise<GitHubRepo[]> {
  const { github, account, token } = await connected(services, userId);
  let cached = repoCache.get(account.id);
  if (!cached || Date.now() - cached.at > REPO_CACHE_MS) {
    cached = { at: Date.now(), repos: await call(services, account, () => github.repos(token)) };
    repoCache.set(account.id, cached);
  }
  return cached.repos;
}

/** Unlinks the user's GitHub account; null when none was linked. */
export async function disconnect(services: Services, userId: string): Promise<GithubAccount | null> {
  const account = await accountForUser(services.db, userId);
  if (!account) return null;
  await deleteAccount(services.db, account.id);
  repoCache.delete(account.id);
  return account;
}

export function authorizeUrl(services: Services, state: string, verifier: string): URL {
  return requireGitHub(services).authorizeUrl(state, verifier);
}

export type SignInOutcome =
  | { ok: false; error: string; to?: string }
  | { ok: true; user: GitHubUser; action: "connected" }
  | { ok: true; user: GitHubUser; action: "login" | "signup"; session: { token: string; expiresAt: Date } };

/**
 * Finishes the OAuth flow: links the GitHub identity to the signed-in user (`connectTo`), or
 * signs in the user it is linked to, creating a viewer when sign-up through GitHub is allowed.
 */
export async function completeSignIn(
  services: Services,
  input: { code: string; verifier: string; connectTo: string | null; intent: "connect" | "signin"; ip: string; userAgent: string | null },
): Promise<SignInOutcome> {
  const github = requireGitHub(services);
  let token: string;
  let scopes: string;
  let user: GitHubUser;
  try {
    ({ accessToken: token, scopes } = await github.exchangeCode(input.code, input.verifier));
    user = await github.user(token);
  } catch (error) {
    services.log.warn("GitHub sign-in failed", { error: (error as Error).message });
    return { ok: false, error: "exchange_failed" };
  }
  const { db, masterKey } = services;
  const linked = await accountByGithubId(db, user.id);
  if (input.intent === "connect") {
    if (!input.connectTo) return { ok: false, error: "signed_out", to: "/login" };
    if (linked && linked.userId !== input.connectTo) return { ok: false, error: "linked_to_another_user" };
    await saveAccount(db, masterKey, input.connectTo, user, token, scopes);
    return { ok: true, user, action: "connected" };
  }
  let userId = linked?.userId ?? null;
  // GitHub vouches for the GitHub account, not for the second factor: an account with 2FA on signs
  // in with its password and code.
  if (userId && (await findUserById(db, userId))?.totpEnabledAt) return { ok: false, error: "two_factor_required" };
  if (!userId) {
    if ((await countUsers(db)) === 0) return { ok: false, error: "setup_first", to: "/setup" };
    if (!(await githubSignupAllowed(db))) return { ok: false, error: "not_linked" };
    const email = user.email ?? `${user.id}+${user.login}@users.noreply.github.com`;
    if (await findUserByEmail(db, email)) return { ok: false, error: "email_taken" };
    const created = await createUser(db, { email, name: user.name ?? user.login, passwordHash: null, role: "viewer" });
    userId = created.id;
  }
  await saveAccount(db, masterKey, userId, user, token, scopes);
  const session = await createSession(db, userId, { ip: input.ip, userAgent: input.userAgent });
  return { ok: true, user, action: linked ? "login" : "signup", session };
}

/**
 * Makes the repository's webhook match the app's auto-deploy setting: created (push events, JSON,
 * a fresh random secret stored encrypted) when on, removed when off. Throws GitHubProblem when
 * GitHub refuses.
 */
export async function syncWebhook(services: Services, app: App, enabled: boolean): Promise<App> {
  const { github, db } = services;
  if (!github || !app.githubRepo) return app;
  const auth = await appGitHubToken(services, app);
  if (!auth) throw new GitHubProblem("reconnect", "The GitHub account this app uses is disconnected or needs reconnecting.");
  const { owner, repo } = splitRepo(app.githubRepo);
  try {
    if (enabled && !app.githubHookId) {
      const secret = randomBytes(32).toString("hex");
      const hookId = await github.createHook(auth.token, owner, repo, { url: webhookUrl(services.config.publicUrl, app.name), secret });
      return (await setAppHook(db, app.id, { id: hookId, secretEncrypted: encryptHookSecret(services.masterKey, app.id, secret) })) ?? app;
    }
    if (!enabled && app.githubHookId) {
      await github.deleteHook(auth.token, owner, repo, app.githubHookId);
      // The secret stays, so deliveries already on their way still verify and are recorded as ignored.
      return (await setAppHook(db, app.id, null)) ?? app;
    }
    return app;
  } catch (error) {
    if (error instanceof GitHubAuthError) {
      await markTokenRevoked(db, auth.accountId);
      throw new GitHubProblem("reconnect", error.message);
    }
    if (error instanceof GitHubError) throw new GitHubProblem("unavailable", error.message);
    throw error;
  }
}

export interface WebhookState {
  lastDelivery: WebhookDelivery | null;
  hook: { id: number; url: string; events: string[]; active: boolean } | null;
  problem: string | null;
}

/** The app's webhook as GitHub has it and the last delivery: enough to tell whether pushes arrive. */
export async function webhookState(services: Services, app: App): Promise<WebhookState> {
  const [last] = await listDeliveries(services.db, app.id, 1);
  const lastDelivery = last ?? null;
  if (!app.githubRepo || !app.githubHookId || !services.github) return { lastDelivery, hook: null, problem: null };
  const auth = await appGitHubToken(services, app);
  if (!auth) return { lastDelivery, hook: null, problem: "The GitHub account this app uses needs reconnecting." };
  const { owner, repo } = splitRepo(app.githubRepo);
  try {
    const hook = await services.github.hook(auth.token, owner, repo, app.githubHookId);
    return {
      lastDelivery,
      hook,
      problem: hook ? null : "The webhook was removed on GitHub; turn auto-deploy off and on to create it again.",
    };
  } catch (error) {
    return { lastDelivery, hook: null, problem: (error as Error).message };
  }
}
