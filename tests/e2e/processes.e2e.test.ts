/**
 * Processes in a browser against the real backend: an app with a Procfile (a web server and a
 * worker printing a line a second) is created in the wizard, whose preview lists the worker →
 * deployed → the Processes tab shows web and worker running → web is set to 2 instances and
 * applied → the job finishes and two web instances run with their own pids → the worker is
 * restarted (a new pid) and stopped. A commit of another branch is deployed from the header's menu, and the build
 * settings are saved. Saves docs/screenshots/processes.png, deploy-ref.png and app-build-settings.png.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { bearerApi, browserMissing, EXPECTED_CONSOLE, launchBrowser, setUpOwner, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Grace Hopper", email: "grace@example.com", password: "a-long-enough-password" };
const JOB_TIMEOUT = 180_000;
const APP = "procs";

interface Instance {
  index: number;
  state: string;
  pid: number | null;
}
interface Process {
  type: string;
  instances: number;
  running: number;
  stopped: boolean;
  units: Instance[];
}

describe.skipIf(browserMissing() !== null)("the formation editor in a browser", () => {
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

  async function waitForJob(id: string): Promise<string> {
    return waitFor(
      async () => {
        const { job } = await api<{ job: { status: string } }>("GET", `/jobs/${id}`);
        return ["succeeded", "failed", "cancelled"].includes(job.status) ? job.status : null;
      },
      { timeoutMs: JOB_TIMEOUT, intervalMs: 250, what: `job ${id} to finish` },
    );
  }

  async function processes(): Promise<Process[]> {
    return (await api<{ processes: Process[] }>("GET", `/apps/${APP}/processes`)).processes;
  }

  /** The pids the card shows for a process type's running instances. */
  async function shownPids(card: Locator): Promise<string[]> {
    const rows = card.locator('[data-testid="instance"][data-state="running"]');
    const pids: string[] = [];
    for (let i = 0; i < (await rows.count()); i++) pids.push((await rows.nth(i).getAttribute("data-pid")) ?? "");
    return pids.filter(Boolean);
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    repo = await createRepo(
      {
        ...bunApp("v1"),
        "worker.ts": "setInterval(() => console.log('tick ' + new Date().toISOString()), 1000);\n",
        Procfile: "web: bun server.ts\nworker: bun worker.ts\n",
      },
      "main",
      "Web and a worker",
    );
    panel = await startPanelProcess({});
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 1000 }, colorScheme: "light" });
    page = await context.newPage();
    errors = watchConsole(page);
    token = await setUpOwner(page, context, panel, OWNER);
  }, 120_000);

  afterAll(async () => {
    await api("DELETE", `/apps/${APP}`, { confirm: APP }).catch(() => {});
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    repo?.cleanup();
  });

  test(
    "the wizard lists the worker, and the first deploy starts web and worker",
    async () => {
      await page.goto(`${panel.url}/apps/new`);
      await page.getByTestId("new-app-form").waitFor();
      await page.fill('input[name="repoUrl"]', repo.url);
      await page.fill('input[name="name"]', APP);
      await page.locator('[data-testid="detect-preview"][data-state="ready"]').waitFor({ timeout: 60_000 });
      expect((await page.getByTestId("preview-processes").textContent())?.trim()).toBe("web, worker");

      await page.getByTestId("create-and-deploy").click();
      await page.waitForURL(/tab=logs&job=/);
      const jobId = new URL(page.url()).searchParams.get("job") as string;
      expect(await waitForJob(jobId)).toBe("succeeded");

      await page.getByTestId("tab-processes").click();
      const card = page.getByTestId("processes-card");
      await card.locator('[data-testid="process"][data-type="web"][data-running="1"]').waitFor({ timeout: 30_000 });
      await card.locator('[data-testid="process"][data-type="worker"][data-running="1"]').waitFor({ timeout: 30_000 });
      expect((await card.locator('[data-type="worker"]').textContent()) ?? "").toContain("bun worker.ts");
      expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
    },
    JOB_TIMEOUT + 60_000,
  );

  test(
    "web is set to 2 instances: the job runs and two web processes answer with their own pids",
    async () => {
      await page.goto(`${panel.url}/apps/${APP}?tab=processes`);
      const web = page.locator('[data-testid="processes-card"] [data-testid="process"][data-type="web"]');
      await web.locator('[data-testid="instance"][data-state="running"]').first().waitFor({ timeout: 30_000 });

      // Web may not go below one instance on a live app: the stepper stops at 1.
      expect(await web.getByTestId("instances-minus").isDisabled()).toBe(true);
      await web.getByTestId("instances-plus").click();
      await web.getByTestId("instances-pending").waitFor();
      await page.getByTestId("formation-apply").click();

      const jobRow = page.getByTestId("formation-job");
      await jobRow.waitFor({ timeout: 15_000 });
      await page.locator('[data-testid="formation-job"][data-status="succeeded"]').waitFor({ timeout: JOB_TIMEOUT });
      await page.locator('[data-testid="process"][data-type="web"][data-instances="2"][data-running="2"]').waitFor({ timeout: 30_000 });
      const pids = await waitFor(
        async () => {
          const shown = await shownPids(web);
          return shown.length === 2 ? shown : null;
        },
        { timeoutMs: 30_000, what: "two running web instances in the card" },
      );
      expect(new Set(pids).size).toBe(2);
      const fromApi = (await processes()).find((p) => p.type === "web") as Process;
      expect(fromApi.instances).toBe(2);
      expect(fromApi.units.map((u) => String(u.pid)).sort()).toEqual([...pids].sort());

      await page.getByTestId("processes-card").screenshot({ path: join(SHOTS, "processes.png") });
      expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
    },
    JOB_TIMEOUT + 60_000,
  );

  test(
    "the worker is restarted with a new pid, then stopped",
    async () => {
      const worker = page.locator('[data-testid="processes-card"] [data-testid="process"][data-type="worker"]');
      const [before] = await waitFor(
        async () => {
          const shown = await shownPids(worker);
          return shown.length === 1 ? shown : null;
        },
        { timeoutMs: 30_000, what: "the worker's pid in the card" },
      );
      await worker.locator('[data-testid="process-restart"]:enabled').click();
      await waitFor(
        async () => {
          const shown = await shownPids(worker);
          return shown.length === 1 && shown[0] !== before ? shown : null;
        },
        { timeoutMs: JOB_TIMEOUT, what: "the restarted worker with a new pid" },
      );

      await worker.locator('[data-testid="process-stop"]:enabled').click();
      await page
        .locator('[data-testid="process"][data-type="worker"][data-stopped="true"][data-running="0"]')
        .waitFor({ timeout: JOB_TIMEOUT });
      await worker.getByTestId("process-start").waitFor();
      const stopped = (await processes()).find((p) => p.type === "worker") as Process;
      expect(stopped).toMatchObject({ stopped: true, running: 0 });
      // Web keeps serving both instances.
      expect((await processes()).find((p) => p.type === "web")?.running).toBe(2);
      expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
    },
    JOB_TIMEOUT + 60_000,
  );

  test(
    "another branch is deployed by name from the header's menu",
    async () => {
      const sha = await repo.commit({ "build.ts": 'await Bun.write("version.txt", "next");\n' }, "Try the next version", "next");
      await page.goto(`${panel.url}/apps/${APP}`);
      await page.getByTestId("lifecycle-menu").click();
      await page.getByTestId("lifecycle-deploy-ref").click();
      const form = page.getByTestId("deploy-ref-form");
      await form.waitFor();
      // Nothing typed: refused in place, nothing sent.
      await page.getByTestId("deploy-ref-submit").click();
      await form.getByText("Enter a branch, a tag or a commit sha.").waitFor();
      await page.fill('input[name="ref"]', sha.slice(0, 7));
      await page.getByTestId("deploy-ref-submit").click();
      await form.getByText("That looks like a short sha").waitFor();
      await page.fill('input[name="ref"]', "next");
      await page.locator('[role="dialog"]').screenshot({ path: join(SHOTS, "deploy-ref.png") });
      await page.getByTestId("deploy-ref-submit").click();
      await page.waitForURL(/tab=logs&job=/);
      const jobId = new URL(page.url()).searchParams.get("job") as string;
      expect(await waitForJob(jobId)).toBe("succeeded");
      const { app } = await api<{ app: { branch: string; currentRelease: { commitSha: string } | null } }>("GET", `/apps/${APP}`);
      expect(app.currentRelease?.commitSha).toBe(sha);
      // The app's own branch is unchanged: the next push to main deploys main again.
      expect(app.branch).toBe("main");
      expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
    },
    JOB_TIMEOUT + 60_000,
  );

  test("the build settings are checked in the form and saved", async () => {
    await page.goto(`${panel.url}/apps/${APP}?tab=settings`);
    const build = page.getByTestId("settings-build");
    await build.waitFor();
    await build.locator('input[name="bunVersion"]').fill("latest please");
    await build.locator('input[name="rootDir"]').fill("../elsewhere");
    await page.getByTestId("settings-save").click();
    await build.getByText("A version or range, like 1.2 or ^1.1.30.").waitFor();
    await build.getByText("A path inside the repository").waitFor();

    await build.locator('input[name="bunVersion"]').fill("1.2");
    await build.locator('input[name="rootDir"]').fill("");
    await build.locator('input[name="nodeVersion"]').fill("22");
    await build.getByTestId("setting-packageManager").selectOption("bun");
    await page.getByTestId("settings-resources").locator('input[name="memoryMax"]').fill("512M");
    await page.getByTestId("settings-save").click();
    await waitFor(
      async () => {
        const { app } = await api<{ app: { bunVersion: string | null; nodeVersion: string | null; packageManager: string | null } }>(
          "GET",
          `/apps/${APP}`,
        );
        return app.bunVersion === "1.2" && app.nodeVersion === "22" && app.packageManager === "bun";
      },
      { timeoutMs: 15_000, what: "the build settings to be saved" },
    );
    // Local mode says plainly which limits it does not apply.
    await page.getByTestId("resources-not-applied").getByText("Memory limit 512M is not applied").waitFor({ timeout: 15_000 });
    // Centred, so the sticky top bar does not cover the card's title.
    await build.evaluate((el) => (el as unknown as { scrollIntoView(o: { block: string }): void }).scrollIntoView({ block: "center" }));
    await build.screenshot({ path: join(SHOTS, "app-build-settings.png") });
    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 60_000);
});
