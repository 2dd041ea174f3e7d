import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { generateToken, readCookie, sessionCookie } from "../../auth/sessions.ts";
import { setGithubSignupAllowed } from "../../db/queries/github.ts";
import {
  authorizeUrl,
  completeSignIn,
  connectionStatus,
  disconnect,
  GitHubProblem,
  HOW_TO_ENABLE,
  requireGitHub,
  userBranches,
  userRepos,
} from "../../jobs/github-apps.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams, readQuery } from "../context.ts";
import { conflict, HttpError } from "../errors.ts";
import type { Router } from "../router.ts";

const FLOW_COOKIE = "sy_github_flow";
const FLOW_PATH = "/api/v1/auth/github";
const FLOW_SECONDS = 600;
const PER_PAGE = 30;

export { HOW_TO_ENABLE };

export function callbackUrl(c: Context): string {
  return new URL("/api/v1/auth/github/callback", c.services.config.publicUrl).toString();
}

const PROBLEM_STATUS: Record<GitHubProblem["kind"], [number, string]> = {
  not_configured: [409, "github_not_configured"],
  not_connected: [409, "github_not_connected"],
  reconnect: [409, "github_reconnect_needed"],
  not_found: [404, "github_refused"],
  refused: [422, "github_refused"],
  unavailable: [502, "github_unavailable"],
};

/**
 * A failed GitHub call as the API's error; `what` (say, "The app was not created") prefixes the
 * message when the call was part of a larger action.
 */
export function gitHubHttpError(error: unknown, what?: string): unknown {
  const prefix = what ? `${what}: ` : "";
  if (error instanceof GitHubProblem) {
    const [status, code] = what && error.kind !== "reconnect" ? [502, "github_unavailable"] : PROBLEM_STATUS[error.kind];
    return new HttpError(status, code, prefix + error.message);
  }
  if (what && !(error instanceof HttpError)) return new HttpError(502, "github_unavailable", prefix + (error as Error).message);
  return error;
}

/** Runs a GitHub action for a route, answering GitHub's refusals as the API's errors. */
export async function viaGitHub<T>(fn: () => Promise<T>, what?: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw gitHubHttpError(error, what);
  }
}

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
    const { configured, allowSignup, account } = await connectionStatus(c.services, c.auth?.user.id ?? null);
    return Response.json({
      configured,
      ...(configured ? {} : { howToEnable: HOW_TO_ENABLE }),
      callbackUrl: callbackUrl(c),
      allowSignup,
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
    await viaGitHub(async () => requireGitHub(c.services));
    const { intent } = readQuery(c, z.object({ intent: z.enum(["signin", "connect"]).default("signin") }));
    if (intent === "connect" && !c.auth) throw new HttpError(401, "unauthenticated", "Sign in before connecting GitHub.");
    const state = generateToken();
    const verifier = generateToken(32);
    const secure = c.services.config.publicUrl.protocol === "https:";
    c.responseHeaders.append("set-cookie", flowCookie(`${state}.${verifier}.${intent}`, FLOW_SECONDS, secure));
    return redirect(authorizeUrl(c.services, state, verifier).toString());
  });

  r.get("/api/v1/auth/github/callback", { auth: "public" }, async (c) => {
    await viaGitHub(async () => requireGitHub(c.services));
    const secure = c.services.config.publicUrl.protocol === "https:";
    c.responseHeaders.append("set-cookie", flowCookie("", 0, secure));
    const [state, verifier, intent] = (readCookie(c.req.headers.get("cookie"), FLOW_COOKIE) ?? "").split(".");
    const back = intent === "connect" ? "/settings" : "/login";
    const fail = (code: string, to = back) => redirect(`${to}?github_error=${code}`);
    const query = c.url.searchParams;
    if (query.get("error")) return fail(query.get("error") === "access_denied" ? "denied" : "github_error");
    const code = query.get("code");
    const returned = query.get("state") ?? "";
    if (!state || !verifier || !code || returned.length !== state.length || !timingSafeEqual(Buffer.from(returned), Buffer.from(state))) {
      return fail("state_mismatch");
    }
    const outcome = await completeSignIn(c.services, {
      code,
      verifier,
      intent: intent === "connect" ? "connect" : "signin",
      connectTo: c.auth?.user.id ?? null,
      ip: c.ip,
      userAgent: c.req.headers.get("user-agent"),
    });
    if (!outcome.ok) return fail(outcome.error, outcome.to);
    const { user } = outcome;
    if (outcome.action === "connected") {
      await audit(c, "github.connected", `github:${user.login}`);
      return redirect("/settings?github=connected");
    }
    c.responseHeaders.append("set-cookie", sessionCookie(outcome.session.token, outcome.session.expiresAt, secure));
    await audit(c, outcome.action === "login" ? "auth.login_github" : "auth.signup_github", `github:${user.login}`, undefined, user.login);
    return redirect("/");
  });

  r.delete("/api/v1/github/connection", { auth: "viewer" }, async (c) => {
    const user = c.auth?.user;
    if (!user) throw new HttpError(401, "unauthenticated", "Sign in to continue.");
    const account = await disconnect(c.services, user.id);
    if (!account) throw conflict("github_not_connected", "No GitHub account is connected.");
    await audit(c, "github.disconnected", `github:${account.login}`);
    return new Response(null, { status: 204 });
  });

  r.get("/api/v1/github/repos", { auth: "admin" }, async (c) => {
    const { q, page } = readQuery(
      c,
      z.object({
        q: z.string().trim().max(100).default(""),
        page: z.coerce.number().int().min(1, "must be 1 or more").max(1000).default(1),
      }),
    );
    const repos = await viaGitHub(() => userRepos(c.services, c.auth?.user.id));
    const needle = q.toLowerCase();
    const matching = needle ? repos.filter((r) => r.fullName.toLowerCase().includes(needle)) : repos;
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
    const { info, branches } = await viaGitHub(() => userBranches(c.services, c.auth?.user.id, owner, repo));
    return Response.json({ defaultBranch: info.defaultBranch, branches, repo: info });
  });
}
