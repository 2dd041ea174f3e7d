/**
 * Cron jobs in a browser against the real panel: on a deployed app's Processes tab a cron job is
 * added (a bad schedule first, refused under its field with the reason), listed with its next run
 * in words, run now, and its history shows the run with exit code, duration and output. Saves
 * docs/screenshots/cron.png.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { bearerApi, browserMissing, EXPECTED_CONSOLE, launchBrowser, setUpOwner, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Grace Hopper", email: "grace@example.com", password: "a-long-enough-password" };
const JOB_TIMEOUT = 180_000;
const APP = "crons";

describe.skipIf(browserMissing() !== null)("cron jobs in a browser", () => {
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

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    repo = await createRepo(bunApp("v1"), "main", "A small server");
    panel = await startPanelProcess({});
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 1000 }, colorScheme: "light" });
    page = await context.newPage();
    errors = watchConsole(page);
    token = await setUpOwner(page, context, panel, OWNER);
    await api("POST", "/apps", { name: APP, repoUrl: repo.url, volumes: [{ path: "data" }] });
    const { job } = await api<{ job: { id: string } }>("POST", `/apps/${APP}/deploy`, {});
    await waitFor(
      async () => {
        const { job: now } = await api<{ job: { status: string } }>("GET", `/jobs/${job.id}`);
        if (now.status === "failed" || now.status === "cancelled") throw new Error(`the deploy ${now.status}`);
        return now.status === "succeeded";
      },
      { timeoutMs: JOB_TIMEOUT, intervalMs: 250, what: "the first deploy" },
    );
  }, JOB_TIMEOUT + 120_000);

  afterAll(async () => {
    await api("DELETE", `/apps/${APP}`, { confirm: APP }).catch(() => {});
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    repo?.cleanup();
  });

  test(
    "a cron job is added, run now, and its history shows the run's output",
    async () => {
      await page.goto(`${panel.url}/apps/${APP}?tab=processes`);
      const card = page.getByTestId("cron-card");
      await card.getByTestId("cron-empty").waitFor();

      await card.getByTestId("cron-add").click();
      const form = page.getByTestId("cron-form");
      await form.locator('input[name="name"]').fill("Nightly report");
      await form.locator('input[name="schedule"]').fill("0 3 * * * * *");
      await form.locator('input[name="command"]').fill('echo "report for $(cat version.txt)" | tee -a data/reports.txt');
      await form.locator('input[name="timezone"]').fill("Europe/Berlin");
      await page.getByTestId("cron-save").click();
      // Seven fields: refused, and said under the schedule.
      await form.getByText(/has 7 fields/i).waitFor();

      await form.locator('input[name="schedule"]').fill("30 3 * * *");
      await page.getByTestId("cron-save").click();
      await form.waitFor({ state: "detached" });

      const row = card.locator('[data-testid="cron-job"][data-name="Nightly report"]');
      await row.waitFor();
      expect(await row.getByTestId("cron-next").textContent()).toMatch(/Next run (in|tomorrow)/);

      await row.getByTestId("cron-run").click();
      await row.locator('[data-testid="cron-last-status"]', { hasText: "Succeeded" }).waitFor({ timeout: 30_000 });

      await row.getByTestId("cron-history").click();
      const history = page.getByTestId("cron-runs");
      const run = history.locator('[data-testid="cron-run-row"][data-status="succeeded"]').first();
      await run.waitFor();
      expect(await run.textContent()).toContain("exit 0");
      await run.click();
      const output = page.getByTestId("cron-run-output");
      await output.waitFor();
      expect(await output.textContent()).toBe("report for v1");

      const { cronJobs } = await api<{ cronJobs: Array<{ name: string; timezone: string; lastRun: { status: string; trigger: string } }> }>(
        "GET",
        `/apps/${APP}/cron`,
      );
      expect(cronJobs).toMatchObject([
        { name: "Nightly report", timezone: "Europe/Berlin", lastRun: { status: "succeeded", trigger: "manual" } },
      ]);

      await page.locator('[role="dialog"]').screenshot({ path: join(SHOTS, "cron-history.png") });
      await page.keyboard.press("Escape");
      await page.locator('[role="dialog"]').waitFor({ state: "detached" });
      for (const dismiss of await page.getByRole("button", { name: "Dismiss notification" }).all()) await dismiss.click().catch(() => {});
      await page.getByTestId("toast").first().waitFor({ state: "detached" });
      await card.screenshot({ path: join(SHOTS, "cron.png") });
      expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
    },
    JOB_TIMEOUT,
  );
});
