/**
 * The domain wizard in a browser against the real backend, with challtestsrv as the only DNS
 * server the panel asks: add a DNS provider in Settings → add a domain to an app → the DNS step
 * shows the A record to create and that nothing answers → the record is set in challtestsrv and
 * the wizard's own re-check sees it → upload a certificate from a CA made here (a key that does not
 * match is refused on its field first) → the job installs it → the Domains tab and the
 * Certificates page show it valid, with its issuer and expiry. Saves the screenshots in docs/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { type DnsServer, startDnsServer } from "../helpers/acme.ts";
import { bearerApi, browserMissing, EXPECTED_CONSOLE, launchBrowser, setUpOwner, watchConsole } from "../helpers/browser.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { type PanelProcess, startPanelProcess } from "../helpers/panel-process.ts";
import { freePort } from "../helpers/ports.ts";

const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const OWNER = { name: "Margaret Hamilton", email: "margaret@example.com", password: "a-long-enough-password" };
const SUFFIX = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const APP = `shop-${SUFFIX}`;
const DOMAIN = `shop.e2e-${SUFFIX}.example.com`;
const JOB_TIMEOUT = 120_000;

/** The page's globals, for code that runs in the browser (this file is type-checked without the DOM lib). */
interface PageGlobals {
  document: { getAnimations(): Array<{ playState: string; effect: { getTiming(): { iterations?: number } } | null }> };
  scrollTo(x: number, y: number): void;
}

function openssl(args: string[], cwd: string): void {
  const run = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${run.stderr.toString()}`);
}

/** A private CA and a leaf for `name` signed by it, plus a key that belongs to neither. */
function makeCertificate(dir: string, name: string): { chain: string; key: string; otherKey: string } {
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "90",
      "-subj",
      "/CN=Switchyard Test CA",
    ],
    dir,
  );
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", `/CN=${name}`], dir);
  writeFileSync(
    join(dir, "leaf.ext"),
    `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "leaf.pem",
      "-days",
      "60",
      "-extfile",
      "leaf.ext",
    ],
    dir,
  );
  openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "other.key"], dir);
  const read = (file: string) => readFileSync(join(dir, file), "utf8");
  return { chain: `${read("leaf.pem").trim()}\n${read("ca.pem").trim()}\n`, key: read("leaf.key"), otherKey: read("other.key") };
}

describe.skipIf(browserMissing() !== null)("the domain wizard in a browser", () => {
  let dns: DnsServer;
  let panel: PanelProcess;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let repo: TestRepo;
  let certDir: string;
  let token = "";

  const api = bearerApi(
    () => panel.url,
    () => token,
  );

  async function shot(name: string, fullPage = false): Promise<void> {
    if (fullPage) await page.evaluate(() => (globalThis as unknown as PageGlobals).scrollTo(0, 0));
    await page.waitForFunction(() =>
      (globalThis as unknown as PageGlobals).document
        .getAnimations()
        .every((a) => a.playState !== "running" || a.effect?.getTiming().iterations === Number.POSITIVE_INFINITY),
    );
    await page.screenshot({ path: join(SHOTS, name), fullPage });
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    certDir = mkdtempSync(join(tmpdir(), "sy-e2e-cert-"));
    dns = await startDnsServer();
    panel = await startPanelProcess({
      SWITCHYARD_PROXY_PORT: String(freePort()),
      SWITCHYARD_PROXY_TLS_PORT: String(freePort()),
      SWITCHYARD_DNS_RESOLVER: dns.address,
      // Nothing listens there: the HTTP-01 certificate the panel asks for by itself fails, with certbot's reason.
      SWITCHYARD_ACME_SERVER: `http://127.0.0.1:${freePort()}/directory`,
    });
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: "light" });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: panel.url });
    page = await context.newPage();
    errors = watchConsole(page);
    repo = await createRepo(bunApp("v1"));
  }, 120_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await closeBrowser?.();
    await panel?.stop();
    await dns?.stop();
    repo?.cleanup();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  test("add a domain → DNS fails, then passes → upload a certificate → valid with its expiry", async () => {
    // --- First run: the owner account, and a token for the test's own API calls.
    token = await setUpOwner(page, context, panel, OWNER);

    await api("POST", "/apps", { name: APP, repoUrl: repo.url, deploy: false });
    // This machine's addresses are not what a public name would point at: the test says where "here" is.
    await api("PUT", "/settings/network", { publicAddresses: ["127.0.0.1"] });

    // --- Settings: the network card shows the address set; a hook DNS provider is added.
    await page.goto(`${panel.url}/settings`);
    await page.getByTestId("addresses-effective").getByText("127.0.0.1").waitFor();
    await page.getByTestId("new-dns-provider").click();
    await page.fill('input[name="name"]', "challtestsrv");
    await page.getByTestId("dns-kind-hook").check();
    await page.getByTestId("create-dns-provider").click();
    // The command that sets the record is required.
    await page.getByText("The command that sets the TXT record.").waitFor();
    await page
      .getByTestId("dns-authCommand")
      .fill(
        `curl -s -X POST -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\",\\"value\\":\\"$CERTBOT_VALIDATION\\"}" ${dns.managementUrl}/set-txt`,
      );
    await page
      .getByTestId("dns-cleanupCommand")
      .fill(`curl -s -X POST -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\"}" ${dns.managementUrl}/clear-txt`);
    await page.fill('input[name="propagationSeconds"]', "0");
    await page.getByTestId("create-dns-provider").click();
    const provider = page.locator('[data-testid="dns-provider"][data-name="challtestsrv"]');
    await provider.waitFor();
    await provider.getByText("Hook commands").waitFor();
    // Only the commands' shape is shown, never the commands (they may hold a token).
    expect(await page.getByTestId("dns-providers").textContent()).not.toContain(dns.managementUrl);
    await page.getByTestId("dns-providers").scrollIntoViewIfNeeded();
    await shot("settings-dns-providers.png");

    // --- The app's Domains tab: empty, then the wizard.
    await page.goto(`${panel.url}/apps/${APP}?tab=domains`);
    await page.getByTestId("domains-empty").waitFor();
    await page.getByTestId("new-domain").click();
    const wizard = page.getByTestId("domain-wizard");
    // A wildcard is refused with what to do instead.
    await page.getByTestId("domain-input").fill(`*.e2e-${SUFFIX}.example.com`);
    await page.getByTestId("add-domain").click();
    await page.getByTestId("domain-error").getByText("wildcard certificate").waitFor();
    await page.getByTestId("domain-input").fill(DOMAIN);
    await page.getByTestId("add-domain").click();

    // --- DNS step: nothing answers for the name; the record to create points at 127.0.0.1.
    await page.locator('[data-testid="domain-wizard"][data-step="dns"]').waitFor();
    const dnsStep = page.getByTestId("wizard-dns");
    await page.locator('[data-testid="wizard-dns"][data-ok="false"]').waitFor();
    const expected = page.getByTestId("dns-expected").locator('[data-testid="dns-record"][data-type="A"]');
    await expected.getByText(DOMAIN).waitFor();
    await expected.getByTestId("dns-record-value").getByText("127.0.0.1", { exact: true }).waitFor();
    await dnsStep.getByTestId("dns-found-none").waitFor();
    await page.getByTestId("dns-checked").getByText("Checked").waitFor();
    // The value copies as is.
    await expected.getByRole("button", { name: "Copy the value 127.0.0.1" }).click();
    expect(
      await page.evaluate(() =>
        (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText(),
      ),
    ).toBe("127.0.0.1");
    await shot("domains-wizard-dns.png");

    // --- The record is created; the wizard's automatic re-check sees it, without a click.
    await dns.setA(DOMAIN, ["127.0.0.1"]);
    await page.locator('[data-testid="wizard-dns"][data-ok="true"]').waitFor({ timeout: 60_000 });
    await dnsStep.getByText(`${DOMAIN} points here`).waitFor();
    await page.getByTestId("dns-found").getByText("127.0.0.1", { exact: true }).waitFor();
    // "Check again" asks once more, and it still passes.
    await page.getByTestId("check-dns").click();
    await page.locator('[data-testid="wizard-dns"][data-ok="true"]').waitFor();

    // --- Pointing here, the name gets an HTTP-01 certificate by itself; the CA cannot be reached,
    // so it fails, and the HTTPS step says why in certbot's words.
    const row = page.locator(`[data-testid="domain"][data-name="${DOMAIN}"]`);
    await row.locator('[data-testid="certificate-status"][data-status="failed"]').waitFor({ timeout: JOB_TIMEOUT });
    await page.getByTestId("to-https").click();
    await page.getByTestId("wizard-https").waitFor();
    await page.getByTestId("certificate-error").getByText("certbot").waitFor();

    // --- Upload a certificate instead. A key that does not match is refused on its field.
    const cert = makeCertificate(certDir, DOMAIN);
    await page.getByTestId("issue-mode-custom").check();
    await page.getByTestId("issue-cert").fill(cert.chain);
    await page.getByTestId("issue-key").fill(cert.otherKey);
    await page.getByTestId("issue-certificate").click();
    await page.getByTestId("issue-error-key").getByText("does not match").waitFor();
    await page.getByTestId("issue-key").fill(cert.key);
    await shot("domains-wizard-https.png");
    await page.getByTestId("issue-certificate").click();

    // --- The job installs it; the wizard ends on the certificate's status and expiry.
    // The job shows its steps while it runs (an upload may be over before they are drawn); once it
    // has succeeded the wizard moves on to its last step, and a failure stays on the job.
    const failed = wizard.locator('[data-testid="db-job-status"]', { hasText: "Failed" });
    await wizard.getByTestId("wizard-done").or(failed).waitFor({ timeout: JOB_TIMEOUT });
    expect(await failed.count()).toBe(0);
    const { certificates } = await api<{ certificates: { names: string[]; status: string }[] }>("GET", "/certificates");
    expect(certificates.find((c) => c.names.includes(DOMAIN))?.status).toBe("valid");
    await page.getByTestId("wizard-done").getByTestId("certificate-status").getByText("Valid").waitFor();
    await page.getByTestId("wizard-done").getByText("Switchyard Test CA").waitFor();
    await page
      .getByTestId("certificate-days")
      .getByText(/^(59|60) days left$/)
      .waitFor();
    await page.getByTestId("wizard-finish").click();

    // --- The Domains tab: DNS and certificate status, issuer, expiry, the https settings.
    await row.getByTestId("dns-status").getByText("DNS points here").waitFor();
    await row.getByTestId("certificate-status").getByText("Valid").waitFor();
    await row.getByTestId("domain-issuer").getByText("Switchyard Test CA").waitFor();
    const shownExpiry = (await row.getByTestId("domain-expiry").textContent())?.trim() ?? "";
    expect(shownExpiry.length).toBeGreaterThan(0);
    await row
      .getByTestId("domain-days")
      .getByText(/days left/)
      .waitFor();
    expect(await row.getByTestId("domain-redirect").getAttribute("data-state")).toBe("checked");
    expect(await row.getByTestId("domain-hsts").getAttribute("data-state")).toBe("unchecked");
    await row.getByText("Browsers remember to use only https").waitFor();
    await shot("domains-list.png");
    // HSTS on: saved, and still on after a reload.
    await row.getByTestId("domain-hsts").click();
    await page.locator(`[data-testid="domain"][data-name="${DOMAIN}"] [data-testid="domain-hsts"][data-state="checked"]`).waitFor();
    const saved = await api<unknown>("GET", `/apps/${APP}/domains`);
    const list = (Array.isArray(saved) ? saved : (saved as { domains: unknown[] }).domains) as { name: string; hsts: boolean }[];
    expect(list.find((d) => d.name === DOMAIN)?.hsts).toBe(true);
    await page.reload();
    await page.locator(`[data-testid="domain"][data-name="${DOMAIN}"] [data-testid="domain-hsts"][data-state="checked"]`).waitFor();

    // --- The Certificates page lists it with its expiry and the domain it serves.
    await page.getByRole("link", { name: "Certificates" }).first().click();
    await page.getByTestId("certificates").waitFor();
    const certRow = page.locator('[data-testid="certificate-row"]', { hasText: DOMAIN });
    await certRow.getByTestId("certificate-status").getByText("Valid").waitFor();
    await certRow.getByTestId("certificate-issuer").getByText("Switchyard Test CA").waitFor();
    await certRow
      .getByTestId("certificate-days")
      .getByText(/days left/)
      .waitFor();
    await certRow.getByTestId("certificate-domain").getByText(APP).waitFor();
    expect(((await certRow.getByTestId("certificate-expiry").textContent()) ?? "").trim()).toBe(shownExpiry);
    // An uploaded certificate is renewed by uploading another, not by a button.
    expect(await certRow.getByTestId("renew-certificate").count()).toBe(0);
    await shot("certificates.png");

    // --- Where the app is reached (what "Open app" links to): its domain, on https now.
    const { app } = await api<{ app: { url: string } }>("GET", `/apps/${APP}`);
    expect(app.url).toStartWith(`https://${DOMAIN}`);

    // --- Remove the domain, after a confirmation.
    await page.goto(`${panel.url}/apps/${APP}?tab=domains`);
    await page.locator(`[data-testid="domain"][data-name="${DOMAIN}"]`).getByTestId("remove-domain").click();
    await page.getByTestId("confirm-remove-domain").click();
    await page.getByTestId("domains-empty").waitFor();

    expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
  }, 600_000);
});
