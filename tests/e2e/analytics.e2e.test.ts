/**
 * Request metrics in a browser: an app deployed behind the panel's real nginx gets traffic (some of
 * it answering 500), a second release is deployed (a marker on the time axis), and once the metrics
 * API shows the figures the Analytics tab draws them: charts, the markers (listed as text too) and
 * a per-release table that says what the API says. The dashboard's sparkline and server panel and
 * the server page are opened as well. Screenshots go to docs/screenshots/; the console stays clean.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { formatMs, formatShare, formatWhole } from "../../app/src/lib/units.ts";
import type { AppMetrics, DashboardMetrics, SystemMetrics } from "../../backend/contract/api.ts";
import { bearerApi, browserMissing, EXPECTED_CONSOLE, launchBrowser, setUpOwner, watchConsole } from "../helpers/browser.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Grace Hopper", email: "grace@example.com", password: "a-long-enough-password" };
const APP = "shop";
const DEPLOY_TIMEOUT = 180_000;
const HOUR = 3_600_000;

/** A small app: `/fail` answers 500 at once, anything else its version after a few milliseconds of work. */
function app(version: string): Record<string, string> {
  return {
    "package.json": JSON.stringify({ name: APP, private: true, scripts: { start: "bun server.ts" } }, null, 2),
    "server.ts": `const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch(req) {
    if (new URL(req.url).pathname === "/fail") return new Response("failed", { status: 500 });
    await Bun.sleep(2 + Math.random() * ${version === "v1" ? 20 : 35});
    return new Response(${JSON.stringify(version)});
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`,
  };
}

/**
 * Steady traffic through nginx by the app's host name until stopped: about 20 requests a second,
 * one in twelve to `/fail`. Counts what the client got back.
 */
function startTraffic(proxyPort: number): { stop(): Promise<{ sent: number; failed: number; other: number }> } {
  let running = true;
  const tally = { sent: 0, failed: 0, other: 0 };
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const path = i % 12 === 11 ? "/fail" : `/item/${i}`;
      const res = await fetch(`http://127.0.0.1:${proxyPort}${path}`, { headers: { host: `${APP}.localhost` } });
      await res.arrayBuffer();
      tally.sent += 1;
      if (res.status === 500) tally.failed += 1;
      else if (res.status !== 200) tally.other += 1;
      await Bun.sleep(50); // the pace of the load, not a wait for anything
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return tally;
    },
  };
}

/** Distinct minutes in which a release of the series got requests. */
function minutesWithTraffic(m: AppMetrics): number {
  return m.series.filter((p) => p.requests > 0).length;
}

/** The page's globals, for code that runs in the browser (this file is type-checked without the DOM lib). */
interface PageGlobals {
  document: {
    documentElement: { scrollWidth: number; classList: { contains(name: string): boolean } };
    getAnimations(): Array<{ playState: string; effect: { getTiming(): { iterations?: number } } | null }>;
  };
  innerWidth: number;
  scrollTo(x: number, y: number): void;
}

describe.skipIf(browserMissing() !== null)("request metrics in a browser", () => {
  let panel: PanelProcess;
  let proxyPort: number;
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

  async function waitForJob(id: string): Promise<void> {
    const status = await waitFor(
      async () => {
        const { job } = await api<{ job: { status: string } }>("GET", `/jobs/${id}`);
        return ["succeeded", "failed", "cancelled"].includes(job.status) ? job.status : null;
      },
      { what: `job ${id} to finish`, timeoutMs: DEPLOY_TIMEOUT, intervalMs: 250 },
    );
    expect(status).toBe("succeeded");
  }

  async function shot(name: string, target: Page = page, fullPage = false): Promise<void> {
    await target.waitForFunction(() =>
      (globalThis as unknown as PageGlobals).document
        .getAnimations()
        .every((a) => a.playState !== "running" || a.effect?.getTiming().iterations === Number.POSITIVE_INFINITY),
    );
    await target.screenshot({ path: join(SHOTS, name), fullPage });
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    proxyPort = freePort();
    panel = await startPanelProcess({ SWITCHYARD_PROXY_PORT: String(proxyPort) });
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 860 }, colorScheme: "light", locale: "en-US" });
    page = await context.newPage();
    errors = watchConsole(page);
    repo = await createRepo(app("v1"));
  }, 120_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    repo?.cleanup();
  });

  test("traffic and a deploy show on the Analytics tab, the dashboard and the server page", async () => {
    // --- The owner signs up in the browser; a token for the test's own calls.
    token = await setUpOwner(page, context, panel, OWNER);

    // --- v1 live, with no watch (the 500s below must not roll the next deploy back).
    const first = await api<{ app: unknown; job: { id: string } }>("POST", "/apps", {
      name: APP,
      repoUrl: repo.url,
      watchSeconds: 0,
      drainSeconds: 1,
      deploy: true,
    });
    await waitForJob(first.job.id);
    const recent = () => {
      const now = Date.now();
      return api<AppMetrics>("GET", `/apps/${APP}/metrics?from=${now - HOUR}&to=${now}&step=1m`);
    };

    // --- Traffic over a few minutes; v2 is deployed in the middle of it (a marker on the time axis).
    const load = startTraffic(proxyPort);
    await waitFor(async () => minutesWithTraffic(await recent()) >= 2, {
      what: "v1's traffic in two minutes",
      timeoutMs: 180_000,
      intervalMs: 1000,
    });
    await repo.commit(app("v2"), "v2");
    const second = await api<{ job: { id: string } }>("POST", `/apps/${APP}/deploy`, {});
    await waitForJob(second.job.id);
    const switched = await waitFor(
      async () => {
        const marker = (await recent()).markers.find((k) => k.kind === "deploy" && k.releaseNumber === 2);
        return marker ? Date.parse(marker.at) : null;
      },
      { what: "the second deploy's marker" },
    );
    await waitFor(async () => (await recent()).series.filter((p) => p.requests > 0 && Date.parse(p.t) > switched).length >= 2, {
      what: "v2's traffic in two minutes",
      timeoutMs: 180_000,
      intervalMs: 1000,
    });
    const sent = await load.stop();
    expect(sent.other).toBe(0); // the switch dropped nothing

    // --- The API has ingested it all: every request, both releases, the deploy markers.
    const metrics = await waitFor(
      async () => {
        const m = await recent();
        return m.totals.requests === sent.sent && m.perRelease.length === 2 ? m : null;
      },
      { what: "the metrics API to count every request", timeoutMs: 90_000, intervalMs: 500 },
    );
    expect(metrics.series.reduce((n, p) => n + p.status["5xx"], 0)).toBe(sent.failed);
    const total = sent.sent;

    // --- The Analytics tab: charts drawn, no empty state, markers on the axis and in the list.
    await page.goto(`${panel.url}/apps/${APP}?tab=analytics`);
    await page.getByTestId("analytics").waitFor();
    await page.getByTestId("range-1h").click();
    await page.locator('[data-testid="range-1h"][aria-pressed="true"]').waitFor();
    await page.getByTestId("analytics-charts").waitFor();
    expect(await page.getByTestId("analytics-empty").count()).toBe(0);
    await waitFor(async () => (await page.locator('[data-testid="chart-canvas"]').count()) >= 3, { what: "the charts" });
    const canvasDrawn = await page.locator('[data-testid="chart-requests"] canvas').evaluate((c) => {
      const canvas = c as unknown as { width: number; height: number };
      return canvas.width > 0 && canvas.height > 0;
    });
    expect(canvasDrawn).toBe(true);
    await waitFor(async () => (await page.getByTestId("marker-item").count()) === metrics.markers.length, {
      what: "every marker listed under the charts",
    });
    expect(await page.locator('[data-testid="marker-item"][data-kind="deploy"]').count()).toBe(
      metrics.markers.filter((m) => m.kind === "deploy").length,
    );
    expect(await page.getByTestId("total-requests").textContent()).toBe(formatWhole(total));

    // The per-release table says what the API says.
    for (const release of metrics.perRelease) {
      const row = page.locator(`[data-testid="release-row"][data-release="${release.number}"]`);
      await row.waitFor();
      expect(await row.getByTestId("release-requests").textContent()).toBe(formatWhole(release.requests));
      expect(await row.getByTestId("release-error-rate").textContent()).toBe(formatShare(release.errorRate));
      expect(await row.getByTestId("release-p95").textContent()).toBe(formatMs(release.p95));
    }
    const v2 = metrics.perRelease.find((r) => r.number === 2);
    expect(v2?.requests).toBeGreaterThan(0);
    expect(v2?.switches.length).toBeGreaterThanOrEqual(1);
    expect(await page.locator('[data-testid="release-row"][data-release="2"] [data-testid="release-switch"]').count()).toBe(
      v2?.switches.length ?? -1,
    );
    await page.evaluate(() => (globalThis as unknown as PageGlobals).scrollTo(0, 0));
    await shot("analytics-light.png", page, true);

    // --- Dark, and a phone: the same tab.
    const dark = await browser.newContext({
      viewport: { width: 1366, height: 860 },
      colorScheme: "dark",
      locale: "en-US",
      storageState: await context.storageState(),
    });
    const darkPage = await dark.newPage();
    const darkErrors = watchConsole(darkPage);
    await darkPage.goto(`${panel.url}/apps/${APP}?tab=analytics`);
    await darkPage.getByTestId("range-1h").click();
    await darkPage.getByTestId("analytics-charts").waitFor();
    expect(await darkPage.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.classList.contains("dark"))).toBe(
      true,
    );
    await waitFor(async () => (await darkPage.getByTestId("marker-item").count()) === metrics.markers.length, {
      what: "the markers (dark)",
    });
    await shot("analytics-dark.png", darkPage, true);

    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      locale: "en-US",
      storageState: await context.storageState(),
    });
    const phonePage = await phone.newPage();
    const phoneErrors = watchConsole(phonePage);
    await phonePage.goto(`${panel.url}/apps/${APP}?tab=analytics`);
    await phonePage.getByTestId("range-1h").click();
    await phonePage.getByTestId("analytics-charts").waitFor();
    await waitFor(async () => (await phonePage.getByTestId("marker-item").count()) === metrics.markers.length, {
      what: "the markers (phone)",
    });
    const overflow = await phonePage.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      return g.document.documentElement.scrollWidth - g.innerWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await shot("analytics-phone.png", phonePage);

    // --- The dashboard: the card's sparkline and figures, and the server panel.
    const overview = await waitFor(
      async () => {
        const d = await api<DashboardMetrics>("GET", "/metrics/apps");
        const mine = d.apps.find((a) => a.app === APP);
        return mine && mine.requests.reduce((a, b) => a + b, 0) === total && d.system ? d : null;
      },
      // Generous: ingestion and sampling run on their own schedule, slower on a loaded machine.
      { what: "the dashboard figures and a server sample", timeoutMs: 180_000, intervalMs: 500 },
    );
    expect(overview.apps.find((a) => a.app === APP)?.requests).toHaveLength(24);
    await page.goto(panel.url);
    await page.locator(`[data-testid="app-card"][data-app="${APP}"]`).waitFor();
    await page
      .locator(`[data-testid="app-card"][data-app="${APP}"] [data-testid="app-card-requests"]`, { hasText: formatWhole(total) })
      .waitFor();
    await page.locator('[data-testid="server-cpu"] [data-testid="meter-value"]').waitFor();
    await shot("dashboard-metrics.png");

    // --- The server page: system charts once a minute of samples is stored, disk use, diagnostics.
    await waitFor(
      async () => {
        const now = Date.now();
        const s = await api<SystemMetrics>("GET", `/system/metrics?from=${now - HOUR}&to=${now}&step=1m`);
        return s.series.filter((p) => p.cpu !== null).length >= 3 ? s : null;
      },
      { what: "three stored minutes of server samples", timeoutMs: 150_000, intervalMs: 1000 },
    );
    await page.getByRole("link", { name: "Server", exact: true }).first().click();
    await page.getByTestId("server-page").waitFor();
    await page.getByTestId("range-1h").click();
    await page.getByTestId("system-charts").waitFor();
    await page.locator(`[data-testid="disk-row"][data-app="${APP}"]`).waitFor();
    await page.getByTestId("disk-database").waitFor();
    await page.getByTestId("diagnostic").first().waitFor();
    await shot("server.png", page, true);

    await dark.close();
    await phone.close();
    expect([...errors, ...darkErrors, ...phoneErrors].filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 900_000);
});
