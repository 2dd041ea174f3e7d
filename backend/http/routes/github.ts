import { timingSafeEqual } from "node:crypto";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { type GitHub, GitHubAuthError, GitHubError, type GitHubRepo } from "../../adapters/github.ts";
import { createSession, generateToken, readCookie, sessionCookie } from "../../auth/sessions.ts";
import {
  accountByGithubId,
  accountForUser,
  accountToken,
  githubSignupAllowed,
  markTokenRevoked,
  saveAccount,
  setGithubSignupAllowed,
} from "../../db/queries/github.ts";
import { countUsers, createUser, findUserByEmail } from "../../db/queries/users.ts";
import { type GithubAccount, githubAccounts } from "../../db/schema/index.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams, readQuery } from "../context.ts";
import { conflict, HttpError } from "../errors.ts";
import type { Router } from "../router.ts";

const FLOW_COOKIE = "sy_github_flow";
const FLOW_PATH = "/api/v1/auth/github";
const FLOW_SECONDS = 600;
const REPO_CACHE_MS = 60_000;
const PER_PAGE = 30;

export const HOW_TO_ENABLE =
  "Create an OAuth app on GitHub (Settings → Developer settings → OAuth Apps) with the callback URL shown here, then set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET for the panel and restart it.";

export function callbackUrl(c: Context): string {
  return new URL("/api/v1/auth/github/callback", c.services.config.publicUrl).toString();
}

function requireGitHub(c: Context): GitHub {
  if (!c.services.github) throw new HttpError(409, "github_not_configured", `GitHub is not set up on this panel. ${HOW_TO_ENABLE}`);
  return c.services.github;
}

/** The signed-in user's GitHub account with a usable token, or a 409 saying what to do. */
export async function requireAccount(c: Context): Promise<{ github: GitHub; account: GithubAccount; token: string }> {
  const github = requireGitHub(c);
  const user = c.auth?.user;
  const account = user ? await accountForUser(c.services.db, user.id) : null;
  if (!account) throw new HttpError(409, "github_not_connected", "Connect your GitHub account first (Settings → GitHub).");
  if (account.tokenStatus !== "ok") throw reconnect();
  return { github, account, token: accountToken(c.services.masterKey, account) };
}

const reconnect = () =>
  new HttpError(
    409,
    "github_reconnect_needed",
    "GitHub no longer accepts the stored access token (revoked or expired). Reconnect GitHub in Settings.",
  );

/** Runs a GitHub call for an account: a refused token marks the account for reconnection. */
export async function withGitHub<T>(c: Context, account: GithubAccount, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof GitHubAuthError) {
      await markTokenRevoked(c.services.db, account.id);
      throw reconnect();
    }
    if (error instanceof GitHubError) {
      const status = error.status === 404 ? 404 : error.status === 422 ? 422 : 502;
      throw new HttpError(status, status === 502 ? "github_unavailable" : "github_refused", error.message);
    }
    throw error;
  }
}

const repoCache = new Map<string, { at: number; repos: GitHubRepo[] }>();

function flowCookie(value: string, maxAge: number, secure: boolean): string {
  return `${FLOW_COOKIE}=${value}; Path=${FLOW_PATH}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? "; Secure" : ""}`;
}

function redirect(location: string): Response {
  return new Response(null, { status: 302, headers: { location } });
}

export const ownerRepo = z.object({
  owner: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, "is not a GitHub user or organisation name"),
  repo: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, "is not a repository name"),
});

export function githubRoutes(r: Router): void {
  r.get("/api/v1/github/status", { auth: "public" }, async (c) => {
    const github = c.services.github;
    const account = github && c.auth ? await accountForUser(c.services.db, c.auth.user.id) : null;
    return Response.json({
      configured: github !== null,
      ...(github ? {} : { howToEnable: HOW_TO_ENABLE }),
      callbackUrl: callbackUrl(c),
      allowSignup: github ? await githubSignupAllowed(c.services.db) : false,
      connected: account !== null,
      reconnectNeeded: account?.tokenStatus === "revoked",
      account: account ? { login: account.login, name: account.name, avatarUrl: account.avatarUrl, scopes: account.scopes } : null,
    });
  });

  r.put("/api/v1/github/settings", { auth: "owner" }, async (c) => {
    const { allowSignup } = await readJson(c, z.object({ allowSignup: z.boolean({ error: "allowSignup must be true or false" }) }));
    await setGithubSignupAllowed(c.services.db, allowSignup);
    await audit(c, "github.settings", null, { allowSignup });
    return Response.json({ allowSignup });
  });

  /** Sends the browser to GitHub. `intent=connect` links the signed-in user; `signin` signs in. */
  r.get("/api/v1/auth/github/start", { auth: "public" }, async (c) => {
    const github = requireGitHub(c);
    const { intent } = readQuery(c, z.object({ intent: z.enum(["signin", "connect"]).default("signin") }));
    if (intent === "connect" && !c.auth) throw new HttpError(401, "unauthenticated", "Sign in before connecting GitHub.");
    const state = generateToken();
    const verifier = generateToken(32);
    const secure = c.services.config.publicUrl.protocol === "https:";
    c.responseHeaders.append("set-cookie", flowCookie(`${state}.${verifier}.${intent}`, FLOW_SECONDS, secure));
    return redirect(github.authorizeUrl(state, verifier).toString());
  });

  r.get("/api/v1/auth/github/callback", { auth: "public" }, async (c) => {
    const github = requireGitHub(c);
    const secure = c.services.config.publicUrl.protocol === "https:";
    c.responseHeaders.append("set-cookie", flowCookie("", 0, secure));
    const [state, verifier, intent] = (readCookie(c.req.headers.get("cookie"), FLOW_COOKIE) ?? "").split(".");
    const back = intent === "connect" ? "/settings" : "/login";
    const fail = (code: string) => redirect(`${back}?github_error=${code}`);
    const query = c.url.searchParams;
    if (query.get("error")) return fail(query.get("error") === "access_denied" ? "denied" : "github_error");
    const code = query.get("code");
    const returned = query.get("state") ?? "";
    if (!state || !verifier || !code || returned.length !== state.length || !timingSafeEqual(Buffer.from(returned), Buffer.from(state))) {
      return fail("state_mismatch");
    }
    let token: string;
    let scopes: string;
    let user: Awaited<ReturnType<GitHub["user"]>>;
    try {
      ({ accessToken: token, scopes } = await github.exchangeCode(code, verifier));
      user = await github.user(token);
    } catch (error) {
      c.services.log.warn("GitHub sign-in failed", { error: (error as Error).message });
      return fail("exchange_failed");
    }
    const { db, masterKey } = c.services;
    const linked = await accountByGithubId(db, user.id);

    if (intent === "connect") {
      if (!c.auth) return redirect("/login?github_error=signed_out");
      if (linked && linked.userId !== c.auth.user.id) return fail("linked_to_another_user");
      await saveAccount(db, masterKey, c.auth.user.id, user, token, scopes);
      await audit(c, "github.connected", `github:${user.login}`);
      return redirect("/settings?github=connected");
    }

    let userId = linked?.userId ?? null;
    if (!userId) {
      if ((await countUsers(db)) === 0) return redirect("/setup?github_error=setup_first");
      if (!(await githubSignupAllowed(db))) return fail("not_linked");
      const email = user.email ?? `${user.id}+${user.login}@users.noreply.github.com`;
      if (await findUserByEmail(db, email)) return fail("email_taken");
      const created = await createUser(db, { email, name: user.name ?? user.login, passwordHash: null, role: "viewer" });
      userId = created.id;
    }
    await saveAccount(db, masterKey, userId, user, token, scopes);
    const session = await createSession(db, userId, { ip: c.ip, userAgent: c.req.headers.get("user-agent") });
    c.responseHeaders.append("set-cookie", sessionCookie(session.token, session.expiresAt, secure));
    await audit(c, linked ? "auth.login_github" : "auth.signup_github", `github:${user.login}`, undefined, user.login);
    return redirect("/");
  });

  r.delete("/api/v1/github/connection", { auth: "viewer" }, async (c) => {
    const user = c.auth?.user;
    if (!user) throw new HttpError(401, "unauthenticated", "Sign in to continue.");
    const account = await accountForUser(c.services.db, user.id);
    if (!account) throw conflict("github_not_connected", "No GitHub account is connected.");
    await c.services.db.delete(githubAccounts).where(eq(githubAccounts.id, account.id));
    repoCache.delete(account.id);
    await audit(c, "github.disconnected", `github:${account.login}`);
    return new Response(null, { status: 204 });
  });

  r.get("/api/v1/github/repos", { auth: "admin" }, async (c) => {
    const { github, account, token } = await requireAccount(c);
    const { q, page } = readQuery(
      c,
      z.object({
        q: z.string().trim().max(100).default(""),
        page: z.coerce.number().int().min(1, "must be 1 or more").max(1000).default(1),
      }),
    );
    let cached = repoCache.get(account.id);
    if (!cached || Date.now() - cached.at > REPO_CACHE_MS) {
      cached = { at: Date.now(), repos: await withGitHub(c, account, () => github.repos(token)) };
      repoCache.set(account.id, cached);
    }
    const needle = q.toLowerCase();
    const matching = needle ? cached.repos.filter((r) => r.fullName.toLowerCase().includes(needle)) : cached.repos;
    const start = (page - 1) * PER_PAGE;
    return Response.json({
      repos: matching.slice(start, start + PER_PAGE),
      page,
      total: matching.length,
      nextPage: start + PER_PAGE < matching.length ? page + 1 : null,
    });
  });

  r.get("/api/v1/github/repos/:owner/:repo/branches", { auth: "admin" }, async (c) => {
    const { owner, repo } = readParams(c, ownerRepo);
    const { github, account, token } = await requireAccount(c);
    const [info, branches] = await withGitHub(c, account, () =>
      Promise.all([github.repo(token, owner, repo), github.branches(token, owner, repo)]),
    );
    return Response.json({ defaultBranch: info.defaultBranch, branches, repo: info });
  });
}
