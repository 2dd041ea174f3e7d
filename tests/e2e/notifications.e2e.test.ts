/**
 * Notifications and alerts in a browser against the real panel: Settings → Notifications adds a
 * signed webhook (its generated secret shown once) and a Slack channel routed to alerts only, both
 * pointed at local receivers; "Send test" succeeds on the first (the receiver checks the signature)
 * and says why it failed on the second, which then shows as failing with its last error. On the
 * Alerts page a server rule is added that fires (disk use above 0% over a minute); once the
 * evaluator's pass opens the alert, the top bar's badge counts it, the page shows it, and it is
 * acknowledged. The deliveries log shows the alert's messages with their attempts, and the
 * activity feed filters by app, kind and user. Screenshots go to docs/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Alert, AlertRule, NotificationMessage } from "../../backend/contract/api.ts";
import { bearerApi, browserMissing, EXPECTED_CONSOLE, launchBrowser, setUpOwner, watchConsole } from "../helpers/browser.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Grace Hopper", email: "grace@example.com", password: "a-long-enough-password" };
const SUFFIX = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const APP = `shop-${SUFFIX}`;
const RULE = "Disk in use";

/** The page's globals, for code that runs in the browser (this file is type-checked without the DOM lib). */
interface PageGlobals {
  document: { getAnimations(): Array<{ playState: string; effect: { getTiming(): { iterations?: number } } | null }> };
  scrollTo(x: number, y: number): void;
}

interface Received {
  headers: Headers;
  body: string;
}

/** A local HTTP receiver answering `status`, keeping every request it got. */
function receiver(status: number, answer: string): { url: string; got: Received[]; stop(): void } {
  const got: Received[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      got.push({ headers: req.headers, body: await req.text() });
      return new Response(answer, { status, headers: { "content-type": "text/plain" } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/hooks/switchyard`, got, stop: () => void server.stop(true) };
}

describe.skipIf(browserMissing() !== null)("notifications and alerts in a browser", () => {
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let token = "";
  let repo: TestRepo;
  const hook = receiver(200, "ok");
  // Slack answers a webhook it does not know with 404 "no_service".
  const slack = receiver(404, "no_service");

  const api = bearerApi(
    () => panel.url,
    () => token,
  );

  async function shot(name: string, fullPage = false): Promise<void> {
    // The toasts of what was just done would cover the page.
    for (const dismiss of await page.getByRole("button", { name: "Dismiss notification" }).all()) await dismiss.click().catch(() => {});
    await page.getByTestId("toast").first().waitFor({ state: "detached" });
    if (fullPage) await page.evaluate(() => (globalThis as unknown as PageGlobals).scrollTo(0, 0));
    await page.waitForFunction(() =>
      (globalThis as unknown as PageGlobals).document
        .getAnimations()
        .every((a) => a.playState !== "running" || a.effect?.getTiming().iterations === Number.POSITIVE_INFINITY),
    );
    await page.screenshot({ path: join(SHOTS, name), fullPage });
  }

  /** A signed webhook request, checked as a receiver would: the HMAC of "<timestamp>.<body>" with the secret. */
  function verified(r: Received, secret: string): NotificationMessage | null {
    const timestamp = r.headers.get("x-switchyard-timestamp") ?? "";
    const expected = `sha256=${createHmac("sha256", secret).update(`${timestamp}.${r.body}`).digest("hex")}`;
    if (r.headers.get("x-switchyard-signature") !== expected) return null;
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return null;
    return JSON.parse(r.body) as NotificationMessage;
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    panel = await startPanelProcess({ SWITCHYARD_SAMPLE_MS: "2000" });
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: "light" });
    page = await context.newPage();
    errors = watchConsole(page);
    repo = await createRepo({ "index.html": "<h1>test</h1>" });
  }, 120_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    hook.stop();
    repo?.cleanup();
    slack.stop();
  });

  test("configure channels, send tests, see an alert fire and acknowledge it, follow the deliveries and the activity", async () => {
    // --- First run: the owner account, and a token for the test's own API calls.
    token = await setUpOwner(page, context, panel, OWNER);
    await api("POST", "/apps", { name: APP, repoUrl: repo.url, deploy: false });
    // Only the rule this test adds may fire: the built-in ones watch real figures of this machine.
    for (const rule of await api<AlertRule[]>("GET", "/alerts/rules")) {
      await api("PATCH", `/alerts/rules/${rule.id}`, { enabled: false });
    }

    // --- Settings → Notifications: no channels yet.
    await page.goto(`${panel.url}/settings`);
    await page.getByTestId("manage-notifications").click();
    await page.waitForURL("**/settings/notifications");
    await page.getByTestId("channels-empty").waitFor();

    // A signed webhook: the URL is required, the signing secret is generated and shown once.
    await page.getByTestId("new-channel").click();
    const form = page.getByTestId("channel-form");
    await form.locator('input[name="name"]').fill("Ops webhook");
    await page.getByTestId("channel-kind-webhook").check();
    await page.getByTestId("save-channel").click();
    await form.getByText("The URL to POST to (http or https).").waitFor();
    await form.locator('input[name="url"]').fill(hook.url);
    await page.getByTestId("save-channel").click();
    const secret = ((await page.getByTestId("channel-secret-value").textContent()) ?? "").trim();
    expect(secret.length).toBeGreaterThanOrEqual(16);
    await page.getByRole("button", { name: "Done" }).click();
    const webhook = page.locator('[data-testid="channel"][data-name="Ops webhook"]');
    await webhook.waitFor();

    // Slack, routed to alerts only.
    await page.getByTestId("new-channel").click();
    await form.locator('input[name="name"]').fill("Team Slack");
    await page.getByTestId("channel-kind-slack").check();
    await form.locator('input[name="webhookUrl"]').fill(slack.url);
    await page.getByTestId("channel-all-events").uncheck();
    await page.getByTestId("channel-event-alert.firing").check();
    await page.getByTestId("channel-event-alert.resolved").check();
    await page.getByTestId("save-channel").click();
    const slackRow = page.locator('[data-testid="channel"][data-name="Team Slack"]');
    await slackRow.waitFor();
    await slackRow.getByText("Alert firing, Alert resolved").waitFor();
    // Neither URL is shown again: they are secrets.
    const listed = (await page.getByTestId("notification-channels").textContent()) ?? "";
    expect(listed).not.toContain(hook.url);
    expect(listed).not.toContain(slack.url);

    // --- Send test: delivered and signed on the webhook…
    await webhook.getByTestId("test-channel").click();
    await webhook.locator('[data-testid="channel-test-result"][data-ok="true"]').waitFor();
    await webhook.getByText("Test message delivered (200)").waitFor();
    const test = verified(hook.got.at(-1) as Received, secret);
    expect(test?.event).toBe("test");
    await page.locator('[data-testid="channel"][data-name="Ops webhook"][data-health="ok"]').waitFor();

    // …refused by "Slack", with why, and the channel shown failing with its last error.
    await slackRow.getByTestId("test-channel").click();
    const failed = slackRow.locator('[data-testid="channel-test-result"][data-ok="false"]');
    await failed.waitFor();
    expect(await failed.textContent()).toContain("404");
    expect(slack.got.length).toBe(1);
    await page.locator('[data-testid="channel"][data-name="Team Slack"][data-health="failing"]').waitFor();
    expect(await slackRow.getByTestId("channel-error").textContent()).toContain("404");
    await page.getByTestId("channels-failing").waitFor();
    await page.getByTestId("notification-channels").scrollIntoViewIfNeeded();
    await shot("notifications-channels.png");

    // --- Alerts: the page, through the sidebar; a server rule that fires.
    await page.getByRole("link", { name: "Alerts", exact: true }).click();
    await page.waitForURL("**/alerts");
    await page.getByTestId("alerts-none").waitFor();
    await page.getByTestId("new-rule").click();
    const ruleForm = page.getByTestId("rule-form");
    await ruleForm.locator('input[name="name"]').fill(RULE);
    await page.getByTestId("rule-metric").selectOption("disk_percent");
    await ruleForm.locator('input[name="threshold"]').fill("0");
    await ruleForm.locator('input[name="windowSeconds"]').fill("1");
    await page.getByTestId("rule-preview").getByText("Disk above 0% for 1 min").waitFor();
    await page.getByTestId("save-rule").click();
    const ruleRow = page.locator(`[data-testid="rule"][data-name="${RULE}"]`);
    await ruleRow.waitFor();
    expect(await ruleRow.textContent()).toContain("The server");

    // The evaluator's pass opens it once a minute of server figures is stored; the page and the badge follow the event.
    const firing = await waitFor(
      async () => (await api<Alert[]>("GET", "/alerts?state=firing")).find((a) => a.rule.name === RULE && a.state === "firing"),
      { what: `the rule “${RULE}” to fire`, timeoutMs: 180_000, intervalMs: 1000 },
    );
    expect(firing.value).toBeGreaterThan(0);
    const alertRow = page.locator(`[data-testid="alert"][data-rule="${RULE}"]`);
    await alertRow.waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="alert-badge"][data-count="1"]').waitFor();
    expect(await page.getByTestId("alert-badge-count").textContent()).toBe("1");
    await shot("alerts.png", true);

    // Acknowledged: it stays listed as acknowledged by the owner; the badge no longer counts it.
    await alertRow.getByTestId("ack-alert").click();
    await page.locator(`[data-testid="alert"][data-rule="${RULE}"][data-acked="true"]`).waitFor();
    await alertRow
      .getByText(`Acknowledged by ${OWNER.email}`)
      .or(alertRow.getByText(`Acknowledged by ${OWNER.name}`))
      .waitFor();
    await page.locator('[data-testid="alert-badge"][data-count="0"]').waitFor();
    const acked = (await api<Alert[]>("GET", "/alerts?state=firing")).find((a) => a.id === firing.id);
    expect(acked?.acked).not.toBeNull();

    // --- The alert's messages: signed on the webhook; Slack refused and its delivery retried.
    const told = await waitFor(() => hook.got.map((r) => verified(r, secret)).find((m) => m?.event === "alert.firing"), {
      what: "the alert on the webhook",
      timeoutMs: 60_000,
    });
    expect(told.title).toContain(RULE);
    await waitFor(() => slack.got.length >= 2, { what: "the alert's message to Slack", timeoutMs: 60_000 });

    await page.goto(`${panel.url}/settings/notifications`);
    const deliveries = page.getByTestId("notification-deliveries");
    const sent = deliveries.locator('[data-testid="delivery"][data-event="alert.firing"][data-status="sent"]');
    await sent.waitFor({ timeout: 30_000 });
    await sent.getByRole("button").click();
    await sent.locator('[data-testid="delivery-attempt"][data-ok="true"]').waitFor();
    const retried = deliveries.locator('[data-testid="delivery"][data-event="alert.firing"]').filter({ hasText: "Team Slack" });
    await retried.waitFor();
    expect(await retried.getAttribute("data-status")).not.toBe("sent");
    await retried.getByRole("button").click();
    await retried.locator('[data-testid="delivery-attempt"][data-ok="false"]').first().waitFor();
    expect(await retried.getByTestId("delivery-attempts").textContent()).toContain("404");
    // Filtered to one channel.
    await page.getByTestId("deliveries-channel").selectOption({ label: "Team Slack" });
    await deliveries.locator('[data-testid="delivery"]').filter({ hasText: "Ops webhook" }).waitFor({ state: "detached" });
    await page.getByTestId("deliveries-channel").selectOption({ label: "All channels" });
    // Still opened: what was expanded stays so across filters.
    await sent.locator('[data-testid="delivery-attempt"][data-ok="true"]').waitFor();
    await deliveries.scrollIntoViewIfNeeded();
    await shot("notifications-deliveries.png");

    // --- The activity feed: by kind, by app, by user.
    await page.getByRole("link", { name: "Activity", exact: true }).click();
    await page.waitForURL("**/activity");
    await page.locator('[data-testid="activity-entry"][data-action="alert.acked"]').waitFor();
    await page.getByTestId("activity-kind").selectOption("alert");
    await page.waitForURL(/action=alert/);
    await page.locator('[data-testid="activity-entry"][data-action="alert.acked"]').waitFor();
    await waitFor(
      async () => {
        const actions = await page
          .locator('[data-testid="activity-entry"]')
          .evaluateAll((els) => els.map((e) => e.getAttribute("data-action")));
        return actions.length > 0 && actions.every((a) => a?.startsWith("alert."));
      },
      { what: "only alert entries" },
    );
    await page.getByTestId("activity-kind").selectOption("");
    await page.getByTestId("activity-app").selectOption(APP);
    await page.waitForURL(new RegExp(`app=${APP}`));
    await page.locator('[data-testid="activity-entry"][data-action="app.created"]').waitFor();
    await page.locator('[data-testid="activity-entry"][data-action="alert.acked"]').waitFor({ state: "detached" });
    await page.getByTestId("activity-app").selectOption("");
    const owner = await api<{ user: { id: string } }>("GET", "/auth/me");
    await page.getByTestId("activity-user").selectOption(owner.user.id);
    await page.waitForURL(/user=/);
    await page.locator('[data-testid="activity-entry"][data-action="notification_channel.created"]').first().waitFor();
    await page.locator('[data-testid="activity-entry"][data-action="alert.acked"]').waitFor();
    await shot("activity.png");

    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 600_000);
});
