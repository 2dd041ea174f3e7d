/**
 * Two-factor sign-in in a browser against the real panel: enrolment reading the key from the page
 * (as a person typing it into an authenticator app would), the recovery codes shown once, then
 * sign-in refused without a code, with a reused code and with a wrong one, and let in with a
 * fresh code and with a recovery code.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { decodeBase32IgnorePadding } from "@oslojs/encoding";
import { generateHOTP, generateTOTP } from "@oslojs/otp";
import type { Browser, Page } from "playwright-core";
import { browserMissing, launchBrowser, watchConsole } from "../helpers/browser.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Ada Lovelace", email: "ada@example.com", password: "analytical-engine-1843" };
const stepNow = () => Math.floor(Date.now() / 30_000);

describe.skipIf(browserMissing() !== null)("two-factor sign-in in a browser", () => {
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  /** The owner's recovery codes, from the first test. */
  let ownerRecovery: string[] = [];

  beforeAll(async () => {
    panel = await startPanelProcess();
    ({ browser, close: closeBrowser } = await launchBrowser());
    const res = await fetch(`${panel.url}/api/v1/setup`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: panel.url },
      body: JSON.stringify({ ...OWNER, code: panel.setupCode }),
    });
    expect(res.status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await closeBrowser?.();
    await panel?.stop();
  });

  async function passwordStep(page: Page): Promise<void> {
    await page.getByTestId("login-form").waitFor();
    await page.fill('input[name="email"]', OWNER.email);
    await page.fill('input[name="password"]', OWNER.password);
    await page.click('button[type="submit"]');
  }

  async function signOut(page: Page): Promise<void> {
    await page.getByTestId("user-menu").click();
    await page.getByTestId("sign-out").click();
    await page.waitForURL("**/login**");
  }

  /** Submits the form and returns the sign-in answer the page got. */
  async function submit(page: Page): Promise<{ status: number; code: string | null }> {
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/api/v1/auth/login" && r.request().method() === "POST"),
      page.click('button[type="submit"]'),
    ]);
    const body = (await response.json().catch(() => null)) as { error?: { code: string } } | null;
    return { status: response.status(), code: body?.error?.code ?? null };
  }

  async function refusedWith(page: Page, field: "totp" | "recoveryCode", code: string): Promise<void> {
    await page.fill(`input[name="${field}"]`, code);
    expect(await submit(page)).toEqual({ status: 401, code: "invalid_totp" });
    expect(await page.getByTestId("login-error").textContent()).toMatch(/not right, or it was used already/);
    expect(new URL(page.url()).pathname).toBe("/login");
  }

  test("enrol from the page → refused without a code, with a reused and a wrong one → fresh code → recovery code", async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    const errors = watchConsole(page);

    await page.goto(`${panel.url}/login`);
    await passwordStep(page);
    await page.getByTestId("dashboard").waitFor();

    // --- Enrolment: password, then the key (QR code and text), then a first code.
    await page.goto(`${panel.url}/account`);
    await page.getByTestId("two-factor").waitFor();
    expect(await page.getByTestId("two-factor-state").textContent()).toBe("Off");
    await page.fill('input[name="totp-password"]', OWNER.password);
    await page.getByTestId("totp-start").click();
    const secret = ((await page.getByTestId("totp-secret").textContent()) ?? "").trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.getByTestId("totp-qr").locator("svg").waitFor();
    await page.getByTestId("two-factor").scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SHOTS, "account-two-factor.png") });

    const key = decodeBase32IgnorePadding(secret);
    const before = stepNow();
    const first = generateTOTP(key, 30, 6);
    // The step the first code belongs to (the clock may have turned while it was made).
    const firstStep = [before, before + 1].find((s) => generateHOTP(key, BigInt(s), 6) === first) ?? before;
    await page.fill('input[name="code"]', first);
    await page.getByTestId("totp-enable").click();
    await page.getByTestId("recovery-codes").waitFor();
    const recovery = (await page.getByTestId("recovery-code").allTextContents()).map((c) => c.trim());
    expect(recovery).toHaveLength(10);
    expect(new Set(recovery).size).toBe(10);
    ownerRecovery = recovery;
    await page.getByTestId("recovery-codes-saved").click();
    await waitFor(async () => (await page.getByTestId("two-factor-state").textContent()) === "On", { what: "two-factor sign-in on" });
    expect(await page.getByTestId("recovery-codes-left").textContent()).toBe("10");
    await signOut(page);
    await page.reload(); // a clean page for the screenshot, without the toasts

    // --- Without a code: the password is right, so the page asks for the code and does not sign in.
    await page.getByTestId("login-form").waitFor();
    await page.fill('input[name="email"]', OWNER.email);
    await page.fill('input[name="password"]', OWNER.password);
    expect(await submit(page)).toEqual({ status: 401, code: "totp_required" });
    await page.getByTestId("login-code-step").waitFor();
    await page.screenshot({ path: join(SHOTS, "login-code.png") });
    expect(new URL(page.url()).pathname).toBe("/login");
    await page.click('button[type="submit"]');
    await page.getByText("Enter the 6-digit code from your authenticator app.").waitFor();
    expect(new URL(page.url()).pathname).toBe("/login");

    // --- The code already used to turn it on, then a wrong one.
    await refusedWith(page, "totp", first);
    await refusedWith(page, "totp", String((Number(first) + 1) % 1_000_000).padStart(6, "0"));

    // --- A fresh code: the next time step, once the clock lets the panel take it.
    const next = firstStep + 1;
    await waitFor(() => stepNow() + 1 >= next, { what: "the next TOTP step", timeoutMs: 65_000, intervalMs: 200 });
    await page.fill('input[name="totp"]', generateHOTP(key, BigInt(next), 6));
    expect((await submit(page)).status).toBe(200);
    await page.getByTestId("dashboard").waitFor();
    await signOut(page);

    // --- A recovery code instead of the phone.
    await passwordStep(page);
    await page.getByTestId("login-code-step").waitFor();
    await page.getByTestId("switch-code-kind").click();
    await page.fill('input[name="recoveryCode"]', recovery[0] as string);
    expect((await submit(page)).status).toBe(200);
    await page.getByTestId("dashboard").waitFor();
    await page.goto(`${panel.url}/account`);
    await waitFor(
      async () =>
        (await page
          .getByTestId("recovery-codes-left")
          .textContent()
          .catch(() => null)) === "9",
      {
        what: "one recovery code used",
      },
    );
    await signOut(page);

    // …and only once.
    await passwordStep(page);
    await page.getByTestId("login-code-step").waitFor();
    await page.getByTestId("switch-code-kind").click();
    await refusedWith(page, "recoveryCode", recovery[0] as string);

    // The refused attempts answer 401; anything else in the console is a failure.
    expect(errors.filter((e) => !/401|Unauthorized/.test(e))).toEqual([]);
    await context.close();
  }, 180_000);

  test("the owner requires two-factor sign-in: a user without it is sent to the account page, enrols, and goes on", async () => {
    expect(ownerRecovery.length).toBeGreaterThan(2);
    const ownerContext = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const owner = await ownerContext.newPage();
    await owner.goto(`${panel.url}/login`);
    await passwordStep(owner);
    await owner.getByTestId("login-code-step").waitFor();
    await owner.getByTestId("switch-code-kind").click();
    await owner.fill('input[name="recoveryCode"]', ownerRecovery[1] as string);
    expect((await submit(owner)).status).toBe(200);
    await owner.getByTestId("dashboard").waitFor();

    const viewer = { email: "viewer@example.com", password: "viewer-password-1" };
    const created = await ownerContext.request.post(`${panel.url}/api/v1/users`, {
      data: { ...viewer, name: "Vera Viewer", role: "viewer" },
      headers: { origin: panel.url },
    });
    expect(created.status()).toBe(201);

    await owner.goto(`${panel.url}/settings`);
    const toggle = owner.getByTestId("require-two-factor");
    await toggle.waitFor();
    expect(await toggle.getAttribute("aria-checked")).toBe("false");
    await toggle.click();
    await waitFor(async () => (await toggle.getAttribute("aria-checked")) === "true", { what: "the requirement to be on" });
    const saved = await ownerContext.request.get(`${panel.url}/api/v1/settings/security`);
    expect(await saved.json()).toEqual({ requireTwoFactor: true });
    await ownerContext.close();

    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    const errors = watchConsole(page);
    await page.goto(`${panel.url}/login`);
    await page.getByTestId("login-form").waitFor();
    await page.fill('input[name="email"]', viewer.email);
    await page.fill('input[name="password"]', viewer.password);
    expect((await submit(page)).status).toBe(200);
    await page.waitForURL("**/account");
    await page.getByText("Two-factor sign-in is required").waitFor();
    // Elsewhere is out of reach until it is on.
    await page.goto(`${panel.url}/`);
    await page.waitForURL("**/account");

    await page.fill('input[name="totp-password"]', viewer.password);
    await page.getByTestId("totp-start").click();
    const secret = ((await page.getByTestId("totp-secret").textContent()) ?? "").trim();
    await page.fill('input[name="code"]', generateTOTP(decodeBase32IgnorePadding(secret), 30, 6));
    await page.getByTestId("totp-enable").click();
    await page.getByTestId("recovery-codes").waitFor();
    await page.getByTestId("recovery-codes-saved").click();
    await page.getByRole("link", { name: "Dashboard" }).first().click();
    await page.getByTestId("dashboard").waitFor();
    expect(new URL(page.url()).pathname).toBe("/");

    // The 401 of the signed-out visit and the 403s of the requests made before enrolment are expected; nothing else.
    expect(errors.filter((e) => !/401|Unauthorized|403|Forbidden/.test(e))).toEqual([]);
    await context.close();
  }, 180_000);
});
