import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { browserMissing, launchBrowser, watchConsole } from "../helpers/browser.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");

describe.skipIf(browserMissing() !== null)("first run in a browser", () => {
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;

  beforeAll(async () => {
    panel = await startPanelProcess();
    ({ browser, close: closeBrowser } = await launchBrowser());
  });
  afterAll(async () => {
    await closeBrowser?.();
    await panel?.stop();
  });

  test("fresh install → setup → sign out → sign in → dashboard", async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
    const page = await context.newPage();
    const errors = watchConsole(page);

    await page.goto(panel.url);
    await page.waitForURL("**/setup");
    await page.getByTestId("setup-form").waitFor();
    await page.screenshot({ path: join(SHOTS, "setup.png") });
    // The code the panel printed at start is what the page asks for.
    expect(panel.setupCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    await page.fill('input[name="code"]', "AAAA-BBBB-CCCC");
    await page.fill('input[name="name"]', "Grace Hopper");
    await page.fill('input[name="email"]', "grace@example.com");
    await page.fill('input[name="password"]', "a-long-enough-password");
    await page.fill('input[name="confirm"]', "a-long-enough-password");
    await page.click('button[type="submit"]');
    await page.getByText("That code is not right").waitFor();
    expect(new URL(page.url()).pathname).toBe("/setup");
    await page.fill('input[name="code"]', panel.setupCode ?? "");
    await page.click('button[type="submit"]');
    await page.getByTestId("dashboard").waitFor();
    expect(new URL(page.url()).pathname).toBe("/");
    await page.getByTestId("empty-apps").waitFor();

    await page.getByTestId("user-menu").click();
    await page.getByTestId("sign-out").click();
    await page.waitForURL("**/login**");
    await page.getByTestId("login-form").waitFor();

    // A wrong password is refused in words, and nothing moves.
    await page.fill('input[name="email"]', "grace@example.com");
    await page.fill('input[name="password"]', "not-the-password");
    await page.click('button[type="submit"]');
    await page
      .getByText(/incorrect/i)
      .first()
      .waitFor();
    await page.screenshot({ path: join(SHOTS, "login.png") });

    await page.fill('input[name="password"]', "a-long-enough-password");
    await page.click('button[type="submit"]');
    await page.getByTestId("dashboard").waitFor();
    await page.screenshot({ path: join(SHOTS, "dashboard-empty.png") });

    // The session survives a reload; /setup is closed now.
    await page.reload();
    await page.getByTestId("dashboard").waitFor();
    await page.goto(`${panel.url}/setup`);
    await page.waitForURL((url) => url.pathname !== "/setup");

    // Console errors other than the expected 403 of the wrong code and 401 of the wrong password are failures.
    expect(errors.filter((e) => !/401|Unauthorized|403|Forbidden/.test(e))).toEqual([]);
    await context.close();
  }, 120_000);

  test("a signed-out visitor is sent to /login with the page they wanted", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${panel.url}/settings`);
    await page.waitForURL("**/login?next=%2Fsettings");
    await context.close();
  }, 60_000);
});
