import { createHash, createHmac, randomBytes, randomUUID } from "node:crypto";
import { basename, dirname } from "node:path";

/**
 * A local server that speaks GitHub's wire protocol for what Switchyard uses: the OAuth web flow
 * (authorize + access_token, with PKCE), the REST API under /api/v3 (as GitHub Enterprise serves
 * it: /user, /user/repos with Link pagination, repos, branches, hooks, statuses) and git smart
 * HTTP through the real `git http-backend`. It records every request so tests can check what was
 * sent, and signs webhook deliveries the way GitHub does.
 */
export interface GitHubUserFixture {
  id: number;
  login: string;
  name: string;
  email: string | null;
}

export interface RepoFixture {
  owner: string;
  name: string;
  /** Path of a bare repository served over git smart HTTP. */
  bare?: string;
  private?: boolean;
  defaultBranch?: string;
}

export interface Hook {
  id: number;
  repo: string;
  name: string;
  active: boolean;
  events: string[];
  config: { url: string; content_type: string; secret: string; insecure_ssl?: string };
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  authorization: string | null;
  body: string;
}

export interface GitHubServer {
  url: string;
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  /** Who "signs in" at the authorize endpoint (the browser flow auto-approves). */
  signedInAs: GitHubUserFixture;
  users: GitHubUserFixture[];
  repos: RepoFixture[];
  hooks: Hook[];
  statuses: Array<{ repo: string; sha: string; state: string; target_url: string; description: string; context: string }>;
  requests: RecordedRequest[];
  /** Tokens issued, and which user each is for. */
  tokens: Map<string, GitHubUserFixture>;
  revoke(token: string): void;
  stop(): void;
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });

export function startGitHubServer(options: { users?: GitHubUserFixture[]; repos?: RepoFixture[] } = {}): GitHubServer {
  const users = options.users ?? [{ id: 4242, login: "octo-ada", name: "Ada Octo", email: "ada@example.com" }];
  const state: GitHubServer = {
    url: "",
    apiUrl: "",
    clientId: "Iv1.testclient",
    clientSecret: randomBytes(20).toString("hex"),
    signedInAs: users[0] as GitHubUserFixture,
    users,
    repos: options.repos ?? [],
    hooks: [],
    statuses: [],
    requests: [],
    tokens: new Map(),
    revoke: (token) => state.tokens.delete(token),
    stop: () => server.stop(true),
  };
  const codes = new Map<string, { challenge: string; method: string; redirectUri: string; user: GitHubUserFixture }>();
  let nextHookId = 1000;

  const userOf = (req: Request): GitHubUserFixture | null => {
    const m = /^(?:token|Bearer)\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "");
    return m ? (state.tokens.get(m[1] as string) ?? null) : null;
  };
  const repoJson = (r: RepoFixture) => ({
    id: Math.abs(createHash("sha1").update(`${r.owner}/${r.name}`).digest().readInt32BE(0)),
    name: r.name,
    full_name: `${r.owner}/${r.name}`,
    owner: { login: r.owner, type: r.owner === state.signedInAs.login ? "User" : "Organization" },
    private: r.private ?? false,
    default_branch: r.defaultBranch ?? "main",
    clone_url: `${state.url}/${r.owner}/${r.name}.git`,
    html_url: `${state.url}/${r.owner}/${r.name}`,
    description: null,
    pushed_at: "2026-11-01T00:00:00Z",
  });
  const findRepo = (owner: string, name: string) => state.repos.find((r) => r.owner === owner && r.name === name) ?? null;

  async function api(req: Request, url: URL, path: string): Promise<Response> {
    const user = userOf(req);
    if (!user) return json({ message: "Bad credentials", documentation_url: "https://docs.github.com/rest" }, 401);
    if (req.method === "GET" && path === "/user")
      return json({ id: user.id, login: user.login, name: user.name, email: user.email, avatar_url: `${state.url}/avatars/${user.login}` });
    if (req.method === "GET" && path === "/user/repos") {
      const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? 30));
      const page = Math.max(1, Number(url.searchParams.get("page") ?? 1));
      const all = state.repos.map(repoJson);
      const last = Math.max(1, Math.ceil(all.length / perPage));
      const link = (p: number, rel: string) => {
        const u = new URL(url);
        u.searchParams.set("page", String(p));
        u.searchParams.set("per_page", String(perPage));
        return `<${u}>; rel="${rel}"`;
      };
      const links = [
        ...(page < last ? [link(page + 1, "next"), link(last, "last")] : []),
        ...(page > 1 ? [link(1, "first"), link(page - 1, "prev")] : []),
      ];
      return json(all.slice((page - 1) * perPage, page * perPage), 200, links.length ? { link: links.join(", ") } : {});
    }
    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    const repo = m ? findRepo(m[1] as string, m[2] as string) : null;
    if (!m || !repo) return json({ message: "Not Found" }, 404);
    const full = `${repo.owner}/${repo.name}`;
    const rest = m[3] ?? "";
    if (req.method === "GET" && rest === "") return json(repoJson(repo));
    if (req.method === "GET" && rest === "/branches") {
      if (!repo.bare) return json([]);
      const out = Bun.spawnSync(["git", "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"], {
        cwd: repo.bare,
      }).stdout.toString();
      return json(
        out
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => {
            const [name, sha] = l.split(" ");
            return { name, commit: { sha, url: `${state.apiUrl}/repos/${full}/commits/${sha}` }, protected: false };
          }),
      );
    }
    if (req.method === "POST" && rest === "/hooks") {
      const body = (await req.json()) as Partial<Hook>;
      if (body.name !== "web" || !body.config?.url || !Array.isArray(body.events)) {
        return json(
          { message: "Validation Failed", errors: [{ resource: "Hook", code: "custom", message: "config.url and events are required" }] },
          422,
        );
      }
      if (state.hooks.some((h) => h.repo === full && h.config.url === body.config?.url)) {
        return json(
          {
            message: "Validation Failed",
            errors: [{ resource: "Hook", code: "custom", message: "Hook already exists on this repository" }],
          },
          422,
        );
      }
      const hook: Hook = {
        id: nextHookId++,
        repo: full,
        name: "web",
        active: body.active ?? true,
        events: body.events,
        config: body.config as Hook["config"],
      };
      state.hooks.push(hook);
      return json({ ...hook, config: { ...hook.config, secret: "********" } }, 201);
    }
    const hookMatch = /^\/hooks\/(\d+)$/.exec(rest);
    if (hookMatch) {
      const hook = state.hooks.find((h) => h.repo === full && h.id === Number(hookMatch[1]));
      if (!hook) return json({ message: "Not Found" }, 404);
      if (req.method === "GET") return json({ ...hook, config: { ...hook.config, secret: "********" } });
      if (req.method === "DELETE") {
        state.hooks.splice(state.hooks.indexOf(hook), 1);
        return new Response(null, { status: 204 });
      }
    }
    const statusMatch = /^\/statuses\/([0-9a-f]{40})$/.exec(rest);
    if (req.method === "POST" && statusMatch) {
      const body = (await req.json()) as { state: string; target_url: string; description: string; context: string };
      if (!["pending", "success", "failure", "error"].includes(body.state)) return json({ message: "Validation Failed" }, 422);
      state.statuses.push({ repo: full, sha: statusMatch[1] as string, ...body });
      return json({ id: state.statuses.length, ...body }, 201);
    }
    return json({ message: "Not Found" }, 404);
  }

  async function oauth(req: Request, url: URL): Promise<Response> {
    if (url.pathname === "/login/oauth/authorize") {
      const q = url.searchParams;
      if (q.get("client_id") !== state.clientId) return new Response("unknown client", { status: 404 });
      const redirectUri = q.get("redirect_uri") ?? "";
      const code = randomBytes(10).toString("hex");
      codes.set(code, {
        challenge: q.get("code_challenge") ?? "",
        method: q.get("code_challenge_method") ?? "",
        redirectUri,
        user: state.signedInAs,
      });
      const back = new URL(redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", q.get("state") ?? "");
      return new Response(null, { status: 302, headers: { location: back.toString() } });
    }
    // POST /login/oauth/access_token
    const form = new URLSearchParams(await req.text());
    const basic = /^Basic (.+)$/.exec(req.headers.get("authorization") ?? "");
    const [id, secret] = basic
      ? Buffer.from(basic[1] as string, "base64")
          .toString()
          .split(":")
      : [form.get("client_id"), form.get("client_secret")];
    if (id !== state.clientId || secret !== state.clientSecret)
      return json({ error: "incorrect_client_credentials", error_description: "The client_id and/or client_secret passed are incorrect." });
    const grant = codes.get(form.get("code") ?? "");
    codes.delete(form.get("code") ?? "");
    if (!grant) return json({ error: "bad_verification_code", error_description: "The code passed is incorrect or expired." });
    if (form.get("redirect_uri") && form.get("redirect_uri") !== grant.redirectUri) return json({ error: "redirect_uri_mismatch" });
    if (grant.challenge) {
      const verifier = form.get("code_verifier") ?? "";
      if (grant.method !== "S256" || createHash("sha256").update(verifier).digest("base64url") !== grant.challenge) {
        return json({ error: "invalid_grant", error_description: "The code_verifier does not match the code_challenge." });
      }
    }
    const token = `gho_${randomBytes(18).toString("hex")}`;
    state.tokens.set(token, grant.user);
    return json({ access_token: token, token_type: "bearer", scope: "admin:repo_hook,read:user,repo,user:email" });
  }

  /** git smart HTTP through the real git http-backend (CGI), behind token auth as on GitHub. */
  async function git(req: Request, url: URL, repo: RepoFixture, sub: string): Promise<Response> {
    const basic = /^Basic (.+)$/.exec(req.headers.get("authorization") ?? "");
    const password = basic
      ? Buffer.from(basic[1] as string, "base64")
          .toString()
          .split(":")[1]
      : null;
    if (!password || !state.tokens.has(password) || !repo.bare) {
      return new Response("Authentication required\n", { status: 401, headers: { "www-authenticate": 'Basic realm="GitHub"' } });
    }
    const body = req.method === "POST" ? new Uint8Array(await req.arrayBuffer()) : null;
    const proc = Bun.spawn(["git", "http-backend"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        GIT_PROJECT_ROOT: dirname(repo.bare),
        GIT_HTTP_EXPORT_ALL: "1",
        PATH_INFO: `/${basename(repo.bare)}${sub}`,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method,
        CONTENT_TYPE: req.headers.get("content-type") ?? "",
        ...(body ? { CONTENT_LENGTH: String(body.byteLength) } : {}),
        HTTP_CONTENT_ENCODING: req.headers.get("content-encoding") ?? "",
        GIT_PROTOCOL: req.headers.get("git-protocol") ?? "",
        REMOTE_USER: "x-access-token",
        REMOTE_ADDR: "127.0.0.1",
      },
      stdin: body ?? "ignore",
      stdout: "pipe",
      stderr: "ignore",
    });
    const out = Buffer.from(await new Response(proc.stdout).arrayBuffer());
    await proc.exited;
    const split = out.indexOf("\r\n\r\n");
    const head = out.subarray(0, split).toString().split("\r\n");
    const headers = new Headers();
    let status = 200;
    for (const line of head) {
      const i = line.indexOf(":");
      const key = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (key.toLowerCase() === "status") status = Number(value.split(" ")[0]);
      else if (key) headers.append(key, value);
    }
    return new Response(out.subarray(split + 4), { status, headers });
  }

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      const copy = req.clone();
      const text = req.method === "GET" || url.pathname.endsWith("git-upload-pack") ? "" : await copy.text();
      state.requests.push({
        method: req.method,
        path: url.pathname,
        query: url.search,
        authorization: req.headers.get("authorization"),
        body: text,
      });
      if (url.pathname.startsWith("/api/v3/")) return api(req, url, url.pathname.slice("/api/v3".length));
      if (url.pathname.startsWith("/login/oauth/")) return oauth(req, url);
      const gm = /^\/([^/]+)\/([^/]+?)\.git(\/.*)$/.exec(url.pathname);
      const repo = gm ? findRepo(gm[1] as string, gm[2] as string) : null;
      if (gm && repo) return git(req, url, repo, gm[3] as string);
      return new Response("Not Found", { status: 404 });
    },
  });
  state.url = `http://127.0.0.1:${server.port}`;
  state.apiUrl = `${state.url}/api/v3`;
  return state;
}

/** A push event payload as GitHub sends it (the fields Switchyard reads, and a few around them). */
export function pushPayload(o: { repo: string; branch: string; sha: string; before?: string; message: string; author: string }) {
  return {
    ref: `refs/heads/${o.branch}`,
    before: o.before ?? "0".repeat(40),
    after: o.sha,
    created: false,
    deleted: false,
    forced: false,
    repository: { full_name: o.repo, name: o.repo.split("/")[1], owner: { login: o.repo.split("/")[0] } },
    pusher: { name: o.author.toLowerCase().replaceAll(" ", "-"), email: "dev@example.com" },
    head_commit: {
      id: o.sha,
      message: o.message,
      author: { name: o.author, email: "dev@example.com" },
      timestamp: new Date().toISOString(),
    },
    commits: [{ id: o.sha, message: o.message }],
  };
}

/** A webhook delivery signed as GitHub signs it: HMAC SHA-256 of the raw body with the hook's secret. */
export function signedDelivery(
  url: string,
  event: string,
  payload: unknown,
  secret: string | null,
  deliveryId: string = randomUUID(),
): Request {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/test",
    "x-github-event": event,
    "x-github-delivery": deliveryId,
    "x-github-hook-id": "1000",
  };
  if (secret !== null) headers["x-hub-signature-256"] = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
  return new Request(url, { method: "POST", headers, body });
}

/** The panel's configuration for this test server (an OAuth app, GitHub's URLs). */
export function gitHubConfig(gh: GitHubServer, publicUrl: string): Record<string, string> {
  return {
    GITHUB_CLIENT_ID: gh.clientId,
    GITHUB_CLIENT_SECRET: gh.clientSecret,
    GITHUB_URL: gh.url,
    GITHUB_API_URL: gh.apiUrl,
    SWITCHYARD_PUBLIC_URL: publicUrl,
  };
}

/**
 * Connects the signed-in user's GitHub account, as a browser would: the panel's start URL, the
 * test server's authorize page, back to the panel's callback. Resolves with where the panel sent
 * the browser in the end.
 */
export async function connectGitHub(app: { fetch(req: Request): Promise<Response> | Response }, cookie: string, publicUrl: string) {
  const start = await app.fetch(new Request(`${publicUrl}/api/v1/auth/github/start?intent=connect`, { headers: { cookie } }));
  const flow = (start.headers.getSetCookie()[0] as string).split(";")[0] as string;
  const atGitHub = await fetch(new URL(start.headers.get("location") as string), { redirect: "manual" });
  const callback = new URL(atGitHub.headers.get("location") as string);
  const back = await app.fetch(
    new Request(`${publicUrl}${callback.pathname}${callback.search}`, { headers: { cookie: `${flow}; ${cookie}` } }),
  );
  return back.headers.get("location");
}
