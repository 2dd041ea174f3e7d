import { join } from "node:path";
import { bearerApi, EXPECTED_CONSOLE, launchBrowser, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo } from "../helpers/git-repo.ts";
import { startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const root = join(import.meta.dir, "..", "..");

/** The page's globals, for code that runs in the browser (this file is type-checked without the DOM lib). */
interface PageGlobals {
  document: {
    querySelector(selector: string): { textContent: string | null } | null;
    querySelectorAll(selector: string): { length: number };
  };
  requestAnimationFrame(callback: (time: number) => void): number;
  __frames: number[];
  __sampling: boolean;
}

/** A build that prints 100,000 coloured lines. */
const BIG_LOG_BUILD = `const out = [];
for (let i = 1; i <= 100000; i++) out.push("\\u001b[36minfo\\u001b[0m line " + i + " of the build \\u001b[2m(" + (i % 97) + " ms)\\u001b[0m");
await Bun.write(Bun.stdout, out.join("\\n") + "\\n");
await Bun.write("version.txt", "big");
`;

/** An app that prints 100,000 lines when it starts, then serves. */
const BIG_RUNTIME_SERVER = `const out = [];
for (let i = 1; i <= 100000; i++) out.push("request " + i + " handled in " + (i % 97) + " ms");
await Bun.write(Bun.stdout, out.join("\\n") + "\\n");
const server = Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response("ok") });
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`;

/**
 * The GUI's figures, in Debian's Chromium against a real panel (PGlite): how long a dashboard of
 * 50 apps takes to render, and how a job log of 100,000 lines loads and scrolls.
 */
export async function guiBench(): Promise<string> {
  const build = Bun.spawnSync([process.execPath, "--bun", "vite", "build", "--logLevel", "warn"], {
    cwd: join(root, "app"),
    stdout: "inherit",
    stderr: "inherit",
  });
  if (build.exitCode !== 0) throw new Error("the GUI did not build");

  const panel = await startPanelProcess({ SWITCHYARD_PROXY_PORT: String(freePort()) });
  const { browser, close } = await launchBrowser();
  const repo = await createRepo(bunApp("v1"));
  const big = await createRepo(bunApp("big", { "build.ts": BIG_LOG_BUILD }));
  const chatty = await createRepo(bunApp("chatty", { "server.ts": BIG_RUNTIME_SERVER }));
  try {
    const context = await browser.newContext({ viewport: { width: 1366, height: 860 }, colorScheme: "light" });
    const setup = await context.request.post(`${panel.url}/api/v1/setup`, {
      data: { email: "grace@example.com", password: "a-long-enough-password", name: "Grace Hopper", code: panel.setupCode },
      headers: { origin: panel.url },
    });
    if (setup.status() !== 201) throw new Error(`setup failed: ${setup.status()}`);
    const created = await context.request.post(`${panel.url}/api/v1/tokens`, { data: { name: "bench" }, headers: { origin: panel.url } });
    const { token } = (await created.json()) as { token: string };
    const api = bearerApi(
      () => panel.url,
      () => token,
    );

    // --- A dashboard of 50 apps: navigation → all 50 cards rendered.
    for (let i = 0; i < 50; i++) await api("POST", "/apps", { name: `bench-${String(i).padStart(2, "0")}`, repoUrl: repo.url });
    const page = await context.newPage();
    const errors = watchConsole(page);
    const started = Date.now();
    await page.goto(panel.url);
    await page.waitForFunction(
      () => (globalThis as unknown as PageGlobals).document.querySelectorAll('[data-testid="app-card"]').length >= 50,
      undefined,
      { timeout: 60_000 },
    );
    const wallMs = Date.now() - started;
    const sinceNavigation = await page.evaluate(() => Math.round(performance.now()));

    // --- A job log of 100,000 lines: opened (newest page first), paged back, searched (the whole
    // log loaded), then wheeled through for five seconds.
    const { job } = await api<{ job: { id: string } }>("POST", "/apps", { name: "big-log", repoUrl: big.url, deploy: true });
    const status = await waitFor(
      async () => {
        const { job: j } = await api<{ job: { status: string } }>("GET", `/jobs/${job.id}`);
        return ["succeeded", "failed", "cancelled"].includes(j.status) ? j.status : null;
      },
      { timeoutMs: 300_000, intervalMs: 250, what: "the 100,000-line build to finish" },
    );
    if (status !== "succeeded") throw new Error(`the 100,000-line build ${status}`);
    const jobApiStarted = performance.now();
    const jobTail = await api<{ lines: unknown[] }>("GET", `/jobs/${job.id}/logs?tail=1000`);
    const jobApiMs = performance.now() - jobApiStarted;
    const rowWith = (testid: string, text: string) =>
      page.waitForFunction(
        ([id, needle]) =>
          Array.from(
            (
              globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> } }
            ).document.querySelectorAll(`[data-testid="${id}-viewport"] .sy-log-row`),
          ).some((row) => row.textContent?.includes(needle as string)),
        [testid, text],
        { timeout: 300_000 },
      );
    const openStarted = Date.now();
    await page.goto(`${panel.url}/apps/big-log?tab=logs&job=${job.id}`);
    await rowWith("job-log", "line 100000 of the build");
    const loadMs = Date.now() - openStarted;
    const rendered = await page.locator('[data-testid="job-log-viewport"] .sy-log-row').count();
    const lineCount = Number((await page.getByTestId("job-log").getByTestId("log-line-count").textContent())?.replace(/\D/g, ""));
    if (!(lineCount > 100_000)) throw new Error(`the job log counts ${lineCount} lines`);
    const viewport = page.getByTestId("job-log-viewport");
    // Scrolled to the top of what is loaded: the page before it is put in front.
    await viewport.evaluate((el) => {
      el.scrollTop = 0;
    });
    const jobOlderStarted = Date.now();
    // The view keeps its place (the same lines stay on screen) while 1,000 more rows go above them.
    await page.waitForFunction(
      () =>
        ((globalThis as unknown as { document: { querySelector(s: string): { scrollHeight: number } | null } }).document.querySelector(
          '[data-testid="job-log-viewport"]',
        )?.scrollHeight ?? 0) >=
        2000 * 20,
      undefined,
      { timeout: 60_000 },
    );
    const jobOlderMs = Date.now() - jobOlderStarted;
    // A search loads the rest of the log and finds every line.
    const searchStarted = Date.now();
    await page.getByTestId("job-log").getByTestId("log-search").fill("of the build");
    await page.waitForFunction(
      () =>
        Number(
          (globalThis as unknown as PageGlobals).document
            .querySelector('[data-testid="job-log"] [data-testid="log-match-count"]')
            ?.textContent?.replace(/\D/g, "") ?? 0,
        ) >= 100_000,
      undefined,
      { timeout: 300_000 },
    );
    const searchMs = Date.now() - searchStarted;
    await page.getByTestId("job-log").getByTestId("log-search").fill("");
    await viewport.evaluate((el) => {
      el.scrollTop = 0;
    });
    const box = await viewport.boundingBox();
    if (!box) throw new Error("no log viewport");
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.evaluate(() => {
      const w = globalThis as unknown as PageGlobals;
      w.__frames = [];
      w.__sampling = true;
      let last = performance.now();
      const tick = (t: number) => {
        w.__frames.push(t - last);
        last = t;
        if (w.__sampling) w.requestAnimationFrame(tick);
      };
      w.requestAnimationFrame(tick);
    });
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      await page.mouse.wheel(0, 600);
      await page.waitForTimeout(16); // about one wheel step per frame, as a hand on a wheel would
    }
    const frames = await page.evaluate(() => {
      const w = globalThis as unknown as PageGlobals;
      w.__sampling = false;
      return w.__frames.slice(1);
    });
    const scrolled = Math.round(await viewport.evaluate((el) => el.scrollTop));

    // --- A runtime log of 100,000 lines: the Logs tab opened → its newest lines drawn.
    const { job: runJob } = await api<{ job: { id: string } }>("POST", "/apps", { name: "big-runtime", repoUrl: chatty.url, deploy: true });
    await waitFor(
      async () => {
        const { job: j } = await api<{ job: { status: string } }>("GET", `/jobs/${runJob.id}`);
        if (j.status === "failed" || j.status === "cancelled") throw new Error(`the chatty app's deploy ${j.status}`);
        return j.status === "succeeded";
      },
      { timeoutMs: 300_000, intervalMs: 250, what: "the chatty app to be deployed" },
    );
    await waitFor(
      async () => (await api<{ lines: unknown[] }>("GET", "/apps/big-runtime/logs?q=request%20100000%20&limit=1")).lines.length > 0,
      { timeoutMs: 120_000, intervalMs: 250, what: "the 100,000th runtime line to be stored" },
    );
    const apiStarted = performance.now();
    const firstPage = await api<{ lines: unknown[] }>("GET", "/apps/big-runtime/logs?limit=1000");
    const apiMs = performance.now() - apiStarted;
    const runtimeOpened = Date.now();
    await page.goto(`${panel.url}/apps/big-runtime?tab=logs`);
    await page.waitForFunction(
      () =>
        Array.from(
          (
            globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> } }
          ).document.querySelectorAll('[data-testid="runtime-log-viewport"] .sy-log-row'),
        ).some((row) => row.textContent?.includes("request 100000 handled")),
      undefined,
      { timeout: 60_000 },
    );
    const runtimeOpenMs = Date.now() - runtimeOpened;
    // Scrolling up to the top loads the page before it.
    const runtimeViewport = page.getByTestId("runtime-log-viewport");
    await runtimeViewport.evaluate((el) => {
      el.scrollTop = 0;
    });
    const olderStarted = Date.now();
    await page.waitForFunction(
      () =>
        Number(
          (globalThis as unknown as PageGlobals).document
            .querySelector('[data-testid="runtime-log"] [data-testid="log-line-count"]')
            ?.textContent?.replace(/\D/g, "") ?? 0,
        ) >= 2000,
      undefined,
      { timeout: 60_000 },
    );
    const olderMs = Date.now() - olderStarted;
    const unexpected = errors.filter((e) => !EXPECTED_CONSOLE.test(e));
    if (unexpected.length > 0) console.warn(`console errors during the GUI bench:\n${unexpected.join("\n")}`);

    const sorted = [...frames].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
    const round = (n: number) => Math.round(n * 10) / 10;
    return `## GUI

Measured by \`tests/bench/gui.ts\` in Debian's Chromium (headless, 1366×860) against a real panel
(PGlite). Target: the dashboard of 50 apps renders in under a second; a job log and an app's
runtime log of 100,000 lines each open in under a second and stay scrollable. Both ask the server
for the newest 1,000 lines first and page back as the reader scrolls up; a search in the job log
loads the rest of it.

| figure | value |
| --- | --- |
| dashboard with 50 apps: navigation → all 50 cards rendered | ${sinceNavigation} ms (wall ${wallMs} ms) |
| job log of 100,000 lines: opened → newest lines drawn | ${loadMs} ms, ${rendered} rows in the DOM (virtualised; the API's newest page of ${jobTail.lines.length} lines: ${Math.round(jobApiMs)} ms) |
| job log: scrolled to the top → the 1,000 lines before it put in place | ${jobOlderMs} ms |
| job log: searched → all 100,000 lines loaded and matched | ${searchMs} ms |
| scrolling the whole job log: ${frames.length} frames over ${scrolled.toLocaleString("en")} px | median ${round(pct(0.5))} ms, p95 ${round(pct(0.95))} ms, max ${round(sorted.at(-1) ?? 0)} ms per frame |
| runtime log of 100,000 lines: Logs tab opened → newest lines drawn | ${runtimeOpenMs} ms (the API's newest page of ${firstPage.lines.length} lines: ${Math.round(apiMs)} ms) |
| runtime log: scrolled to the top → the 1,000 lines before it drawn | ${olderMs} ms |`;
  } finally {
    await close();
    await panel.stop();
    repo.cleanup();
    big.cleanup();
    chatty.cleanup();
  }
}
