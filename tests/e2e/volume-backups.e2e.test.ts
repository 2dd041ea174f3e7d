/**
 * Volume backups in a browser against the real panel: on an app's Settings tab a volume is backed
 * up now, the backup is followed until it has been read back, extracted and verified, and a
 * restore (confirmed in a dialog) gives back the files as they were. Saves
 * docs/screenshots/volume-backups.png.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { bearerApi, browserMissing, EXPECTED_CONSOLE, launchBrowser, setUpOwner, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Grace Hopper", email: "grace@example.com", password: "a-long-enough-password" };
const APP = "keeps";
const TIMEOUT = 120_000;

describe.skipIf(browserMissing() !== null)("volume backups in a browser", () => {
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let repo: TestRepo;
  let token = "";
  let volume = "";

  const api = bearerApi(
    () => panel.url,
    () => token,
  );

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    repo = await createRepo(bunApp("v1"));
    panel = await startPanelProcess({});
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 1000 }, colorScheme: "light" });
    page = await context.newPage();
    errors = watchConsole(page);
    token = await setUpOwner(page, context, panel, OWNER);
    await api("POST", "/apps", { name: APP, repoUrl: repo.url, volumes: [{ path: "data" }] });
    // What the app would have written there (the directory is made at its first start).
    volume = join(panel.dataDir, "apps", APP, "volumes", "data");
    mkdirSync(join(volume, "uploads"), { recursive: true });
    writeFileSync(join(volume, "notes.txt"), "the original note\n");
    writeFileSync(join(volume, "uploads", "photo.bin"), crypto.getRandomValues(new Uint8Array(50_000)));
  }, TIMEOUT);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    repo?.cleanup();
  });

  test(
    "back up now → verified; restore after a change, confirmed → the original files",
    async () => {
      await page.goto(`${panel.url}/apps/${APP}?tab=settings`);
      const card = page.getByTestId("volumes-card");
      const row = card.locator('[data-testid="volume"][data-path="data"]');
      await row.getByTestId("volume-back-up").click();
      const backups = row.getByTestId("volume-backups");
      const verified = backups.locator('[data-testid="volume-backup"][data-verified="verified"]');
      await verified.waitFor({ timeout: TIMEOUT });
      expect(await verified.textContent()).toContain("Verified");

      writeFileSync(join(volume, "notes.txt"), "changed after the backup\n");
      await verified.getByTestId("volume-restore").click();
      const dialog = page.locator('[role="dialog"]');
      await dialog.getByText("Restore data from this backup?").waitFor();
      await dialog.getByTestId("confirm-volume-restore").click();
      await dialog.waitFor({ state: "detached" });
      await waitFor(async () => readFileSync(join(volume, "notes.txt"), "utf8") === "the original note\n", {
        timeoutMs: TIMEOUT,
        what: "the restore",
      });
      // The safety backup of the changed contents is listed too, verified.
      await backups.locator('[data-testid="volume-backup"][data-kind="safety"][data-verified="verified"]').waitFor({ timeout: TIMEOUT });

      for (const dismiss of await page.getByRole("button", { name: "Dismiss notification" }).all()) await dismiss.click().catch(() => {});
      await page.getByTestId("toast").first().waitFor({ state: "detached" });
      await card.screenshot({ path: join(SHOTS, "volume-backups.png") });
      expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
    },
    TIMEOUT * 3,
  );
});
