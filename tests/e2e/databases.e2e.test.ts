/**
 * The database manager in a browser against the real backend and the machine's PostgreSQL: add a
 * local backup destination in Settings → create a PostgreSQL database and follow its provisioning →
 * attach it to an app and start the offered deploy, whose release command creates a table → the
 * manager shows that run and runs it again → reveal the credentials (an audit row appears) and
 * write rows with them → a bad cron is refused on its field, then the schedule points at the
 * destination → back up now (the backup verifies) → delete the rows → restore into the same
 * database and the rows are back. Saves the screenshots in docs/screenshots/ and drops what it created.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { bearerApi, browserMissing, EXPECTED_CONSOLE, launchBrowser, setUpOwner, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Ada Lovelace", email: "ada@example.com", password: "a-long-enough-password" };
const ADMIN_URL = process.env.SWITCHYARD_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const JOB_TIMEOUT = 240_000;
const SUFFIX = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const DB = `e2e-${SUFFIX}`;
const APP = `shop-${SUFFIX}`;

/** The page's globals, for code that runs in the browser (this file is type-checked without the DOM lib). */
interface PageGlobals {
  document: {
    documentElement: { scrollWidth: number };
    getAnimations(): Array<{ playState: string; effect: { getTiming(): { iterations?: number } } | null }>;
  };
  innerWidth: number;
  scrollTo(x: number, y: number): void;
}

/** A migration the app's release command runs: it reaches the database through DATABASE_URL. */
const MIGRATE = `import { SQL } from "bun";
const db = new SQL(process.env.DATABASE_URL);
await db\`CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text NOT NULL)\`;
console.log("migrated: notes");
await db.close();
`;

/** Runs SQL on a server (the admin URL unless another is given). */
async function psql(sql: string, url = ADMIN_URL): Promise<string> {
  const proc = Bun.spawn(["psql", url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`psql: ${err}`);
  return out;
}

describe.skipIf(browserMissing() !== null)("the database manager in a browser", () => {
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let repo: TestRepo;
  let backupDir: string;
  let token = "";

  const api = bearerApi(
    () => panel.url,
    () => token,
  );

  async function waitForJob(id: string): Promise<string> {
    return waitFor(
      async () => {
        const { job } = await api<{ job: { status: string } }>("GET", `/jobs/${id}`);
        return ["succeeded", "failed", "cancelled"].includes(job.status) ? job.status : null;
      },
      { what: `job ${id} to end`, timeoutMs: JOB_TIMEOUT, intervalMs: 250 },
    );
  }

  /**
   * Waits until the job the page shows has finished, and returns its status text. The job followed
   * must be a new one: the panel shows the previous job until the new one is queued.
   */
  const followed = new WeakMap<Page, string>();
  async function followJob(target: Page = page): Promise<string> {
    const before = followed.get(target);
    const panel = target.locator(before ? `[data-testid="db-job"]:not([data-job-id="${before}"])` : '[data-testid="db-job"]').first();
    await panel.waitFor({ timeout: 30_000 });
    const id = (await panel.getAttribute("data-job-id")) ?? "";
    followed.set(target, id);
    const status = target.locator(`[data-testid="db-job"][data-job-id="${id}"] [data-testid="db-job-status"]`);
    await target
      .locator(`[data-testid="db-job"][data-job-id="${id}"] [data-testid="db-job-status"]`, { hasText: /^(Succeeded|Failed|Cancelled)$/ })
      .waitFor({ timeout: JOB_TIMEOUT });
    return (await status.textContent())?.trim() ?? "";
  }

  async function shot(name: string, target: Page = page, fullPage = false): Promise<void> {
    // A full-page shot from the top, so the sticky bars sit where they belong.
    if (fullPage) await target.evaluate(() => (globalThis as unknown as PageGlobals).scrollTo(0, 0));
    await target.waitForFunction(() =>
      (globalThis as unknown as PageGlobals).document
        .getAnimations()
        .every((a) => a.playState !== "running" || a.effect?.getTiming().iterations === Number.POSITIVE_INFINITY),
    );
    await target.screenshot({ path: join(SHOTS, name), fullPage });
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    backupDir = mkdtempSync(join(tmpdir(), "sy-e2e-backups-"));
    panel = await startPanelProcess({ SWITCHYARD_PROXY_PORT: String(freePort()), SWITCHYARD_DATABASE_ADMIN_URL: ADMIN_URL });
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: "light" });
    page = await context.newPage();
    errors = watchConsole(page);
    repo = await createRepo(bunApp("v1", { "migrate.ts": MIGRATE }));
  }, 120_000);

  afterAll(async () => {
    // Through the panel first (it drops the database and its role), then whatever is left by name.
    if (token) {
      for (const name of [DB, `${DB}-copy`]) {
        try {
          const { job } = await api<{ job: { id: string } }>("DELETE", `/databases/${name}`, { confirm: name });
          await waitForJob(job.id);
        } catch {
          // Not there (or the panel is gone): the direct clean-up below covers it.
        }
      }
    }
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    repo?.cleanup();
    const like = SUFFIX.replace(/[^a-z0-9]/g, "");
    try {
      for (const db of (await psql(`SELECT datname FROM pg_database WHERE datname LIKE '%${like}%'`)).split("\n").filter(Boolean)) {
        await psql(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
      }
      for (const role of (await psql(`SELECT rolname FROM pg_roles WHERE rolname LIKE '%${like}%'`)).split("\n").filter(Boolean)) {
        await psql(`DROP ROLE IF EXISTS "${role}"`);
      }
    } catch (error) {
      console.warn("clean-up of the test's databases failed", error);
    }
    if (backupDir) rmSync(backupDir, { recursive: true, force: true });
  });

  test("create → attach → reveal (audited) → back up (verified) → restore", async () => {
    // --- First run: the owner account, and a token for the test's own API calls.
    token = await setUpOwner(page, context, panel, OWNER);

    // An app to attach the database to, with a migration as its release command (not deployed yet:
    // the manager offers the deploy).
    await api("POST", "/apps", { name: APP, repoUrl: repo.url, deploy: false, releaseCommand: "bun migrate.ts", watchSeconds: 0 });

    // --- Settings: a local directory as a backup destination.
    await page.goto(`${panel.url}/settings`);
    await page.getByTestId("backup-destinations").waitFor();
    await page.getByTestId("new-destination").click();
    await page.fill('input[name="name"]', "Local disk");
    await page.getByTestId("destination-local").check();
    await page.fill('input[name="path"]', backupDir);
    await page.getByTestId("create-destination").click();
    await page.locator('[data-testid="destination"][data-name="Local disk"]').waitFor();

    // --- The list, empty; then create a PostgreSQL database and follow its provisioning.
    await page.getByRole("link", { name: "Databases" }).first().click();
    await page.getByTestId("databases").waitFor();
    await page.getByTestId("databases-empty").waitFor();
    await page.getByTestId("engines").getByText("PostgreSQL").waitFor();
    await page.getByTestId("new-database").click();
    await page.fill('input[name="name"]', DB);
    await page.getByTestId("engine-postgres").check();
    await page.getByTestId("create-database").click();
    expect(await followJob()).toBe("Succeeded");
    await page.getByTestId("open-database").click();
    await page.getByTestId("database-page").waitFor();
    await page.locator('[data-testid="database-status"]', { hasText: "Ready" }).waitFor();

    // --- Attach it to the app; the manager offers to deploy the app now.
    await page.getByTestId("attach-app").selectOption(APP);
    await page.getByTestId("attach").click();
    await page.locator(`[data-testid="attachment"][data-app="${APP}"]`).waitFor();
    await page.getByTestId("attachment").getByText("DATABASE_URL").waitFor();
    const env = await api<{ vars: { key: string; secret: boolean }[] }>("GET", `/apps/${APP}/env`);
    expect(env.vars.find((v) => v.key === "DATABASE_URL")?.secret).toBe(true);
    await page.getByTestId("deploy-now").click();
    await page.waitForURL((u) => u.pathname === `/apps/${APP}` && u.searchParams.has("job"));
    const deployJob = new URL(page.url()).searchParams.get("job") ?? "";
    expect(await waitForJob(deployJob)).toBe("succeeded");

    // --- The manager shows the release command's run (the migration), and runs it again as a job.
    await page.goBack();
    await page.getByTestId("database-page").waitFor();
    await page.locator('[data-testid="release-status"]', { hasText: "Succeeded" }).waitFor({ timeout: 30_000 });
    await page.getByTestId("rerun-release").click();
    expect(await followJob()).toBe("Succeeded");
    await page.getByTestId("db-job-log").getByText("migrated: notes").waitFor();

    // --- Credentials: revealed for the owner, with copy buttons; the reveal is audited.
    await page.getByTestId("reveal-credentials").click();
    const url = (await page.getByTestId("credential-url").textContent()) ?? "";
    expect(url).toStartWith("postgres");
    expect(await page.getByTestId("credential-cli").textContent()).toContain("psql");
    await page.getByTestId("credential-url-copy").waitFor();
    // The credentials work: rows go into the table the migration made.
    await psql("INSERT INTO notes (body) VALUES ('one'), ('two'), ('three')", url);
    const { entries } = await api<{ entries: { action: string; target: string | null }[] }>("GET", "/audit?limit=50");
    expect(entries.some((e) => e.action.includes("credentials") && (e.target ?? "").includes(DB))).toBe(true);
    // Leaving the manager hides them again (a move inside the panel, not a reload).
    await page.getByRole("link", { name: "Databases" }).first().click();
    await page.locator(`[data-testid="database-row"][data-database="${DB}"] a`).first().click();
    await page.getByTestId("reveal-credentials").waitFor();
    expect(await page.getByTestId("credential-url").count()).toBe(0);

    // --- Schedule: a bad cron expression is refused on its field; then the destination is chosen.
    await page.fill('input[name="cron"]', "every tuesday");
    await page.getByTestId("save-schedule").click();
    await page.locator('#schedule-form [id^="cron-"][id$="-error"]').waitFor();
    await page.fill('input[name="cron"]', "0 3 * * *");
    const destination = await page.getByTestId("schedule-destination").locator("option", { hasText: "Local disk" }).getAttribute("value");
    await page.getByTestId("schedule-destination").selectOption(destination ?? "");
    await page.getByTestId("save-schedule").click();
    await page.getByText("Schedule saved").waitFor();

    // --- Back up now: the job runs, and the backup verifies by a restore into a scratch database.
    await page.getByTestId("back-up-now").click();
    expect(await followJob()).toBe("Succeeded");
    await page.locator('[data-testid="backup-row"][data-verified="verified"]').first().waitFor({ timeout: 30_000 });
    expect(readdirSync(backupDir, { recursive: true }).length).toBeGreaterThan(0);
    await page.getByTestId("backup-good").first().waitFor();
    await page.getByText("Schedule saved").waitFor({ state: "hidden", timeout: 30_000 });
    await shot("database.png", page, true);

    // --- Restore into the same database: the warning says the apps stop and a safety backup comes first.
    await page.locator('[data-testid="backup-row"][data-verified="verified"]').first().getByTestId("restore").click();
    await page.getByTestId("restore-same").check();
    await page.getByText("The attached apps are stopped during the restore").waitFor();
    await page.getByText("A safety backup of the current data is taken first").waitFor();
    await psql("DELETE FROM notes", url);
    await page.getByTestId("confirm-restore").click();
    expect(await followJob()).toBe("Succeeded");
    await page.locator('[data-testid="database-status"]', { hasText: "Ready" }).waitFor();
    expect((await psql("SELECT count(*) FROM notes", url)).trim()).toBe("3");

    // --- The list shows it with its attached app and a good last backup.
    await page.goto(`${panel.url}/databases`);
    const row = page.locator(`[data-testid="database-row"][data-database="${DB}"]`);
    await row.waitFor();
    await row.getByText(APP).waitFor();
    await row.getByTestId("backup-good").waitFor();
    await shot("databases.png");

    // --- The app's Environment tab names the database that sets its variable.
    await page.goto(`${panel.url}/apps/${APP}?tab=env`);
    await page.getByTestId("attached-databases").getByText(DB).waitFor();

    // --- Dark theme, and a phone.
    const dark = await browser.newContext({
      viewport: { width: 1366, height: 900 },
      colorScheme: "dark",
      storageState: await context.storageState(),
    });
    const darkPage = await dark.newPage();
    const darkErrors = watchConsole(darkPage);
    await darkPage.goto(`${panel.url}/databases/${DB}`);
    await darkPage.locator('[data-testid="backup-row"]').first().waitFor();
    await shot("database-dark.png", darkPage);
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      storageState: await context.storageState(),
    });
    const phonePage = await phone.newPage();
    const phoneErrors = watchConsole(phonePage);
    await phonePage.goto(`${panel.url}/databases/${DB}`);
    await phonePage.locator('[data-testid="backup-row"]').first().waitFor();
    const overflow = await phonePage.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      return g.document.documentElement.scrollWidth - g.innerWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0); // nothing sticks out sideways at phone width
    await shot("database-phone.png", phonePage);
    await dark.close();
    await phone.close();

    // --- A destination that refuses the file: the backup is red, with its error, and so is the dashboard.
    const brokenPath = join(backupDir, "broken");
    const { destination: broken } = await api<{ destination: { id: string } }>("POST", "/backup-destinations", {
      name: "Broken disk",
      kind: "local",
      path: brokenPath,
    });
    rmSync(brokenPath, { recursive: true, force: true });
    writeFileSync(brokenPath, "a file where the directory was\n");
    await page.goto(`${panel.url}/databases/${DB}`);
    await page.locator("#schedule-destination option", { hasText: "Broken disk" }).waitFor({ state: "attached" });
    await page.getByTestId("schedule-destination").selectOption(broken.id);
    await page.getByTestId("save-schedule").click();
    await page.getByText("Schedule saved").first().waitFor();
    await page.getByTestId("back-up-now").click();
    expect(await followJob()).toBe("Failed");
    await page.locator('[data-testid="backup-row"][data-status="failed"]').getByTestId("backup-error").waitFor({ timeout: 30_000 });
    await page.getByRole("link", { name: "Dashboard" }).first().click();
    await page.getByTestId("backup-notice").getByText(DB).waitFor();
    // Back to the good destination, so the final backup of the clean-up's delete has somewhere to go.
    await api("PUT", `/databases/${DB}/schedule`, { cron: null, keep: 7, keepDays: 30, destination: destination });

    expect([...errors, ...darkErrors, ...phoneErrors].filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 900_000);
});
