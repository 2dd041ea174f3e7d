/**
 * The whole panel in a browser against the real backend: setup → create an app from a git URL in
 * the wizard → follow its first deploy live → open it on its slot port → change an env var and
 * redeploy → roll back from the Releases tab → the dashboard's activity feed updates live.
 * Saves the screenshots in docs/screenshots/. A dashboard of 50 apps and a 100,000-line job log
 * are checked for behaviour here; their timings are measured by `bun run bench` (tests/bench/gui.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { bearerApi, browserMissing, EXPECTED_CONSOLE, launchBrowser, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Grace Hopper", email: "grace@example.com", password: "a-long-enough-password" };
const DEPLOY_TIMEOUT = 180_000;

/** The page's globals, for code that runs in the browser (this file is type-checked without the DOM lib). */
interface PageGlobals {
  document: {
    querySelector(selector: string): { textContent: string | null } | null;
    querySelectorAll(selector: string): { length: number };
    documentElement: { scrollWidth: number };
    getAnimations(): Array<{ playState: string; effect: { getTiming(): { iterations?: number } } | null }>;
  };
  innerWidth: number;
  scrollTo(x: number, y: number): void;
  __noReload?: boolean;
}

describe.skipIf(browserMissing() !== null)("the panel in a browser", () => {
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let repo: TestRepo;
  let token = "";

  const api = bearerApi(
    () => panel.url,
    () => token,
  );

  async function livePort(app: string): Promise<number> {
    const { app: a } = await api<{ app: { liveColor: string; slots: { color: string; port: number }[] } }>("GET", `/apps/${app}`);
    const slot = a.slots.find((s) => s.color === a.liveColor);
    if (!slot) throw new Error(`${app} has no live slot`);
    return slot.port;
  }

  async function waitForJob(id: string): Promise<string> {
    const deadline = Date.now() + DEPLOY_TIMEOUT;
    for (;;) {
      const { job } = await api<{ job: { status: string; error: string | null } }>("GET", `/jobs/${id}`);
      if (["succeeded", "failed", "cancelled"].includes(job.status)) return job.status;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
      await Bun.sleep(250);
    }
  }

  /** Waits on the Logs tab until the job shown has finished and its progress bar is full. */
  async function followDeployToSuccess(): Promise<void> {
    const progress = page.getByTestId("step-progress");
    await progress.waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="step-progress"][data-complete="true"]').waitFor({ timeout: DEPLOY_TIMEOUT });
    await page.locator('[data-testid="job-status"]', { hasText: "Succeeded" }).waitFor({ timeout: 30_000 });
    expect(await progress.getAttribute("data-percent")).toBe("100");
  }

  async function shot(name: string, target: Page = page, fullPage = false): Promise<void> {
    // Transitions settled: no finite animation still running (a spinner's endless one may).
    await target.waitForFunction(() =>
      (globalThis as unknown as PageGlobals).document
        .getAnimations()
        .every((a) => a.playState !== "running" || a.effect?.getTiming().iterations === Number.POSITIVE_INFINITY),
    );
    await target.screenshot({ path: join(SHOTS, name), fullPage });
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    panel = await startPanelProcess({ SWITCHYARD_PROXY_PORT: String(freePort()) });
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 860 }, colorScheme: "light" });
    page = await context.newPage();
    errors = watchConsole(page);
    repo = await createRepo(bunApp("v1"));
  }, 120_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    repo?.cleanup();
  });

  test("set up → create from git → deploy live → env change → rollback → live activity", async () => {
    // --- First run: the owner account, in the browser.
    await page.goto(panel.url);
    await page.waitForURL("**/setup");
    await page.fill('input[name="code"]', panel.setupCode ?? "");
    await page.fill('input[name="name"]', OWNER.name);
    await page.fill('input[name="email"]', OWNER.email);
    await page.fill('input[name="password"]', OWNER.password);
    await page.fill('input[name="confirm"]', OWNER.password);
    await page.click('button[type="submit"]');
    await page.getByTestId("dashboard").waitFor();
    await page.getByTestId("empty-apps").waitFor();

    // A token for the test's own API calls (the panel's session cookie needs an Origin; a token does not).
    const created = await context.request.post(`${panel.url}/api/v1/tokens`, {
      data: { name: "e2e" },
      headers: { origin: panel.url },
    });
    expect(created.status()).toBe(201);
    token = ((await created.json()) as { token: string }).token;

    // --- The wizard: a git URL, a name checked live, then "Create and deploy".
    await page.getByRole("link", { name: "New app" }).first().click();
    await page.getByTestId("new-app-form").waitFor();
    await page.fill('input[name="repoUrl"]', repo.url);
    await expect(page.inputValue('input[name="name"]')).resolves.toBe("app"); // suggested from app.git
    await page.fill('input[name="name"]', "Hello");
    await page.locator("text=Use lowercase letters.").waitFor();
    await page.fill('input[name="name"]', "hello");
    await page.getByTestId("name-ok").waitFor();
    await shot("new-app.png");
    await page.getByTestId("create-and-deploy").click();

    // --- Straight to the Logs tab, following the first deploy live to the end of the progress bar.
    await page.waitForURL(/\/apps\/hello\?tab=logs&job=/);
    const firstJob = new URL(page.url()).searchParams.get("job") as string;
    expect(firstJob).toMatch(/^[0-9a-f-]{36}$/);
    await page.getByTestId("job-log").waitFor();
    const sawRunning = await page
      .locator('[data-testid="step-progress"][data-complete="false"]')
      .waitFor({ timeout: 30_000 })
      .then(() => true)
      .catch(() => false);
    await followDeployToSuccess();
    expect(sawRunning).toBe(true);
    expect(Number((await page.getByTestId("job-log").getByTestId("log-line-count").textContent())?.replace(/\D/g, ""))).toBeGreaterThan(3);
    await shot("app-logs.png");

    // --- Open the app through its slot port.
    const port1 = await livePort("hello");
    expect(await (await fetch(`http://127.0.0.1:${port1}/`)).text()).toBe("v1");

    // --- Overview: both slots, the live one marked.
    await page.getByTestId("tab-overview").click();
    await page.getByTestId("overview").waitFor();
    await page.locator('[data-testid^="slot-"][data-live="true"]').waitFor();
    await page.getByTestId("slot-live-marker").waitFor();
    await shot("app-overview.png");

    // --- Settings: a short watch window so the next deploys don't wait a minute each.
    await page.getByTestId("tab-settings").click();
    await page.getByTestId("settings-form").waitFor();
    await page.fill("#setting-watchSeconds", "2");
    await page.fill("#setting-drainSeconds", "1");
    await page.fill("#setting-healthTimeoutSec", "99999");
    await page.getByTestId("settings-save").click();
    await page.locator("text=A whole number from 1 to 3600.").waitFor(); // checked before it is sent
    await page.fill("#setting-healthTimeoutSec", "60");
    await page.getByTestId("settings-save").click();
    await page.locator("[data-testid=toast]", { hasText: "Settings saved" }).waitFor();
    const { app: saved } = await api<{ app: { watchSeconds: number; drainSeconds: number } }>("GET", "/apps/hello");
    expect(saved).toMatchObject({ watchSeconds: 2, drainSeconds: 1 });
    await page.evaluate(() => (globalThis as unknown as PageGlobals).scrollTo(0, 0));
    await shot("app-settings.png");

    // --- Environment: a bad name is caught inline; a good one saves, shows the diff, and redeploys.
    await page.getByTestId("tab-env").click();
    await page.getByTestId("env").waitFor();
    await page.getByTestId("env-empty").waitFor();
    await page.getByRole("button", { name: "Add variable" }).first().click();
    await page.getByTestId("env-key").last().fill("PORT");
    await page.getByTestId("env-value").last().fill("1");
    await page.locator("[data-testid=env-key-error]", { hasText: "PORT is set by Switchyard" }).waitFor();
    await page.getByTestId("env-key").last().fill("GREETING");
    await page.getByTestId("env-value").last().fill("hello");
    await page.getByTestId("env-add").click();
    await page.getByTestId("env-key").last().fill("API_KEY");
    await page.getByTestId("env-value").last().fill("s3cret-value");
    await page.getByTestId("env-secret").last().click();
    await page.getByTestId("env-save").click();
    await page.getByTestId("env-saved").waitFor();
    const diff = await page.getByTestId("env-diff").textContent();
    expect(diff).toContain("+ GREETING");
    expect(diff).toContain("+ API_KEY");
    await shot("app-env.png");
    await page.getByTestId("env-deploy").click();
    await page.waitForURL(/tab=logs&job=/);
    const secondJob = new URL(page.url()).searchParams.get("job");
    expect(secondJob).not.toBe(firstJob);
    await followDeployToSuccess();
    const port2 = await livePort("hello");
    expect(port2).not.toBe(port1); // the other slot took over
    expect(await (await fetch(`http://127.0.0.1:${port2}/env`)).json()).toEqual({ GREETING: "hello" });
    // The secret never reaches the browser: masked in the API answer and in the build log.
    const env = await api<{ vars: { key: string; value: string }[] }>("GET", "/apps/hello/env");
    expect(env.vars.find((v) => v.key === "API_KEY")?.value).toBe("••••••••");
    expect(await page.getByTestId("job-log").textContent()).not.toContain("s3cret-value");
    // The app's own output arrives live below the job log, with the secret masked.
    await page.locator('[data-testid="runtime-log-viewport"] .sy-log-row', { hasText: "with API_KEY=••••" }).first().waitFor();
    expect(await page.getByTestId("runtime-log").textContent()).not.toContain("s3cret-value");

    // --- Releases: roll back to v1, the warm standby, from its row.
    await page.getByTestId("tab-releases").click();
    await page.locator('[data-testid="release-row"]').nth(1).waitFor();
    const v1 = page.locator('[data-testid="release-row"][data-number="1"]');
    await expect(v1.getAttribute("data-status")).resolves.toBe("standby");
    await expect(v1.getAttribute("data-eligible")).resolves.toBe("true");
    await shot("app-releases.png");
    await v1.getByTestId("rollback-button").click();
    const summary = await page.getByTestId("rollback-summary").textContent();
    expect(summary).toMatch(/v1 \([0-9a-f]{7}\)\s+replaces\s+v2 \([0-9a-f]{7}\)\s+live;\s+instant because it is the warm standby/);
    await page.getByTestId("confirm-rollback").click();
    await page.waitForURL(/tab=logs&job=/);
    await followDeployToSuccess();
    expect(await (await fetch(`http://127.0.0.1:${port1}/`)).text()).toBe("v1");
    expect(await livePort("hello")).toBe(port1);
    await page.getByTestId("tab-releases").click();
    await page.locator('[data-testid="release-row"][data-number="1"][data-status="live"]').waitFor({ timeout: 15_000 });

    // --- Dashboard: a deploy started elsewhere (the API, with a token) appears without a reload.
    await page.getByRole("link", { name: "Dashboard", exact: true }).first().click();
    await page.getByTestId("dashboard").waitFor();
    await page.locator('[data-testid="activity-item"]').first().waitFor();
    const before = await page.locator('[data-testid="activity-item"]').count();
    await page.evaluate(() => {
      (globalThis as unknown as PageGlobals).__noReload = true;
    });
    const { job } = await api<{ job: { id: string } }>("POST", "/apps/hello/deploy");
    await page.locator(`[data-testid="activity-item"][data-job="${job.id}"]`).waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid="activity-item"]').count()).toBeGreaterThan(before);
    await page.locator('[data-testid="app-card"][data-app="hello"][data-status="building"]').waitFor({ timeout: 15_000 });
    await page.locator(`[data-testid="activity-item"][data-job="${job.id}"][data-status="succeeded"]`).waitFor({ timeout: DEPLOY_TIMEOUT });
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).__noReload)).toBe(true);
    await shot("dashboard.png");

    // --- Dark theme, and a phone.
    const dark = await browser.newContext({
      viewport: { width: 1366, height: 860 },
      colorScheme: "dark",
      storageState: await context.storageState(),
    });
    const darkPage = await dark.newPage();
    const darkErrors = watchConsole(darkPage);
    await darkPage.goto(panel.url);
    await darkPage.locator('[data-testid="app-card"]').first().waitFor();
    await shot("dashboard-dark.png", darkPage);
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      storageState: await context.storageState(),
    });
    const phonePage = await phone.newPage();
    const phoneErrors = watchConsole(phonePage);
    await phonePage.goto(panel.url);
    await phonePage.locator('[data-testid="app-card"]').first().waitFor();
    const overflow = await phonePage.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      return g.document.documentElement.scrollWidth - g.innerWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0); // nothing sticks out sideways at phone width
    await shot("phone.png", phonePage);
    await dark.close();
    await phone.close();

    expect([...errors, ...darkErrors, ...phoneErrors].filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 900_000);

  test("a dashboard of 50 apps, and a 100,000-line log that stays virtualised and scrolls to its end", async () => {
    expect(token).not.toBe("");
    // 50 apps in all (the first test made one), created through the API.
    const existing = (await api<{ apps: unknown[] }>("GET", "/apps")).apps.length;
    for (let i = existing; i < 50; i++) {
      await api("POST", "/apps", { name: `bench-${String(i).padStart(2, "0")}`, repoUrl: repo.url });
    }
    const fresh = await context.newPage();
    const freshErrors = watchConsole(fresh);
    await fresh.goto(panel.url);
    await fresh.waitForFunction(
      () => (globalThis as unknown as PageGlobals).document.querySelectorAll('[data-testid="app-card"]').length >= 50,
      undefined,
      { timeout: 60_000 },
    );
    expect(await fresh.locator('[data-testid="app-card"]').count()).toBe(50);

    // A job whose build prints 100,000 lines (with colours).
    const big = await createRepo(
      bunApp("big", {
        "build.ts": `const out = [];
for (let i = 1; i <= 100000; i++) out.push("\\u001b[36minfo\\u001b[0m line " + i + " of the build \\u001b[2m(" + (i % 97) + " ms)\\u001b[0m");
await Bun.write(Bun.stdout, out.join("\\n") + "\\n");
await Bun.write("version.txt", "big");
`,
      }),
    );
    try {
      const { job } = await api<{ job: { id: string } }>("POST", "/apps", { name: "big-log", repoUrl: big.url, deploy: true });
      const jobId = (job as { id: string } | null)?.id as string;
      expect(await waitForJob(jobId)).toBe("succeeded");

      await fresh.goto(`${panel.url}/apps/big-log?tab=logs&job=${jobId}`);
      await fresh.waitForFunction(
        () =>
          Number(
            (globalThis as unknown as PageGlobals).document
              .querySelector('[data-testid="log-line-count"]')
              ?.textContent?.replace(/\D/g, "") ?? 0,
          ) >= 100_000,
        undefined,
        { timeout: 120_000 },
      );
      const rows = fresh.locator('[data-testid="job-log-viewport"] .sy-log-row');
      const rendered = await rows.count();
      expect(rendered).toBeGreaterThan(0);
      expect(rendered).toBeLessThan(200); // virtualised: only what is on screen (plus a margin)

      // The mouse wheel scrolls it…
      const viewport = fresh.getByTestId("job-log-viewport");
      await viewport.evaluate((el) => {
        el.scrollTop = 0;
      });
      const box = await viewport.boundingBox();
      if (!box) throw new Error("no log viewport");
      await fresh.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      for (let i = 0; i < 25; i++) await fresh.mouse.wheel(0, 600);
      await waitFor(async () => (await viewport.evaluate((el) => el.scrollTop)) > 10_000, {
        timeoutMs: 30_000,
        what: "the log to scroll under the mouse wheel",
      });
      // …and at its end only the last lines are in the DOM.
      await viewport.evaluate((el) => {
        el.scrollTop = el.scrollHeight;
      });
      await waitFor(
        async () => {
          const texts = await rows.allTextContents();
          const numbers = texts.map((t) => Number(/line (\d+) of the build/.exec(t)?.[1] ?? Number.NaN)).filter((n) => !Number.isNaN(n));
          return texts.length > 0 && numbers.every((n) => n > 99_000);
        },
        { timeoutMs: 30_000, what: "the end of the log to be rendered" },
      );
      expect(await rows.count()).toBeLessThan(200);
      expect(freshErrors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
    } finally {
      big.cleanup();
      await fresh.close();
    }
  }, 600_000);
});
