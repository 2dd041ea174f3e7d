import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeBase32IgnorePadding } from "@oslojs/encoding";
import { generateTOTP } from "@oslojs/otp";
import { githubAccounts, users } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type GitHubServer, gitHubConfig, pushPayload, signedDelivery, startGitHubServer } from "../helpers/github-server.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";

const PUBLIC_URL = "http://localhost:3000";
const HOOK_URL = `${PUBLIC_URL}/api/v1/webhooks/github?app=shop`;

describe(`GitHub integration (${TEST_DB})`, () => {
  let gh: GitHubServer;
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;
  /** Every API answer the tests saw, to check no token ever appears in one. */
  const answers: string[] = [];

  beforeAll(async () => {
    repo = await createRepo(bunApp("v1"), "main", "v1");
    const filler = Array.from({ length: 45 }, (_, i) => ({
      owner: i % 2 ? "acme" : "octo-ada",
      name: `tool-${String(i).padStart(2, "0")}`,
    }));
    gh = startGitHubServer({ repos: [{ owner: "acme", name: "shop", bare: repo.bare }, ...filler] });
    api = await createTestApi({
      background: true,
      config: gitHubConfig(gh, PUBLIC_URL),
    });
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api?.close();
    gh?.stop();
    repo?.cleanup();
  });

  async function call(method: string, path: string, body?: unknown, as = cookie) {
    const res = await api.request(method, path, { cookie: as, ...(body === undefined ? {} : { body }) });
    answers.push(JSON.stringify(res.body));
    return res;
  }

  /** The browser's part of the OAuth flow: panel → GitHub authorize → back to the panel's callback. */
  async function oauthFlow(intent: "signin" | "connect", session?: string) {
    const start = await api.app.fetch(
      new Request(`${PUBLIC_URL}/api/v1/auth/github/start?intent=${intent}`, { headers: session ? { cookie: session } : {} }),
    );
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get("location") as string);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${gh.url}/login/oauth/authorize`);
    expect(authorize.searchParams.get("client_id")).toBe(gh.clientId);
    expect(authorize.searchParams.get("redirect_uri")).toBe(`${PUBLIC_URL}/api/v1/auth/github/callback`);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorize.searchParams.get("scope")).toContain("admin:repo_hook");
    const flow = cookieFrom(
      new Headers({ "set-cookie": (start.headers.getSetCookie()[0] as string).replace(/^sy_github_flow/, "sy_session") }),
    ).replace(/^sy_session/, "sy_github_flow");
    const atGitHub = await fetch(authorize, { redirect: "manual" });
    expect(atGitHub.status).toBe(302);
    const callback = new URL(atGitHub.headers.get("location") as string);
    const back = await api.app.fetch(
      new Request(`${PUBLIC_URL}${callback.pathname}${callback.search}`, {
        headers: { cookie: [flow, session].filter(Boolean).join("; ") },
      }),
    );
    expect(back.status).toBe(302);
    return { location: back.headers.get("location") as string, cookies: back.headers.getSetCookie() };
  }

  /** The owner's current token: the newest one GitHub issued to octo-ada. */
  const tokenOf = () => ([...gh.tokens].filter(([, user]) => user.login === "octo-ada").at(-1) as [string, unknown])[0];

  test("not connected yet: the status says so; connecting goes through GitHub's redirect flow with PKCE", async () => {
    const before = await call("GET", "/api/v1/github/status");
    expect(before.body).toMatchObject({
      configured: true,
      connected: false,
      reconnectNeeded: false,
      callbackUrl: `${PUBLIC_URL}/api/v1/auth/github/callback`,
    });
    const { location } = await oauthFlow("connect", cookie);
    expect(location).toBe("/settings?github=connected");
    const after = await call("GET", "/api/v1/github/status");
    expect(after.body).toMatchObject({ connected: true, account: { login: "octo-ada", name: "Ada Octo" } });
    const [stored] = await api.services.db.select().from(githubAccounts);
    expect(stored?.accessToken).toStartWith("v1.");
    expect(stored?.accessToken).not.toContain(tokenOf());
    const exchange = gh.requests.find((r) => r.path === "/login/oauth/access_token");
    expect(exchange?.body).toContain("code_verifier=");
  });

  test("a forged callback (state that was never issued) is refused", async () => {
    const res = await api.app.fetch(
      new Request(`${PUBLIC_URL}/api/v1/auth/github/callback?code=x&state=forged`, {
        headers: { cookie: "sy_github_flow=real.verifier.connect" },
      }),
    );
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/settings?github_error=state_mismatch");
  });

  test("sign in with GitHub: the linked user gets a session; an unknown one only when the owner allows sign-up", async () => {
    const linked = await oauthFlow("signin");
    expect(linked.location).toBe("/");
    const session = cookieFrom(new Headers(linked.cookies.map((c) => ["set-cookie", c]) as [string, string][]));
    expect((await call("GET", "/api/v1/auth/me", undefined, session)).body.user.email).toBe("owner@example.com");

    gh.signedInAs = { id: 7, login: "stranger", name: "Stranger", email: "stranger@example.com" };
    gh.users.push(gh.signedInAs);
    expect((await oauthFlow("signin")).location).toBe("/login?github_error=not_linked");
    expect((await call("PUT", "/api/v1/github/settings", { allowSignup: true })).status).toBe(200);
    const joined = await oauthFlow("signin");
    expect(joined.location).toBe("/");
    const theirs = cookieFrom(new Headers(joined.cookies.map((c) => ["set-cookie", c]) as [string, string][]));
    expect((await call("GET", "/api/v1/auth/me", undefined, theirs)).body.user).toMatchObject({
      email: "stranger@example.com",
      role: "viewer",
    });
    await call("PUT", "/api/v1/github/settings", { allowSignup: false });
    gh.signedInAs = gh.users[0] as (typeof gh.users)[number];
  });

  test("sign in with GitHub does not skip two-factor: an account with 2FA on must sign in with its code", async () => {
    const setup = await call("POST", "/api/v1/auth/2fa/setup", { password: "correct-horse-battery" });
    expect(setup.status).toBe(200);
    const key = decodeBase32IgnorePadding(setup.body.secret);
    expect((await call("POST", "/api/v1/auth/2fa/enable", { code: generateTOTP(key, 30, 6) })).status).toBe(200);
    try {
      const refused = await oauthFlow("signin");
      expect(refused.location).toBe("/login?github_error=two_factor_required");
      expect(refused.cookies.some((c) => c.startsWith("sy_session=") && !c.startsWith("sy_session=;"))).toBe(false);
    } finally {
      await api.services.db.update(users).set({ totpEnabledAt: null, totpSecret: null, totpLastStep: null });
    }
    expect((await oauthFlow("signin")).location).toBe("/");
  });

  test("repositories: paginated through GitHub's Link headers, searchable; branches with the default", async () => {
    const first = await call("GET", "/api/v1/github/repos");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ page: 1, total: 46, nextPage: 2 });
    expect(first.body.repos).toHaveLength(30);
    expect((await call("GET", "/api/v1/github/repos?page=2")).body).toMatchObject({ total: 46, nextPage: null });
    expect((await call("GET", "/api/v1/github/repos?page=2")).body.repos).toHaveLength(16);
    const listCalls = gh.requests.filter((r) => r.path === "/api/v3/user/repos");
    expect(listCalls.length).toBe(1); // cached
    expect(listCalls[0]?.query).toContain("per_page=100");
    const found = await call("GET", "/api/v1/github/repos?q=ACME/SH");
    expect(found.body.repos.map((r: { fullName: string }) => r.fullName)).toEqual(["acme/shop"]);
    const branches = await call("GET", "/api/v1/github/repos/acme/shop/branches");
    expect(branches.body.defaultBranch).toBe("main");
    expect(branches.body.branches[0]).toMatchObject({ name: "main" });
    expect((await call("GET", "/api/v1/github/repos/acme/..%2Fetc/branches")).status).toBe(400);
    expect((await call("GET", "/api/v1/github/repos/acme/missing/branches")).status).toBe(404);
  });

  test("an app created from a repository gets a webhook with our URL, push events, JSON and a secret", async () => {
    const res = await call("POST", "/api/v1/apps", {
      name: "shop",
      github: { owner: "acme", repo: "shop" },
      watchSeconds: 0,
      drainSeconds: 0,
    });
    expect(res.status).toBe(201);
    expect(res.body.app).toMatchObject({
      repoUrl: `${gh.url}/acme/shop.git`,
      branch: "main",
      githubRepo: "acme/shop",
      webhook: { active: true },
    });
    expect(gh.hooks).toHaveLength(1);
    const hook = gh.hooks[0];
    expect(hook).toMatchObject({ repo: "acme/shop", events: ["push"], active: true, config: { url: HOOK_URL, content_type: "json" } });
    expect(hook?.config.secret).toMatch(/^[0-9a-f]{64}$/);
    const health = await call("GET", "/api/v1/apps/shop/webhook");
    expect(health.body).toMatchObject({ repo: "acme/shop", hook: { url: HOOK_URL, events: ["push"], active: true }, lastDelivery: null });
  });

  test("a signed push to the branch deploys exactly that commit, the token stays out of sight, and the commit status goes pending → success", async () => {
    const secret = gh.hooks[0]?.config.secret as string;
    const sha = await repo.commit(bunApp("v2"), "Make it v2");
    await repo.commit(bunApp("v3"), "v3: pushed right after"); // the branch moves on; the delivery names v2
    const token = tokenOf();
    const seenInArgv: string[] = [];
    let sawGitFetch = false;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
          try {
            const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8");
            if (argv.includes(`${gh.url}/acme/shop.git`) || argv.startsWith("git\0fetch")) sawGitFetch = true;
            if (argv.includes(token) || argv.includes(Buffer.from(`x-access-token:${token}`).toString("base64"))) seenInArgv.push(argv);
          } catch {}
        }
        await Bun.sleep(5);
      }
    })();
    const delivered = await api.app.fetch(
      signedDelivery(
        HOOK_URL,
        "push",
        pushPayload({ repo: "acme/shop", branch: "main", sha, message: "Make it v2", author: "Ada Lovelace" }),
        secret,
      ),
    );
    expect(delivered.status).toBe(202);
    const { delivery } = (await delivered.json()) as { delivery: { outcome: string; jobId: string; commitSha: string } };
    expect(delivery).toMatchObject({ outcome: "deployed", commitSha: sha });
    const job = await api.services.orchestrator.waitFor(delivery.jobId, 120_000);
    watching = false;
    await watcher;
    expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
    const releases = (await call("GET", "/api/v1/apps/shop/releases")).body.releases;
    expect(releases[0]).toMatchObject({ commitSha: sha, commitMessage: "Make it v2", commitAuthor: "Ada Lovelace", status: "live" });
    const slot = (await call("GET", "/api/v1/apps/shop")).body.app.slots.find((s: { state: string }) => s.state === "live");
    expect(await (await fetch(`http://127.0.0.1:${slot.port}/`)).text()).toBe("v2");

    expect(gh.statuses.filter((s) => s.sha === sha).map((s) => s.state)).toEqual(["pending", "success"]);
    expect(gh.statuses.at(-1)).toMatchObject({ context: "switchyard/shop", target_url: `${PUBLIC_URL}/apps/shop?job=${delivery.jobId}` });

    const gitCalls = gh.requests.filter((r) => r.path.startsWith("/acme/shop.git/"));
    expect(gitCalls.length).toBeGreaterThan(0);
    for (const r of gitCalls) expect(r.authorization).toBe(`Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`);
    expect(sawGitFetch).toBe(true); // the watch saw the clone running, so it could have caught a token
    expect(seenInArgv).toEqual([]);
    const releaseDir = readdirSync(join(api.config.dataDir, "apps", "shop", "releases")).map((d) =>
      join(api.config.dataDir, "apps", "shop", "releases", d),
    );
    for (const dir of releaseDir) {
      if (existsSync(join(dir, ".git", "config"))) expect(readFileSync(join(dir, ".git", "config"), "utf8")).not.toContain(token);
    }
    const logs = (await call("GET", `/api/v1/jobs/${delivery.jobId}/logs`)).body.lines.map((l: { line: string }) => l.line).join("\n");
    expect(logs).toContain(sha.slice(0, 12));
    expect(logs).not.toContain(token);
  });

  test("bad or missing signatures, replays, other branches, malformed JSON and unknown repositories: no job and no 500", async () => {
    const secret = gh.hooks[0]?.config.secret as string;
    const sha = await repo.commit({ "note.txt": "x" }, "another");
    const payload = pushPayload({ repo: "acme/shop", branch: "main", sha, message: "another", author: "Ada" });
    const jobsBefore = (await call("GET", "/api/v1/apps/shop/jobs")).body.jobs.length;

    const forged = await api.app.fetch(signedDelivery(HOOK_URL, "push", payload, "not-the-secret"));
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe("bad_signature");
    expect((await api.app.fetch(signedDelivery(HOOK_URL, "push", payload, null))).status).toBe(401);

    const other = await api.app.fetch(
      signedDelivery(HOOK_URL, "push", { ...payload, ref: "refs/heads/other-branch" }, secret, "delivery-other"),
    );
    expect(other.status).toBe(200);
    expect(((await other.json()) as { delivery: { outcome: string } }).delivery.outcome).toBe("ignored: branch other-branch");
    const replay = await api.app.fetch(signedDelivery(HOOK_URL, "push", payload, secret, "delivery-other"));
    expect(replay.status).toBe(200);
    expect(((await replay.json()) as { outcome: string }).outcome).toBe("duplicate");

    const malformed = await api.app.fetch(signedDelivery(HOOK_URL, "push", "{not json", secret));
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe("bad_request");
    const unknown = await api.app.fetch(
      signedDelivery(`${PUBLIC_URL}/api/v1/webhooks/github`, "push", { ...payload, repository: { full_name: "someone/else" } }, secret),
    );
    expect(unknown.status).toBe(404);
    const gone = await api.app.fetch(signedDelivery(`${PUBLIC_URL}/api/v1/webhooks/github?app=deleted-app`, "push", payload, secret));
    expect(gone.status).toBe(404);
    const noHeaders = await api.app.fetch(
      new Request(HOOK_URL, { method: "POST", body: JSON.stringify(payload), headers: { "content-type": "application/json" } }),
    );
    expect(noHeaders.status).toBe(400);
    const ping = await api.app.fetch(
      signedDelivery(
        HOOK_URL,
        "ping",
        { zen: "Keep it logically awesome.", hook_id: 1000, repository: { full_name: "acme/shop" } },
        secret,
      ),
    );
    expect(ping.status).toBe(200);

    expect((await call("GET", "/api/v1/apps/shop/jobs")).body.jobs.length).toBe(jobsBefore);
    const outcomes = (await call("GET", "/api/v1/apps/shop/deliveries")).body.deliveries.map((d: { outcome: string }) => d.outcome);
    expect(outcomes).toEqual(expect.arrayContaining(["pong", "ignored: branch other-branch", "rejected: bad signature", "deployed"]));
  });

  test("a delivery can be run again; only verified ones", async () => {
    const list = (await call("GET", "/api/v1/apps/shop/deliveries")).body.deliveries as Array<{
      id: string;
      outcome: string;
      redeliverable: boolean;
    }>;
    const ignored = list.find((d) => d.outcome === "ignored: branch other-branch");
    const again = await call("POST", `/api/v1/webhooks/deliveries/${ignored?.id}/redeliver`, {});
    expect(again.status).toBe(200);
    expect(again.body.delivery.outcome).toBe("ignored: branch other-branch");
    const rejected = list.find((d) => d.outcome === "rejected: bad signature");
    expect(rejected?.redeliverable).toBe(false);
    expect((await call("POST", `/api/v1/webhooks/deliveries/${rejected?.id}/redeliver`, {})).status).toBe(422);
  });

  test("auto-deploy off removes the hook; a late push is recorded as ignored; on again makes a new hook", async () => {
    const oldSecret = gh.hooks[0]?.config.secret as string;
    const off = await call("PATCH", "/api/v1/apps/shop", { autoDeploy: false });
    expect(off.status).toBe(200);
    expect(gh.hooks).toHaveLength(0);
    const sha = await repo.commit({ "late.txt": "x" }, "late");
    const late = await api.app.fetch(
      signedDelivery(HOOK_URL, "push", pushPayload({ repo: "acme/shop", branch: "main", sha, message: "late", author: "Ada" }), oldSecret),
    );
    expect(((await late.json()) as { delivery: { outcome: string } }).delivery.outcome).toBe("ignored: auto-deploy off");
    expect((await call("PATCH", "/api/v1/apps/shop", { autoDeploy: true })).status).toBe(200);
    expect(gh.hooks).toHaveLength(1);
    expect(gh.hooks[0]?.config.secret).not.toBe(oldSecret);
  });

  test("deleting the app removes its hook", async () => {
    expect((await call("POST", "/api/v1/apps", { name: "shop-two", github: { owner: "acme", repo: "shop" }, branch: "main" })).status).toBe(
      201,
    );
    expect(gh.hooks).toHaveLength(2);
    expect(gh.hooks[1]?.config.url).toBe(`${PUBLIC_URL}/api/v1/webhooks/github?app=shop-two`);
    expect((await call("DELETE", "/api/v1/apps/shop-two", { confirm: "shop-two" })).status).toBe(204);
    expect(gh.hooks).toHaveLength(1);
  });

  test("a revoked token is noticed: the status asks to reconnect, and GitHub calls answer 409 saying so", async () => {
    for (const [token, user] of gh.tokens) if (user.login === "octo-ada") gh.revoke(token);
    const res = await call("GET", "/api/v1/github/repos?q=zzz-no-cache");
    // The repository list is cached for a minute; branches always ask GitHub.
    const branches = await call("GET", "/api/v1/github/repos/acme/shop/branches");
    expect(branches.status).toBe(409);
    expect(branches.body.error.code).toBe("github_reconnect_needed");
    expect(res.status).toBe(200);
    expect((await call("GET", "/api/v1/github/status")).body).toMatchObject({ connected: true, reconnectNeeded: true });
  });

  test("no token ever appeared in an API answer", () => {
    for (const token of gh.tokens.keys()) for (const answer of answers) expect(answer).not.toContain(token);
    for (const answer of answers) expect(answer).not.toContain(gh.hooks[0]?.config.secret ?? "-");
  });
});

describe(`GitHub not configured (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  beforeAll(async () => {
    api = await createTestApi();
    cookie = await api.setupOwner();
  });
  afterAll(() => api?.close());

  test("the status says how to enable it; GitHub routes answer 409 with the same advice", async () => {
    const status = await api.request("GET", "/api/v1/github/status", { cookie });
    expect(status.body).toMatchObject({ configured: false, connected: false });
    expect(status.body.howToEnable).toContain("GITHUB_CLIENT_ID");
    for (const path of ["/api/v1/github/repos", "/api/v1/auth/github/start?intent=signin"]) {
      const res = await api.request("GET", path, { cookie });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("github_not_configured");
    }
    const create = await api.request("POST", "/api/v1/apps", { cookie, body: { name: "gh-app", github: { owner: "acme", repo: "shop" } } });
    expect(create.status).toBe(409);
  });
});
