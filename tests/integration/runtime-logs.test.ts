import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RuntimeLogLine, RuntimeLogPage } from "../../backend/contract/api.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { readSse } from "../helpers/sse.ts";
import { waitFor } from "../helpers/wait.ts";

const SECRET = "tok-9f8e7d6c5b4a";

/** An app that prints what it is asked to, with its secret, on stdout or stderr. */
function talkingApp(version: string) {
  return bunApp(version, {
    "server.ts": `const version = await Bun.file("version.txt").text();
console.log("starting " + version);
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    const word = url.searchParams.get("word") ?? "";
    if (url.pathname === "/say") console.log("said " + word + " key=" + process.env.API_KEY);
    if (url.pathname === "/warn") console.error("warned " + word);
    return new Response(version);
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
  });
}

describe(`runtime logs API (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;
  let firstRelease: string;
  let firstSlot: string;
  let saidLine: RuntimeLogLine;

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    repo = await createRepo(talkingApp("v1"));
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: "talker", repoUrl: repo.url, healthTimeoutSec: 20, watchSeconds: 1, drainSeconds: 1 },
    });
    expect(created.status).toBe(201);
    expect(
      (await api.request("PUT", "/api/v1/apps/talker/env", { cookie, body: { vars: [{ key: "API_KEY", value: SECRET, secret: true }] } }))
        .status,
    ).toBe(200);
    await deployed();
    const app = (await api.request("GET", "/api/v1/apps/talker", { cookie })).body.app;
    firstSlot = app.liveColor;
    firstRelease = app.slots.find((s: { color: string }) => s.color === app.liveColor).releaseId;
  });
  afterAll(async () => {
    await api.close();
    repo.cleanup();
  });

  async function deployed() {
    const res = await api.request("POST", "/api/v1/apps/talker/deploy", { cookie, body: {} });
    expect(res.status).toBe(202);
    await api.services.orchestrator.waitFor(res.body.job.id, 120_000);
    const job = (await api.request("GET", `/api/v1/jobs/${res.body.job.id}`, { cookie })).body.job;
    expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
  }

  async function liveUrl(path: string) {
    const app = (await api.request("GET", "/api/v1/apps/talker", { cookie })).body.app;
    const live = app.slots.find((s: { color: string }) => s.color === app.liveColor);
    return `http://127.0.0.1:${live.port}${path}`;
  }

  const logs = (query: string) => api.request<RuntimeLogPage>("GET", `/api/v1/apps/talker/logs${query}`, { cookie });

  function stream(query: string, lastEventId?: string) {
    return api.app.fetch(
      new Request(`http://localhost:3000/api/v1/apps/talker/logs${query}`, {
        headers: { accept: "text/event-stream", cookie, ...(lastEventId ? { "last-event-id": lastEventId } : {}) },
      }),
    );
  }

  /** The `line` events of a stream until `until` holds for one, or the deadline. */
  async function collect(res: Response, until: (line: RuntimeLogLine) => boolean, timeoutMs = 30_000) {
    const lines: RuntimeLogLine[] = [];
    const timer = setTimeout(() => void res.body?.cancel().catch(() => {}), timeoutMs);
    await readSse(res.body as ReadableStream<Uint8Array>, (e) => {
      if (e.event !== "line") return false;
      const line = JSON.parse(e.data) as RuntimeLogLine;
      expect(e.id).toBe(line.id);
      lines.push(line);
      return until(line);
    }).catch(() => {});
    clearTimeout(timer);
    return lines;
  }

  test("a line the app prints reaches the live tail, masked", async () => {
    const res = await stream("");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    // The tail starts at the end: print only once it is reading.
    const arriving = collect(res, (l) => l.text.includes("said hello-tail"));
    const sent = performance.now();
    expect(await (await fetch(await liveUrl("/say?word=hello-tail"))).text()).toBe("v1");
    const lines = await arriving;
    const took = performance.now() - sent;
    const said = lines.find((l) => l.text.includes("said hello-tail"));
    expect(said).toMatchObject({ slot: firstSlot, releaseId: firstRelease, stream: "stdout", text: "said hello-tail key=••••" });
    expect(JSON.stringify(lines)).not.toContain(SECRET);
    console.log(`runtime line → live tail: ${Math.round(took)} ms (${TEST_DB})`);
    saidLine = said as RuntimeLogLine;
  });

  test("stderr lines, filters and search", async () => {
    await fetch(await liveUrl("/warn?word=careful"));
    const warned = await waitFor(async () => (await logs("?q=warned%20careful")).body.lines[0], { what: "the stderr line" });
    expect(warned).toMatchObject({ stream: "stderr", text: "warned careful", slot: firstSlot });
    expect((await logs("?q=warned&stream=stdout")).body.lines).toEqual([]);
    // The web's only instance is `web`; no worker printed anything.
    expect((await logs("?q=warned&process=web")).body.lines.map((l) => l.process)).toEqual(["web"]);
    expect((await logs("?q=warned&process=worker")).body.lines).toEqual([]);
    expect((await logs("?q=warned&stream=stderr")).body.lines.map((l) => l.text)).toEqual(["warned careful"]);
    const other = firstSlot === "blue" ? "green" : "blue";
    expect((await logs(`?q=said&slot=${other}`)).body.lines).toEqual([]);
    expect((await logs(`?q=said&slot=${firstSlot}`)).body.lines.map((l) => l.id)).toEqual([saidLine.id]);
    // Substring search is case-insensitive; a regex is one with regex=1; a secret cannot be searched for.
    expect((await logs("?q=SAID%20HELLO")).body.lines).toHaveLength(1);
    expect((await logs(`?q=${encodeURIComponent("^said h[a-z]+-tail key=•+$")}&regex=1`)).body.lines.map((l) => l.id)).toEqual([
      saidLine.id,
    ]);
    expect((await logs(`?q=${SECRET}`)).body.lines).toEqual([]);
    // The supervisor's own lines are the system stream.
    expect((await logs("?stream=system")).body.lines.some((l) => l.text.startsWith("starting "))).toBe(true);
    // A time range around the line, in ISO and in epoch ms.
    const at = Date.parse(saidLine.at);
    expect((await logs(`?q=said&from=${at}&to=${new Date(at).toISOString()}`)).body.lines.map((l) => l.id)).toEqual([saidLine.id]);
    expect((await logs(`?q=said&from=${at + 1}`)).body.lines).toEqual([]);
  });

  test("pages go back with before, newest first, every line once", async () => {
    for (const word of ["p1", "p2", "p3", "p4", "p5"]) await fetch(await liveUrl(`/say?word=page-${word}`));
    await waitFor(async () => (await logs("?q=page-p5")).body.lines.length === 1, { what: "the fifth line" });
    const seen: string[] = [];
    let before: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: RuntimeLogPage = (await logs(`?q=said%20page-&limit=2${before ? `&before=${encodeURIComponent(before)}` : ""}`)).body;
      seen.unshift(...page.lines.map((l) => l.text.split(" ")[1] as string));
      if (!page.more) break;
      before = page.before;
    }
    expect(seen).toEqual(["page-p1", "page-p2", "page-p3", "page-p4", "page-p5"]);
  });

  test("the tail resumes after Last-Event-ID, with nothing lost or repeated", async () => {
    await fetch(await liveUrl("/say?word=resume-a"));
    await fetch(await liveUrl("/say?word=resume-b"));
    const a = await waitFor(async () => (await logs("?q=resume-a")).body.lines[0], { what: "line a" });
    await waitFor(async () => (await logs("?q=resume-b")).body.lines[0], { what: "line b" });
    const lines = await collect(await stream("?q=resume-", a.id), (l) => l.text.includes("resume-b"));
    expect(lines.map((l) => l.text)).toEqual(["said resume-b key=••••"]);
    // The `after` parameter does the same where a header cannot be set.
    const viaQuery = await collect(await stream(`?q=resume-&after=${encodeURIComponent(a.id)}`), (l) => l.text.includes("resume-b"));
    expect(viaQuery.map((l) => l.text)).toEqual(["said resume-b key=••••"]);
  });

  test("download gives the filtered range as a text file", async () => {
    const res = await api.app.fetch(
      new Request("http://localhost:3000/api/v1/apps/talker/logs?q=said&download=1", { headers: { cookie } }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/plain");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="talker-runtime-[\dT-]+\.log"$/);
    const text = await res.text();
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toBe(`${saidLine.at} ${firstSlot} v1 stdout said hello-tail key=••••`);
    expect(lines.every((l) => l.includes(" said "))).toBe(true);
    expect(lines).toHaveLength(8);
    expect(text).not.toContain(SECRET);
  });

  test("after a redeploy the first release's line is still there, by release id and number", async () => {
    await deployed();
    const app = (await api.request("GET", "/api/v1/apps/talker", { cookie })).body.app;
    expect(app.slots.find((s: { color: string }) => s.color === app.liveColor).releaseId).not.toBe(firstRelease);
    const byId = (await logs(`?release=${firstRelease}&q=hello-tail`)).body.lines;
    expect(byId.map((l) => l.id)).toEqual([saidLine.id]);
    expect((await logs("?release=1&q=hello-tail")).body.lines.map((l) => l.id)).toEqual([saidLine.id]);
    expect((await logs("?release=v2&q=hello-tail")).body.lines).toEqual([]);
    // The new release prints into the same log, tagged with its own release.
    await fetch(await liveUrl("/say?word=after-redeploy"));
    const after = await waitFor(async () => (await logs("?q=after-redeploy")).body.lines[0], { what: "the new release's line" });
    expect(after.releaseId).not.toBe(firstRelease);
    expect((await logs("?release=2&q=after-redeploy")).body.lines).toHaveLength(1);
  });

  test("bad input is a 400 with the error shape; an unknown app is a 404", async () => {
    for (const [query, code] of [
      ["?from=yesterday", "validation_failed"],
      ["?to=2026-13-45T00:00:00Z", "validation_failed"],
      ["?slot=red", "validation_failed"],
      ["?stream=stdin", "validation_failed"],
      ["?process=..%2Fworker", "validation_failed"],
      ["?process=worker.123", "validation_failed"],
      ["?limit=0", "validation_failed"],
      ["?limit=5001", "validation_failed"],
      ["?regex=maybe&q=x", "validation_failed"],
      ["?before=not-a-cursor", "bad_request"],
      ["?release=99", "bad_request"],
      ["?release=00000000-0000-0000-0000-000000000000", "bad_request"],
      ["?from=2000&to=1000", "bad_request"],
      ["?regex=1", "bad_request"],
      [`?regex=1&q=${encodeURIComponent("(a+)+$")}`, "invalid_search"],
      [`?regex=1&q=${encodeURIComponent("[unclosed")}`, "invalid_search"],
    ] as const) {
      const res = await api.request("GET", `/api/v1/apps/talker/logs${query}`, { cookie });
      expect({ query, status: res.status, code: res.body?.error?.code }).toEqual({ query, status: 400, code });
      expect(typeof res.body.error.message).toBe("string");
    }
    const sse = await stream("", "garbage");
    expect(sse.status).toBe(400);
    expect((await api.request("GET", "/api/v1/apps/nope/logs", { cookie })).status).toBe(404);
    expect((await api.request("GET", "/api/v1/apps/talker/logs")).status).toBe(401);
  });
});
