import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Why the browser tests cannot run here, or null when they can; they are skipped (and counted so) otherwise. */
export function browserMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`;
}

/** Debian's Chromium, headless, with the flags this machine needs (no network beyond loopback). */
export async function launchBrowser(): Promise<{ browser: Browser; close(): Promise<void> }> {
  // playwright gives every launch a fresh temporary profile of its own.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    close: () => browser.close(),
  };
}

/** Console noise that is not a failure: the browser reports every 4xx response it was given. */
export const EXPECTED_CONSOLE = /Failed to load resource: the server responded with a status of 4\d\d/;

/** Collects console errors and page errors so a test can assert there were none. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

/**
 * The panel's API with a bearer token, for a browser test's set-up and checks: answers the parsed
 * JSON, throws with the status and body otherwise. `base` and `token` are read at each call.
 */
export function bearerApi(base: () => string, token: () => string) {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base()}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token()}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
}

/**
 * The first run, in the browser: the setup page creates the owner account and lands on the
 * dashboard. Answers a bearer token for the test's own API calls (see bearerApi).
 */
export async function setUpOwner(
  page: Page,
  context: BrowserContext,
  panel: { url: string; setupCode: string | null },
  owner: { name: string; email: string; password: string },
): Promise<string> {
  await page.goto(panel.url);
  await page.waitForURL("**/setup");
  await page.fill('input[name="code"]', panel.setupCode ?? "");
  await page.fill('input[name="name"]', owner.name);
  await page.fill('input[name="email"]', owner.email);
  await page.fill('input[name="password"]', owner.password);
  await page.fill('input[name="confirm"]', owner.password);
  await page.click('button[type="submit"]');
  await page.getByTestId("dashboard").waitFor();
  const created = await context.request.post(`${panel.url}/api/v1/tokens`, { data: { name: "e2e" }, headers: { origin: panel.url } });
  if (created.status() !== 201) throw new Error(`creating a token answered ${created.status()}: ${await created.text()}`);
  return ((await created.json()) as { token: string }).token;
}
