/**
 * The panel's own database in a browser, as the owner: Settings → Panel database backups → back up
 * now; the row is followed until the backup has been restored into a scratch copy and verified;
 * the restore instructions name the CLI. Saves docs/screenshots/settings-panel-backups.png.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { browserMissing, EXPECTED_CONSOLE, launchBrowser, watchConsole } from "../helpers/browser.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Ada Lovelace", email: "ada@example.com", password: "a-long-enough-password" };
const BACKUP_TIMEOUT = 240_000;

/** The page's globals, for code that runs in the browser (this file is type-checked without the DOM lib). */
interface PageGlobals {
  document: { getAnimations(): Array<{ playState: string; effect: { getTiming(): { iterations?: number } } | null }> };
}

describe.skipIf(browserMissing() !== null)("the panel's own database backups in a browser", () => {
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    panel = await startPanelProcess({ SWITCHYARD_PROXY_PORT: String(freePort()) });
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: "light" });
    page = await context.newPage();
    errors = watchConsole(page);
  }, 120_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
  });

  test("Settings → back up the panel's database now → verified", async () => {
    await page.goto(panel.url);
    await page.waitForURL("**/setup");
    await page.fill('input[name="code"]', panel.setupCode ?? "");
    await page.fill('input[name="name"]', OWNER.name);
    await page.fill('input[name="email"]', OWNER.email);
    await page.fill('input[name="password"]', OWNER.password);
    await page.fill('input[name="confirm"]', OWNER.password);
    await page.click('button[type="submit"]');
    await page.getByTestId("dashboard").waitFor();

    await page.goto(`${panel.url}/settings`);
    const card = page.getByTestId("panel-backups");
    await card.getByTestId("panel-backups-empty").waitFor();
    expect(await card.getByTestId("restore-panel-command").textContent()).toContain("switchyard restore-panel");
    await card.getByTestId("disaster-recovery-link").getByText("Disaster recovery: a new server").waitFor();

    // Back up now: the row appears at once (running), and the card follows it until it has verified.
    await card.getByTestId("panel-back-up-now").click();
    const row = card.getByTestId("panel-backup-row").first();
    await row.waitFor();
    await card.locator('[data-testid="panel-backup-row"][data-verified="verified"]').waitFor({ timeout: BACKUP_TIMEOUT });
    expect(await row.getAttribute("data-status")).toBe("succeeded");
    expect(await row.getByTestId("panel-backup-state").textContent()).toBe("Verified");
    expect(((await row.getByTestId("panel-backup-location").textContent()) ?? "").length).toBeGreaterThan(0);
    await row.getByText(/^sha256 [0-9a-f]{12}…$/).waitFor();
    expect(await card.getByTestId("panel-backup-error").count()).toBe(0);
    // Nothing runs any more, so a second one may start.
    expect(await card.getByTestId("panel-back-up-now").isEnabled()).toBe(true);

    // What the API says agrees with the card.
    const listed = await context.request.get(`${panel.url}/api/v1/system/backups`);
    expect(listed.status()).toBe(200);
    const { backups } = (await listed.json()) as { backups: Array<{ status: string; verified: string; good: boolean }> };
    expect(backups.length).toBe(1);
    expect(backups[0]).toMatchObject({ status: "succeeded", verified: "verified", good: true });

    await card.scrollIntoViewIfNeeded();
    await page.waitForFunction(() =>
      (globalThis as unknown as PageGlobals).document
        .getAnimations()
        .every((a) => a.playState !== "running" || a.effect?.getTiming().iterations === Number.POSITIVE_INFINITY),
    );
    await card.screenshot({ path: join(SHOTS, "settings-panel-backups.png") });

    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 600_000);
});
