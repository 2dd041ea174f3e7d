import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { readSse } from "../helpers/sse.ts";
import { waitFor } from "../helpers/wait.ts";

describe(`job log streaming (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    repo = await createRepo(
      bunApp("v1", {
        "build.ts":
          'for (let i = 1; i <= 400; i++) { console.log("line " + i); if (i % 40 === 0) await Bun.sleep(100); }\nawait Bun.write("version.txt", "v1");\n',
      }),
    );
    await api.request("POST", "/api/v1/apps", { cookie, body: { name: "chatty", repoUrl: repo.url, watchSeconds: 1, drainSeconds: 1 } });
  });
  afterAll(async () => {
    await api.close();
    repo.cleanup();
  });

  function stream(jobId: string, lastEventId?: number) {
    return api.app.fetch(
      new Request(`http://localhost:3000/api/v1/jobs/${jobId}/logs`, {
        headers: { accept: "text/event-stream", cookie, ...(lastEventId ? { "last-event-id": String(lastEventId) } : {}) },
      }),
    );
  }

  test("a viewer joining mid-build gets every line exactly once, in order, then the end", async () => {
    const deploy = await api.request("POST", "/api/v1/apps/chatty/deploy", { cookie, body: {} });
    const jobId = deploy.body.job.id as string;
    // Join once the build is under way.
    await waitFor(
      async () => {
        const page = await api.request("GET", `/api/v1/jobs/${jobId}/logs`, { cookie });
        return page.body.lines.some((l: { line: string }) => l.line === "line 50");
      },
      { timeoutMs: 30_000, what: "the build to print line 50" },
    );
    const res = await stream(jobId);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const seqs: number[] = [];
    const texts: string[] = [];
    let end: { status: string } | null = null;
    await readSse(res.body as ReadableStream<Uint8Array>, (e) => {
      if (e.event === "line") {
        const line = JSON.parse(e.data);
        expect(Number(e.id)).toBe(line.seq);
        seqs.push(line.seq);
        texts.push(line.line);
      } else if (e.event === "end") {
        end = JSON.parse(e.data);
        return true;
      }
    });
    expect(end).not.toBeNull();
    expect((end as unknown as { status: string }).status).toBe("succeeded");
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const built = texts.filter((t) => /^line \d+$/.test(t));
    expect(built).toEqual(Array.from({ length: 400 }, (_, i) => `line ${i + 1}`));

    // The JSON view agrees, and a reconnect resumes right after Last-Event-ID.
    const all = await api.request("GET", `/api/v1/jobs/${jobId}/logs`, { cookie });
    expect(all.body.lines.length).toBe(seqs.length);
    const resumed: number[] = [];
    await readSse((await stream(jobId, 100)).body as ReadableStream<Uint8Array>, (e) => {
      if (e.event === "line") resumed.push(Number(e.id));
      return e.event === "end";
    });
    expect(resumed[0]).toBe(101);
    expect(resumed.at(-1)).toBe(seqs.at(-1));
    expect(new Set(resumed).size).toBe(resumed.length);
  }, 120_000);

  test("without Accept: text/event-stream the logs are JSON pages", async () => {
    const jobs = await api.request("GET", "/api/v1/apps/chatty/jobs", { cookie });
    const jobId = jobs.body.jobs[0].id;
    const page = await api.request("GET", `/api/v1/jobs/${jobId}/logs?after=10&limit=5`, { cookie });
    expect(page.body.lines.map((l: { seq: number }) => l.seq)).toEqual([11, 12, 13, 14, 15]);
    expect(page.body.next).toBe(15);
  });

  test("/events streams job and app events to a signed-in viewer only", async () => {
    expect((await api.request("GET", "/api/v1/events")).status).toBe(401);
    const res = await api.app.fetch(
      new Request("http://localhost:3000/api/v1/events", { headers: { accept: "text/event-stream", cookie } }),
    );
    const seen: string[] = [];
    const reading = readSse(res.body as ReadableStream<Uint8Array>, (e) => {
      seen.push(e.event);
      return e.event === "job.updated" && JSON.parse(e.data).status === "succeeded";
    });
    await waitFor(() => seen.includes("ready"), { timeoutMs: 10_000, what: "the event stream to say it is ready" });
    await api.request("POST", "/api/v1/apps/chatty/deploy", { cookie, body: {} });
    await reading;
    expect(seen[0]).toBe("ready");
    for (const type of ["job.created", "job.updated", "job.step", "job.log", "app.updated", "slot.updated"]) expect(seen).toContain(type);
  }, 120_000);
});
