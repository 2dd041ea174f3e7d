import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { readSse } from "../helpers/sse.ts";
import { waitFor } from "../helpers/wait.ts";

describe(`job log streaming (${TEST_DB})`, () => {
  const gateDir = mkdtempSync(join(tmpdir(), "sy-gate-"));
  const gate = join(gateDir, "open");
  writeFileSync(gate, "");
  // The build runs as the apps' user when the tests run as root: it must see the gate.
  chmodSync(gateDir, 0o755);
  let api: TestApi;
  let cookie: string;
  let repo: TestRepo;

  beforeAll(async () => {
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    repo = await createRepo(
      bunApp("v1", {
        // Paced output, held after line 200 while the gate file is missing (a test closes it to catch the job live).
        "build.ts": `import { existsSync } from "node:fs";
for (let i = 1; i <= 400; i++) {
  console.log("line " + i);
  if (i % 40 === 0) await Bun.sleep(100);
  if (i === 200) while (!existsSync(${JSON.stringify(gate)})) await Bun.sleep(50);
}
await Bun.write("version.txt", "v1");
`,
      }),
    );
    await api.request("POST", "/api/v1/apps", { cookie, body: { name: "chatty", repoUrl: repo.url, watchSeconds: 1, drainSeconds: 1 } });
  });
  afterAll(async () => {
    await api.close();
    repo.cleanup();
    rmSync(gateDir, { recursive: true, force: true });
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

  test("the newest page comes first, and older pages page back to the first line", async () => {
    const jobs = await api.request("GET", "/api/v1/apps/chatty/jobs", { cookie });
    const jobId = jobs.body.jobs.at(-1).id;
    const all = await api.request("GET", `/api/v1/jobs/${jobId}/logs?limit=5000`, { cookie });
    const seqs: number[] = all.body.lines.map((l: { seq: number }) => l.seq);
    const lastSeq = seqs.at(-1) as number;
    expect(lastSeq).toBeGreaterThan(400);

    // The newest 100, in order; the job is over, so nothing follows.
    const tail = await api.request("GET", `/api/v1/jobs/${jobId}/logs?tail=100`, { cookie });
    expect(tail.status).toBe(200);
    expect(tail.body.lines.map((l: { seq: number }) => l.seq)).toEqual(seqs.slice(-100));
    expect(tail.body).toMatchObject({ next: lastSeq, done: true, more: true });
    expect(tail.body.job.id).toBe(jobId);

    // Paging back with `before` meets every line once, down to the first.
    const seen: number[] = [...tail.body.lines.map((l: { seq: number }) => l.seq)];
    let before = seen[0] as number;
    let more = true;
    while (more) {
      const page = await api.request("GET", `/api/v1/jobs/${jobId}/logs?before=${before}&limit=150`, { cookie });
      expect(page.status).toBe(200);
      const pageSeqs: number[] = page.body.lines.map((l: { seq: number }) => l.seq);
      expect(pageSeqs.at(-1)).toBe(before - 1);
      expect(page.body.done).toBe(false);
      seen.unshift(...pageSeqs);
      more = page.body.more;
      before = pageSeqs[0] as number;
    }
    expect(seen).toEqual(seqs);
    expect(seen[0]).toBe(1);
    const empty = await api.request("GET", `/api/v1/jobs/${jobId}/logs?before=1`, { cookie });
    expect(empty.body).toMatchObject({ lines: [], more: false, next: 0 });

    // The whole log as a file.
    const file = await api.app.fetch(new Request(`http://localhost:3000/api/v1/jobs/${jobId}/logs?download=1`, { headers: { cookie } }));
    expect(file.status).toBe(200);
    expect(file.headers.get("content-disposition")).toContain("attachment");
    const text = await file.text();
    expect(text.split("\n").length - 1).toBe(seqs.length);
    expect(text).toContain("line 400\n");
  });

  test("a live job's newest page, then the stream after it, gives every line once", async () => {
    rmSync(gate); // the build holds after line 200 until the tail is taken
    const deploy = await api.request("POST", "/api/v1/apps/chatty/deploy", { cookie, body: {} });
    const jobId = deploy.body.job.id as string;
    await waitFor(
      async () => {
        const page = await api.request("GET", `/api/v1/jobs/${jobId}/logs?tail=1`, { cookie });
        return page.body.lines.some((l: { line: string }) => /^line (\d+)$/.test(l.line) && Number(l.line.slice(5)) >= 50);
      },
      { timeoutMs: 30_000, what: "the build to print line 50" },
    );
    const tail = await api.request("GET", `/api/v1/jobs/${jobId}/logs?tail=20`, { cookie });
    writeFileSync(gate, "");
    expect(tail.body.done).toBe(false);
    const seqs: number[] = tail.body.lines.map((l: { seq: number }) => l.seq);
    const res = await api.app.fetch(
      new Request(`http://localhost:3000/api/v1/jobs/${jobId}/logs?after=${tail.body.next}`, {
        headers: { accept: "text/event-stream", cookie },
      }),
    );
    await readSse(res.body as ReadableStream<Uint8Array>, (e) => {
      if (e.event === "line") seqs.push(Number(e.id));
      return e.event === "end";
    });
    const first = seqs[0] as number;
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => first + i));
    const all = await api.request("GET", `/api/v1/jobs/${jobId}/logs?limit=5000`, { cookie });
    expect(seqs.at(-1)).toBe(all.body.lines.at(-1).seq);
  }, 120_000);

  test("bad paging parameters are 400s with the error shape", async () => {
    const jobs = await api.request("GET", "/api/v1/apps/chatty/jobs", { cookie });
    const jobId = jobs.body.jobs[0].id;
    for (const query of [
      "tail=0",
      "tail=5001",
      "tail=x",
      "before=0",
      "before=-3",
      "before=1.5",
      "limit=0",
      "after=-1",
      "after=5&before=9",
      "tail=5&before=9",
      "download=maybe",
    ]) {
      const res = await api.request("GET", `/api/v1/jobs/${jobId}/logs?${query}`, { cookie });
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body.error.code).toBe("validation_failed");
      expect(typeof res.body.error.message).toBe("string");
    }
    const stream = await api.app.fetch(
      new Request(`http://localhost:3000/api/v1/jobs/${jobId}/logs?tail=10`, { headers: { accept: "text/event-stream", cookie } }),
    );
    expect(stream.status).toBe(400);
    expect(((await stream.json()) as { error: { code: string } }).error.code).toBe("bad_request");
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
