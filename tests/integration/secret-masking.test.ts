import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

const PEM = [
  "-----BEGIN PRIVATE KEY-----",
  "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
  "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
  "-----END PRIVATE KEY-----",
].join("\n");
const QUOTED = 'quo"te\\back';

/** Prints its secrets as they are and with JSON.stringify, when built and when started. */
function printingApp(version: string): Record<string, string> {
  const print = (when: string) =>
    [
      `console.log(${JSON.stringify(`${when} PEM:`)});`,
      "console.log(process.env.PEM_KEY);",
      `console.log(${JSON.stringify(`${when} json:`)} + JSON.stringify({ pem: process.env.PEM_KEY, quoted: process.env.QUOTED }));`,
      `console.log(${JSON.stringify(`${when} quoted:`)} + process.env.QUOTED);`,
      `console.log(${JSON.stringify(`${when} MY_SECRET=`)} + process.env.MY_SECRET);`,
      `console.log(${JSON.stringify(`${when} done`)});`,
    ].join("\n");
  return {
    "package.json": JSON.stringify({ name: "leaky", private: true, scripts: { build: "bun build.ts", start: "bun server.ts" } }),
    "build.ts": `${print("build")}\nawait Bun.write("version.txt", ${JSON.stringify(version)});\n`,
    "server.ts": `${print("start")}
const version = await Bun.file("version.txt").text();
const server = Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response(version) });
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
  };
}

/** Every printed form of the secrets that must not reach a reader. */
function leaks(text: string, secrets: string[]): string[] {
  const found: string[] = [];
  for (const secret of secrets) {
    const forms = [secret, JSON.stringify(secret).slice(1, -1), ...secret.split("\n")];
    for (const form of forms) if (text.includes(form)) found.push(form);
  }
  return found;
}

describe(`secret masking in job and slot logs (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let viewer: string;
  const repos: TestRepo[] = [];

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    const created = await api.request("POST", "/api/v1/users", {
      cookie,
      body: { email: "viewer@example.com", name: "Vi", password: "viewer-password", role: "viewer" },
    });
    expect(created.status).toBe(201);
    const login = await api.request("POST", "/api/v1/auth/login", { body: { email: "viewer@example.com", password: "viewer-password" } });
    const token = await api.request("POST", "/api/v1/tokens", { cookie: cookieFrom(login.headers), body: { name: "read" } });
    expect(token.status).toBe(201);
    viewer = token.body.token;
  });
  afterAll(async () => {
    await api.close();
    for (const r of repos) r.cleanup();
  });

  async function setEnv(name: string, vars: Array<{ key: string; value: string; secret?: boolean }>) {
    const res = await api.request("PUT", `/api/v1/apps/${name}/env`, { cookie, body: { vars } });
    expect(res.status).toBe(200);
  }

  async function succeeded(res: { status: number; body: { job: { id: string } } }) {
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { token: viewer })).body.job;
    expect(job.status).toBe("succeeded");
    return res.body.job.id as string;
  }

  const deploy = async (name: string) => succeeded(await api.request("POST", `/api/v1/apps/${name}/deploy`, { cookie, body: {} }));

  async function jobLog(jobId: string): Promise<string> {
    const res = await api.request("GET", `/api/v1/jobs/${jobId}/logs`, { token: viewer });
    expect(res.status).toBe(200);
    return (res.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n");
  }

  /** The live slot's output, read by the viewer once the app's latest start has printed everything. */
  async function liveSlotLog(name: string): Promise<string> {
    const app = (await api.request("GET", `/api/v1/apps/${name}`, { token: viewer })).body.app;
    return waitFor(
      async () => {
        const res = await api.request("GET", `/api/v1/apps/${name}/slots/${app.liveColor}/logs?lines=200`, { token: viewer });
        const text = (res.body.lines as string[]).join("\n");
        const lastRun = text.slice(text.lastIndexOf("start PEM:"));
        return res.status === 200 && lastRun.includes("start done") ? text : null;
      },
      { what: "the app's start-up output in its slot log", timeoutMs: 30_000 },
    );
  }

  test("a PEM key and a secret with quotes and backslashes are masked in every form, in build and app output", async () => {
    const r = await createRepo(printingApp("v1"));
    repos.push(r);
    expect((await api.request("POST", "/api/v1/apps", { cookie, body: { name: "leaky", repoUrl: r.url, watchSeconds: 1 } })).status).toBe(
      201,
    );
    await setEnv("leaky", [
      { key: "PEM_KEY", value: PEM, secret: true },
      { key: "QUOTED", value: QUOTED, secret: true },
      { key: "MY_SECRET", value: "first-secret-value", secret: true },
    ]);
    const log = await jobLog(await deploy("leaky"));
    expect(log).toContain("build done");
    expect(log).toContain("build json:");
    expect(leaks(log, [PEM, QUOTED])).toEqual([]);
    expect(log).toContain("••••");

    const slot = await liveSlotLog("leaky");
    expect(slot).toContain("start json:");
    expect(leaks(slot, [PEM, QUOTED])).toEqual([]);
    expect(slot).toContain("••••");
  });

  test("after a secret is rotated, rolling back to a release with the old value does not show it", async () => {
    const r = await createRepo(printingApp("v1"));
    repos.push(r);
    expect((await api.request("POST", "/api/v1/apps", { cookie, body: { name: "rotates", repoUrl: r.url, watchSeconds: 1 } })).status).toBe(
      201,
    );
    const OLD = "old-rotated-away-secret";
    await setEnv("rotates", [{ key: "MY_SECRET", value: OLD, secret: true }]);
    await deploy("rotates");
    await setEnv("rotates", [{ key: "MY_SECRET", value: "new-current-secret", secret: true }]);
    await r.commit(printingApp("v2"), "v2");
    await deploy("rotates");
    await r.commit(printingApp("v3"), "v3");
    await deploy("rotates");
    // v1 is on no slot now (v3 live, v2 standby): the rollback starts it afresh from its snapshot.
    const { releases } = (await api.request("GET", "/api/v1/apps/rotates/releases", { token: viewer })).body;
    const v1 = releases.find((x: { number: number }) => x.number === 1);
    expect(v1.rollbackEligible).toBe(true);
    const rollbackJob = await succeeded(await api.request("POST", "/api/v1/apps/rotates/rollback", { cookie, body: { releaseId: v1.id } }));

    const slot = await liveSlotLog("rotates");
    expect(slot).toContain("start MY_SECRET=••••");
    expect(slot).not.toContain(OLD);
    expect(await jobLog(rollbackJob)).not.toContain(OLD);
  });
});
