import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { browserMissing, EXPECTED_CONSOLE, launchBrowser, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type GitHubServer, pushPayload, signedDelivery, startGitHubServer } from "../helpers/github-server.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");

describe.skipIf(browserMissing() !== null)("GitHub in the browser", () => {
  let gh: GitHubServer;
  let repo: TestRepo;
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let proxyPort: number;

  beforeAll(async () => {
    repo = await createRepo(bunApp("v1"), "main", "v1");
    gh = startGitHubServer({
      repos: [
        { owner: "acme", name: "shop", bare: repo.bare },
        { owner: "acme", name: "docs" },
      ],
    });
    const port = freePort();
    proxyPort = freePort();
    panel = await startPanelProcess({
      PORT: String(port),
      SWITCHYARD_PUBLIC_URL: `http://127.0.0.1:${port}`,
      SWITCHYARD_PROXY_PORT: String(proxyPort),
      GITHUB_CLIENT_ID: gh.clientId,
      GITHUB_CLIENT_SECRET: gh.clientSecret,
      GITHUB_URL: gh.url,
      GITHUB_API_URL: gh.apiUrl,
    });
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 860 }, colorScheme: "light" });
    page = await context.newPage();
    errors = watchConsole(page);
    const setup = await context.request.post(`${panel.url}/api/v1/setup`, {
      data: { email: "grace@example.com", password: "a-long-enough-password", name: "Grace Hopper", code: panel.setupCode },
      headers: { origin: panel.url },
    });
    expect(setup.status()).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await closeBrowser?.();
    await panel?.stop();
    gh?.stop();
    repo?.cleanup();
  });

  test("connect GitHub through its redirect flow, pick a repository, deploy it, deploy again on a signed push", async () => {
    await page.goto(`${panel.url}/settings`);
    await page.getByTestId("github-card").waitFor();
    await page.getByTestId("github-connect").click();
    // The browser goes to GitHub's authorize page and straight back to the panel's callback.
    await page.waitForURL("**/settings?github=connected");
    await expect(page.getByTestId("github-login").textContent()).resolves.toBe("@octo-ada");
    await page.getByTestId("github-card").screenshot({ path: join(SHOTS, "settings-github.png") });
    // A local panel cannot update itself; the owner's updates card says how instead.
    await page.getByText("Self-update works on a server installed with install.sh").waitFor();

    await page.goto(`${panel.url}/apps/new`);
    await page.getByTestId("repo-search").fill("shop");
    await page.getByTestId("repo-option").filter({ hasText: "acme/shop" }).click();
    await page.getByTestId("picked-repo").waitFor();
    await expect(page.getByTestId("branch-select").inputValue()).resolves.toBe("main");
    await expect(page.locator('input[name="name"]').inputValue()).resolves.toBe("shop");
    await page.screenshot({ path: join(SHOTS, "new-app-github.png") });
    await page.getByTestId("create-and-deploy").click();
    await page.waitForURL("**/apps/shop**");

    expect(gh.hooks).toHaveLength(1);
    expect(gh.hooks[0]?.config.url).toBe(`${panel.url}/api/v1/webhooks/github?app=shop`);
    const answers = async (version: string) => {
      for (let i = 0; i < 240; i++) {
        const slots = (await (await context.request.get(`${panel.url}/api/v1/apps/shop/slots`)).json()) as {
          slots: Array<{ state: string; port: number }>;
        };
        const live = slots.slots.find((s) => s.state === "live");
        if (
          live &&
          (await fetch(`http://127.0.0.1:${live.port}/`)
            .then((r) => r.text())
            .catch(() => "")) === version
        )
          return true;
        await Bun.sleep(250);
      }
      return false;
    };
    expect(await answers("v1")).toBe(true);
    // Short drain and watch windows, so the push's deploy (and its success status) ends quickly.
    const patched = await context.request.patch(`${panel.url}/api/v1/apps/shop`, {
      data: { drainSeconds: 1, watchSeconds: 1 },
      headers: { origin: panel.url },
    });
    expect(patched.status()).toBe(200);

    const sha = await repo.commit(bunApp("v2"), "v2 from a push");
    const delivered = await fetch(
      signedDelivery(
        gh.hooks[0]?.config.url as string,
        "push",
        pushPayload({ repo: "acme/shop", branch: "main", sha, message: "v2 from a push", author: "Ada Lovelace" }),
        gh.hooks[0]?.config.secret as string,
      ),
    );
    expect(delivered.status).toBe(202);
    expect(await answers("v2")).toBe(true);
    for (let i = 0; i < 120 && gh.statuses.filter((s) => s.sha === sha).length < 2; i++) await Bun.sleep(250);
    expect(gh.statuses.filter((s) => s.sha === sha).map((s) => s.state)).toEqual(["pending", "success"]);

    await page.goto(`${panel.url}/apps/shop?tab=settings`);
    await page.getByTestId("deliveries").waitFor();
    await expect(page.getByTestId("delivery-outcome").first().textContent()).resolves.toBe("deployed");
    await page.getByTestId("deliveries-card").screenshot({ path: join(SHOTS, "app-deliveries.png") });
  }, 300_000);

  test("a domain added in the Domains tab is routed by nginx to the live release", async () => {
    await page.goto(`${panel.url}/apps/shop?tab=domains`);
    await page.getByTestId("new-domain").click();
    await page.getByTestId("domain-input").fill("not a domain");
    await page.getByTestId("add-domain").click();
    await page.getByTestId("domain-error").getByText("is not a domain name like shop.example.com").waitFor();
    await page.getByTestId("domain-input").fill("Shop.Example.com");
    await page.getByTestId("add-domain").click();
    // The wizard moves on to the DNS step: the name is routed already (no reload, no job).
    await page.getByTestId("wizard-dns").waitFor();
    const body = await waitFor(
      async () => {
        const text = await fetch(`http://127.0.0.1:${proxyPort}/`, { headers: { host: "shop.example.com" } })
          .then((r) => r.text())
          .catch(() => "");
        return text === "v2" ? text : null;
      },
      { what: "nginx to route shop.example.com to the live release", timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(body).toBe("v2");
    await page.getByTestId("domain-list").getByText("shop.example.com").first().waitFor();
    await page.getByTestId("domains-tab").screenshot({ path: join(SHOTS, "app-domains.png") });
  }, 120_000);

  test("sign out, then sign in with GitHub", async () => {
    await page.getByTestId("user-menu").click();
    await page.getByTestId("sign-out").click();
    await page.waitForURL("**/login**");
    await page.getByTestId("github-signin").click();
    await page.getByTestId("dashboard").waitFor();
    expect(new URL(page.url()).pathname).toBe("/");
    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 120_000);
});
