/**
 * The panel as each role sees it, against the real backend: a viewer finds nothing that changes
 * anything (no deploy, save, delete, add, connect… and no form to submit) on the dashboard, every
 * tab of an app and the settings; a deployer deploys and rolls back but gets no admin controls; an
 * admin gets users and GitHub but not the owner's cards. Any role manages its own account: the
 * viewer changes their password and signs out another session in the browser.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { browserMissing, EXPECTED_CONSOLE, launchBrowser, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const PASSWORD = "a-long-enough-password";
const OWNER = { name: "Grace Hopper", email: "grace@example.com" };
const APP = "hello";
const TABS = ["overview", "releases", "logs", "env", "domains", "analytics", "settings"];

/** What a control that changes something is called; read-only roles must see none of them enabled. */
const MUTATING =
  /^(Deploy|Redeploy|Roll ?back|Save|Delete|New|Add|Connect|Reconnect|Disconnect|Create|Update|Revoke|Remove|Replace|Paste|Discard|Run again|Cancel|Install|Reset|Refresh access|Turn|Restart|Start|Stop)\b/i;

/** The page's globals, for code that runs in the browser (this file is type-checked without the DOM lib). */
interface El {
  tagName: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  matches(selector: string): boolean;
  getClientRects(): { length: number };
}
interface PageGlobals {
  document: { querySelectorAll(selector: string): ArrayLike<El> & Iterable<El> };
}

interface Control {
  tag: string;
  name: string;
  enabled: boolean;
}

/** Every visible control on the page, named as a screen reader would name it. */
async function controls(page: Page): Promise<{ controls: Control[]; forms: number; fields: string[] }> {
  return page.evaluate(() => {
    const doc = (globalThis as unknown as PageGlobals).document;
    const visible = (el: El) => el.getClientRects().length > 0;
    const name = (el: El) =>
      (el.getAttribute("aria-label") || el.textContent || el.getAttribute("title") || el.getAttribute("value") || "")
        .replace(/\s+/g, " ")
        .trim();
    const controls = [
      ...doc.querySelectorAll("button, [role=button], [role=switch], [role=menuitem], input[type=submit], input[type=button]"),
    ]
      .filter(visible)
      .map((el) => ({ tag: el.tagName.toLowerCase(), name: name(el), enabled: !el.matches(":disabled, [aria-disabled=true]") }));
    // Fields someone could type into or pick from, other than searching, filtering, picking which job's
    // log to read, and the theme (this browser's own choice, never sent to the server).
    const fields = [...doc.querySelectorAll("input, select, textarea")]
      .filter(
        (el) =>
          visible(el) &&
          !el.matches(":disabled, [readonly], [type=search], [type=hidden], [data-view-filter], [data-testid=job-select], [name=theme]"),
      )
      .map(
        (el) => `${el.tagName.toLowerCase()}[name=${el.getAttribute("name") ?? ""}][placeholder=${el.getAttribute("placeholder") ?? ""}]`,
      );
    return { controls, forms: doc.querySelectorAll("form").length, fields };
  });
}

/** Asserts that nothing on the page changes anything: no enabled mutating control, no form, no editable field. */
async function expectReadOnly(page: Page, where: string): Promise<void> {
  const seen = await controls(page);
  const mutating = seen.controls.filter((c) => c.enabled && MUTATING.test(c.name)).map((c) => `${c.tag} "${c.name}"`);
  expect({ where, mutating }).toEqual({ where, mutating: [] });
  expect({ where, forms: seen.forms }).toEqual({ where, forms: 0 });
  // Links only navigate, except to the page that creates apps or to GitHub's connect flow.
  expect({ where, links: await page.locator('a[href="/apps/new"], a[href*="/auth/github/start"]').count() }).toEqual({ where, links: 0 });
  expect({ where, fields: seen.fields }).toEqual({ where, fields: [] });
}

describe.skipIf(browserMissing() !== null)("what each role sees", () => {
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let repo: TestRepo;
  let ownerToken = "";
  const contexts: BrowserContext[] = [];

  async function call<T>(method: string, path: string, body?: unknown, auth: { token?: string; cookie?: string } = { token: ownerToken }) {
    const headers: Record<string, string> = { "user-agent": "curl/8.5.0" };
    if (auth.token) headers.authorization = `Bearer ${auth.token}`;
    if (auth.cookie) headers.cookie = auth.cookie;
    if (body !== undefined) headers["content-type"] = "application/json";
    if (method !== "GET") headers.origin = panel.url;
    const res = await fetch(`${panel.url}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as T };
  }

  async function apiSignIn(email: string, password = PASSWORD): Promise<string> {
    const res = await call("POST", "/auth/login", { email, password }, {});
    expect(res.status).toBe(200);
    return (res.headers.getSetCookie().find((c) => c.startsWith("sy_session=")) as string).split(";")[0] as string;
  }

  async function waitForJob(id: string): Promise<string> {
    return waitFor(
      async () => {
        const { body } = await call<{ job: { status: string } }>("GET", `/jobs/${id}`);
        return ["succeeded", "failed", "cancelled"].includes(body.job.status) ? body.job.status : null;
      },
      { what: `job ${id} to finish`, timeoutMs: 180_000, intervalMs: 250 },
    );
  }

  /** A new browser, signed in as `email` through the sign-in form. */
  async function browserAs(email: string): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1366, height: 860 }, colorScheme: "light" });
    contexts.push(context);
    const page = await context.newPage();
    const errors = watchConsole(page);
    await page.goto(`${panel.url}/login`);
    await page.getByTestId("login-form").waitFor();
    await page.fill('input[name="email"]', email);
    await page.fill('input[name="password"]', PASSWORD);
    await page.click('button[type="submit"]');
    await page.getByTestId("dashboard").waitFor();
    return { page, errors };
  }

  async function openTab(page: Page, tab: string): Promise<void> {
    await page.goto(`${panel.url}/apps/${APP}?tab=${tab}`);
    await page.getByTestId("app-page").waitFor();
    await page.locator(`[data-testid="tab-${tab}"][data-state="active"]`).waitFor();
    const ready: Record<string, string> = {
      overview: '[data-testid="overview"] [data-testid^="slot-"][data-live="true"]',
      releases: '[data-testid="releases"] [data-eligible]',
      logs: '[data-testid="job-status"]',
      env: '[data-testid="env-readonly"], [data-testid="env-row"]',
      domains: '[data-testid="domain-list"]',
      analytics: '[data-testid="analytics-totals"]',
      settings: '[data-testid="settings-form"]',
    };
    await page
      .locator(ready[tab] as string)
      .first()
      .waitFor();
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    panel = await startPanelProcess();
    ({ browser, close: closeBrowser } = await launchBrowser());
    repo = await createRepo(bunApp("v1"));

    const setup = await call("POST", "/setup", { ...OWNER, password: PASSWORD, ...(panel.setupCode ? { code: panel.setupCode } : {}) }, {});
    expect(setup.status).toBe(201);
    const ownerCookie = (setup.headers.getSetCookie().find((c) => c.startsWith("sy_session=")) as string).split(";")[0] as string;
    const token = await call<{ token: string }>("POST", "/tokens", { name: "roles e2e" }, { cookie: ownerCookie });
    expect(token.status).toBe(201);
    ownerToken = token.body.token;
    for (const role of ["admin", "deployer", "viewer"]) {
      const res = await call("POST", "/users", { email: `${role}@example.com`, name: `Pat ${role}`, password: PASSWORD, role });
      expect(res.status).toBe(201);
    }

    // An app with two releases (so there is one to roll back to), variables, and a domain.
    const created = await call<{ job: { id: string } }>("POST", "/apps", {
      name: APP,
      repoUrl: repo.url,
      deploy: true,
      watchSeconds: 1,
      drainSeconds: 1,
    });
    expect(created.status).toBe(201);
    expect(await waitForJob(created.body.job.id)).toBe("succeeded");
    const second = await call<{ job: { id: string } }>("POST", `/apps/${APP}/deploy`, {});
    expect(second.status).toBe(202);
    expect(await waitForJob(second.body.job.id)).toBe("succeeded");
    const env = await call("PUT", `/apps/${APP}/env`, {
      vars: [
        { key: "GREETING", value: "hello", secret: false },
        { key: "API_KEY", value: "s3cret-value", secret: true },
      ],
    });
    expect(env.status).toBe(200);
    const domains = await call("PATCH", `/apps/${APP}`, { domains: ["hello.example.com"] });
    expect(domains.status).toBe(200);
  }, 400_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    repo?.cleanup();
  });

  test("a viewer sees no control that changes anything: dashboard, every tab of an app, settings", async () => {
    const { page, errors } = await browserAs("viewer@example.com");
    await page.locator('[data-testid="app-explorer"] a[data-app-link="hello"]').waitFor();
    await page.locator('[data-testid="app-card-deployed"]').first().waitFor();
    await expectReadOnly(page, "dashboard");
    expect(await page.getByTestId("card-deploy").count()).toBe(0);

    for (const tab of TABS) {
      await openTab(page, tab);
      await expectReadOnly(page, `app ${tab} tab`);
    }
    // What a viewer reads is all there: logs, releases, variables (secrets masked), settings, domains.
    await openTab(page, "releases");
    expect(await page.locator('[data-testid="releases"] [data-eligible]').count()).toBe(2);
    await openTab(page, "env");
    expect(await page.locator('[data-testid="env-row"][data-key="GREETING"]').textContent()).toContain("hello");
    expect(await page.locator('[data-testid="env-row"][data-key="API_KEY"]').textContent()).not.toContain("s3cret-value");
    await openTab(page, "domains");
    expect(await page.getByTestId("domain-list").textContent()).toContain("hello.example.com");
    await openTab(page, "settings");
    expect(await page.locator('input[name="branch"]').inputValue()).toBe("main");
    expect(await page.locator('input[name="branch"]').isDisabled()).toBe(true);
    expect(await page.getByTestId("danger-zone").count()).toBe(0);

    await page.goto(`${panel.url}/settings`);
    await page.getByTestId("settings").waitFor();
    await page.getByTestId("account-role").waitFor();
    await expectReadOnly(page, "settings");
    for (const card of ["tokens", "github-card", "users", "audit", "update-card", "security"]) {
      expect({ card, count: await page.getByTestId(card).count() }).toEqual({ card, count: 0 });
    }

    // Typed in by hand, the new-app page says who may add apps instead of offering a form.
    await page.goto(`${panel.url}/apps/new`);
    await page.getByTestId("new-app-refused").waitFor();
    await expectReadOnly(page, "new app page");

    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 180_000);

  test("a deployer deploys, rolls back, restarts, stops and starts, reads variables and settings, and gets no admin controls", async () => {
    const { page, errors } = await browserAs("deployer@example.com");
    await page.getByTestId("card-deploy").first().waitFor();
    expect(await page.locator('a[href="/apps/new"]').count()).toBe(0);

    await openTab(page, "overview");
    await page.locator('[data-testid="deploy"]:enabled').waitFor();
    // Enabled once the releases are in: there is an earlier one to go back to.
    await page.locator('[data-testid="overview-rollback"]:enabled').waitFor();
    await openTab(page, "releases");
    expect(await page.getByTestId("rollback-button").count()).toBe(1);
    // Variables, domains and app settings are the admin's to change (PUT /env and PATCH /apps are admin routes).
    await openTab(page, "env");
    await page.getByTestId("env-readonly").waitFor();
    expect(await page.getByTestId("env-add").count()).toBe(0);
    await openTab(page, "domains");
    expect(await page.getByTestId("domain-input").count()).toBe(0);
    await openTab(page, "settings");
    expect(await page.getByTestId("settings-save").count()).toBe(0);
    expect(await page.getByTestId("delete-app").count()).toBe(0);

    // Deploying from the page works.
    await openTab(page, "overview");
    await page.getByTestId("deploy").click();
    await page.waitForURL(/tab=logs&job=/);
    const job = new URL(page.url()).searchParams.get("job") as string;
    expect(await waitForJob(job)).toBe("succeeded");

    // So are restarting and stopping (the stop asks first), and starting again.
    for (const step of ["restart", "stop", "start"] as const) {
      // Not openTab: a stopped app has no live slot to wait for.
      await page.goto(`${panel.url}/apps/${APP}?tab=overview`);
      const restart = page.locator('[data-testid="overview-restart"]:enabled');
      await restart.filter({ hasText: step === "start" ? /^\s*Start\s*$/ : /Restart/ }).waitFor();
      if (step === "stop") {
        await page.locator('[data-testid="overview-stop"]:enabled').click();
        await page.getByTestId("confirm-stop").click();
      } else {
        await restart.click();
      }
      await page.waitForURL(/tab=logs&job=/);
      const id = new URL(page.url()).searchParams.get("job") as string;
      expect({ step, status: await waitForJob(id) }).toEqual({ step, status: "succeeded" });
    }

    await page.goto(`${panel.url}/settings`);
    await page.getByTestId("settings").waitFor();
    await page.getByTestId("tokens").waitFor();
    for (const card of ["github-card", "users", "audit", "update-card", "security"]) {
      expect({ card, count: await page.getByTestId(card).count() }).toEqual({ card, count: 0 });
    }
    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 240_000);

  test("an admin manages apps and users but not the owner's server settings; the owner sees those", async () => {
    const { page, errors } = await browserAs("admin@example.com");
    await page.goto(`${panel.url}/settings`);
    await page.getByTestId("users").waitFor();
    await page.getByTestId("audit").waitFor();
    await page.getByTestId("github-card").waitFor();
    expect(await page.getByTestId("update-card").count()).toBe(0);
    expect(await page.getByTestId("security").count()).toBe(0);
    await openTab(page, "settings");
    await page.getByTestId("delete-app").waitFor();
    await openTab(page, "env");
    await page.getByTestId("env-add").waitFor();
    await page.goto(`${panel.url}/apps/new`);
    await page.getByTestId("new-app-form").waitFor();
    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);

    const owner = await browserAs(OWNER.email);
    await owner.page.goto(`${panel.url}/settings`);
    await owner.page.getByTestId("update-card").waitFor();
    await owner.page.getByTestId("users").waitFor();
    // The scan that finds nothing for a viewer finds the owner's controls on the same pages.
    await openTab(owner.page, "settings");
    const named = (await controls(owner.page)).controls.filter((c) => c.enabled && MUTATING.test(c.name)).map((c) => c.name);
    expect(named).toEqual(expect.arrayContaining(["Deploy", "Delete app"]));
  }, 120_000);

  test("a viewer's account page: sessions listed and signed out, password changed", async () => {
    const elsewhere = await apiSignIn("viewer@example.com");
    const { page, errors } = await browserAs("viewer@example.com");
    await page.getByTestId("user-menu").click();
    await page.getByTestId("menu-account").click();
    await page.waitForURL("**/account");
    expect(await page.getByTestId("account-role").textContent()).toBe("Viewer");

    // This browser, marked as such, and the other sign-in with its device and address.
    const rows = page.getByTestId("session-row");
    await waitFor(async () => (await rows.count()) >= 3, { what: "the viewer's sessions" });
    const current = page.locator('[data-testid="session-row"][data-current="true"]');
    expect(await current.count()).toBe(1);
    expect(await current.textContent()).toContain("This device");
    expect(await current.getByTestId("session-device").textContent()).toBe("Headless Chrome on Linux");
    const curl = page.locator('[data-testid="session-row"]', { hasText: "curl" }).first();
    expect(await curl.getByTestId("session-ip").textContent()).toBe("127.0.0.1");

    // The whole page in one tall viewport (a full-page capture would smear the fixed sidebar).
    await page.setViewportSize({ width: 1366, height: 1700 });
    await page.screenshot({ path: join(SHOTS, "account.png") });
    await page.setViewportSize({ width: 1366, height: 860 });

    // Signing out one session ends it on the server.
    const before = await rows.count();
    await curl.getByTestId("session-sign-out").click();
    await waitFor(async () => (await rows.count()) === before - 1, { what: "the session to leave the list" });
    expect((await call("GET", "/auth/me", undefined, { cookie: elsewhere })).status).toBe(401);

    // A password change: the wrong current password is refused in place.
    const other = await apiSignIn("viewer@example.com");
    const token = await call<{ token: string }>("POST", "/tokens", { name: "viewer script" }, { cookie: other });
    expect(token.status).toBe(201);
    await page.fill('input[name="current-password"]', "not-my-password");
    await page.fill('input[name="new-password"]', "a-brand-new-password");
    await page.fill('input[name="confirm-password"]', "a-brand-new-password");
    await page.getByTestId("change-password").click();
    await page.getByText("This is not your current password.").waitFor();
    expect(await page.getByTestId("revoke-tokens").isChecked()).toBe(false);
    await page.getByText("A password change keeps your API tokens working unless you revoke them here.").waitFor();

    await page.fill('input[name="current-password"]', PASSWORD);
    await page.getByTestId("change-password").click();
    await page.getByText("Password changed").waitFor();
    // This browser stays signed in; the other session is gone; the API token still works.
    await waitFor(async () => (await rows.count()) === 1, { what: "only this browser to be left" });
    expect((await call("GET", "/auth/me", undefined, { cookie: other })).status).toBe(401);
    expect((await call("GET", "/auth/me", undefined, { token: token.body.token })).status).toBe(200);
    await page.reload();
    await page.getByTestId("account").waitFor();
    expect((await call("POST", "/auth/login", { email: "viewer@example.com", password: PASSWORD }, {})).status).toBe(401);
    expect((await call("POST", "/auth/login", { email: "viewer@example.com", password: "a-brand-new-password" }, {})).status).toBe(200);

    // The wrong password's 400 is the one expected failure.
    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 120_000);
});
