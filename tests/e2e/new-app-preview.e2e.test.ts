/**
 * The new-app wizard reads the repository before anything is created: a local repository is
 * previewed (runtime, package manager, commands, the Procfile's processes, the port), its start
 * command overridden and the app created with it; a repository that is not there is refused on
 * its field, by the preview and by the create. Saves docs/screenshots/new-app-preview.png.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { bearerApi, browserMissing, EXPECTED_CONSOLE, launchBrowser, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");

describe.skipIf(browserMissing() !== null)("the new-app wizard's detection preview", () => {
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let repo: TestRepo;
  let empty: string;
  let token = "";

  const api = bearerApi(
    () => panel.url,
    () => token,
  );

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    empty = mkdtempSync(join(tmpdir(), "sy-norepo-"));
    repo = await createRepo(
      {
        ...bunApp("v1"),
        "bun.lock": "{}",
        "alt.ts": 'Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1", fetch: () => new Response("alt") });\n',
        "worker.ts": "setInterval(() => console.log('tick'), 1000);\n",
        Procfile: "web: bun server.ts\nworker: bun worker.ts\n",
      },
      "main",
      "Ship the worker",
    );
    panel = await startPanelProcess({});
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 1000 }, colorScheme: "light" });
    page = await context.newPage();
    errors = watchConsole(page);
    const setup = await context.request.post(`${panel.url}/api/v1/setup`, {
      data: { email: "grace@example.com", password: "a-long-enough-password", name: "Grace Hopper", code: panel.setupCode },
      headers: { origin: panel.url },
    });
    expect(setup.status()).toBe(201);
    const created = await context.request.post(`${panel.url}/api/v1/tokens`, { data: { name: "e2e" }, headers: { origin: panel.url } });
    expect(created.status()).toBe(201);
    token = ((await created.json()) as { token: string }).token;
  }, 120_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    repo?.cleanup();
    if (empty) rmSync(empty, { recursive: true, force: true });
  });

  test("a local repository is previewed, its start command overridden, and the app created with it", async () => {
    await page.goto(`${panel.url}/apps/new`);
    await page.getByTestId("new-app-form").waitFor();
    await page.fill('input[name="repoUrl"]', repo.url);
    await page.fill('input[name="name"]', "previewed");

    const preview = page.getByTestId("detect-preview");
    await page.locator('[data-testid="detect-preview"][data-state="ready"]').waitFor({ timeout: 60_000 });
    const text = async (key: string) => (await preview.getByTestId(`preview-${key}`).textContent())?.trim();
    expect(await text("runtime")).toBe("Bun");
    expect(await text("package-manager")).toBe("bun (bun.lock)");
    expect(await text("install")).toBe("bun install --frozen-lockfile");
    expect(await text("build")).toBe("bun run build");
    expect(await text("start")).toBe("bun server.ts");
    expect(await text("processes")).toBe("web, worker");
    expect(await text("port")).toBe("$PORT");
    expect(await text("commit")).toContain("Ship the worker");

    // Override the start command: the preview says it is the user's, the field shows what was detected.
    await page.getByTestId("toggle-build").click();
    expect(await page.getAttribute('input[name="startCommand"]', "placeholder")).toBe("bun server.ts");
    await page.fill('input[name="startCommand"]', "bun alt.ts");
    await preview.getByTestId("preview-start-overridden").waitFor();
    expect(await text("start")).toMatch(/^bun alt\.ts\s*yours$/);
    await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, "new-app-preview.png"), fullPage: true });

    await page.getByTestId("create-only").click();
    await page.waitForURL(/\/apps\/previewed$/);
    const { app } = await api<{ app: { startCommand: string | null; installCommand: string | null; repoUrl: string } }>(
      "GET",
      "/apps/previewed",
    );
    // Only the override is saved: what was detected is detected again at each deploy.
    expect(app).toMatchObject({ startCommand: "bun alt.ts", installCommand: null, repoUrl: repo.url });

    // Persistent storage, in the app's settings: a bad path is refused on the field, a good one is listed.
    await page.goto(`${panel.url}/apps/previewed?tab=settings`);
    const volumes = page.getByTestId("volumes-card");
    await volumes.getByText("No volume").waitFor();
    await volumes.locator('input[name="volume-path"]').fill("../outside");
    await page.getByTestId("add-volume").click();
    await volumes.getByText("must not contain . or .. segments").waitFor();
    expect(await api<{ app: { volumes: unknown[] } }>("GET", "/apps/previewed").then((r) => r.app.volumes)).toEqual([]);
    await volumes.locator('input[name="volume-path"]').fill("data");
    await page.getByTestId("add-volume").click();
    await volumes.locator('[data-testid="volume"][data-path="data"]').getByText("next deploy").waitFor();
    expect(await api<{ app: { volumes: unknown[] } }>("GET", "/apps/previewed").then((r) => r.app.volumes)).toEqual([{ path: "data" }]);
    await volumes.screenshot({ path: join(SHOTS, "app-volumes.png") });
    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 180_000);

  test("a repository that is not there: its error is shown on the field, and nothing is created", async () => {
    await page.goto(`${panel.url}/apps/new`);
    await page.getByTestId("new-app-form").waitFor();
    await page.fill('input[name="repoUrl"]', `file://${join(empty, "missing.git")}`);
    await page.fill('input[name="name"]', "missing");
    const repoInput = page.locator('input[name="repoUrl"]');
    await page.locator('[aria-invalid="true"][name="repoUrl"]').waitFor({ timeout: 60_000 });
    const describedBy = (await repoInput.getAttribute("aria-describedby")) as string;
    expect(await page.locator(`[id="${describedBy}"]`).textContent()).toContain("does not appear to be a git repository");

    // The create is refused the same way, on the same field.
    await page.getByTestId("create-only").click();
    await page.locator('[aria-invalid="true"][name="repoUrl"]').waitFor();
    expect(await page.locator(`[id="${describedBy}"]`).textContent()).toContain("does not appear to be a git repository");
    expect(page.url()).toEndWith("/apps/new");
    const { apps } = await api<{ apps: { name: string }[] }>("GET", "/apps");
    expect(apps.map((a) => a.name)).toEqual(["previewed"]);

    // A branch that is not there names the ones that are.
    await page.fill('input[name="repoUrl"]', repo.url);
    await page.fill('input[name="branch"]', "mian");
    await page.locator('[aria-invalid="true"][name="branch"]').waitFor({ timeout: 60_000 });
    const branchError = (await page.locator('input[name="branch"]').getAttribute("aria-describedby")) as string;
    expect(await page.locator(`[id="${branchError}"]`).textContent()).toContain("it has main");
    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 120_000);
});
