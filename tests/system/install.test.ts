/**
 * install.sh on a fresh Debian 12 with real systemd (systemd-nspawn), from a copy of this
 * checkout: the panel answers through nginx as user `switchyard` with no root power but the
 * helper, a second run changes nothing, and an app deployed through the API runs as its own
 * units and switches blue-green. Prints the install time and the panel's memory.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeSections } from "../bench/file.ts";
import { EXPECTED_CONSOLE, launchBrowser, watchConsole } from "../helpers/browser.ts";
import { bunApp } from "../helpers/git-repo.ts";
import { baseRoot, bootContainer, type Container, copyCheckout, missingPrerequisite } from "./container.ts";

const CHECKOUT = join(import.meta.dir, "..", "..");
/** Readable by the panel's user: its self-update fetches new versions from here. */
const SRC = "/srv/switchyard-src";
const INSTALL = [`${SRC}/install.sh`, "--source", SRC, "--non-interactive"];
/** The host's CA bundle (the container's copy includes it) for npm, which keeps its own list. */
const INSTALL_ENV = { NODE_EXTRA_CA_CERTS: "/etc/ssl/certs/ca-certificates.crt" };
const MINUTE = 60_000;
const SHOTS = join(import.meta.dir, "..", "..", "docs", "screenshots");
const figures: Record<string, string> = {};
const skip = missingPrerequisite();
if (skip) console.log(`system tests SKIPPED: ${skip}`);

describe.skipIf(skip !== null)("install.sh on a fresh Debian 12 with systemd", () => {
  let box: Container;
  let origin: string;
  let cookie = "";
  /** The revision install.sh put in place, kept on disk after the updates. */
  let firstRevision = "";
  /** The one-time setup code from install.sh's summary. */
  let setupCode = "";
  const SETUP_CODE = /enter the setup code ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})/;
  const started = performance.now();

  beforeAll(async () => {
    box = await bootContainer(await baseRoot());
    origin = `http://${box.ip}`;
    await copyCheckout(CHECKOUT, box, SRC);
  }, 20 * MINUTE);

  afterAll(async () => {
    await box?.stop();
    console.log(`system: ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
    for (const [k, v] of Object.entries(figures)) console.log(`system: ${k}: ${v}`);
    if (Object.keys(figures).length > 0) {
      writeSections(
        `## Server install and self-update (tests/system)

Measured by the system test (\`bun tests/run.ts system\`) on ${new Date().toISOString().slice(0, 10)}: a fresh Debian 12 root
booted with systemd-nspawn on this machine, \`install.sh --source\` of this checkout inside (Debian
packages pre-downloaded in the cached root; npm packages fetched), then a deployed app and two
self-updates under a light load (4 clients, one request each every 50 ms, through nginx).

| what | figure |
| --- | --- |
${Object.entries(figures)
  .map(([k, v]) => `| ${k} | ${v} |`)
  .join("\n")}
`,
      );
    }
  }, MINUTE);

  const oldPanelStopped = async (slot: string) => {
    const deadline = Date.now() + MINUTE;
    while ((await box.sh(`systemctl is-active switchyard@${slot}.service || true`)).trim() === "active") {
      if (Date.now() > deadline) throw new Error(`switchyard@${slot} still running a minute after the update`);
      await Bun.sleep(200);
    }
  };
  const panelPid = async (slot = "blue") => Number((await box.sh(`systemctl show -p MainPID --value switchyard@${slot}.service`)).trim());

  async function api(
    method: string,
    path: string,
    body?: unknown,
    host?: string,
  ): Promise<{ status: number; body: any; cookie: string | null }> {
    const res = await fetch(`${origin}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(cookie ? { cookie } : {}),
        ...(method === "GET" ? {} : { origin }),
        ...(host ? { host } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "manual",
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, cookie: res.headers.get("set-cookie")?.split(";")[0] ?? null };
  }

  test("--check passes on the fresh machine and changes nothing", async () => {
    const result = await box.exec([...INSTALL, "--check"]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("Nothing was changed");
    expect(result.code).toBe(0);
    expect((await box.exec(["id", "switchyard"])).code).not.toBe(0);
  });

  test(
    "install.sh installs and the panel answers through nginx",
    async () => {
      const result = await box.exec(INSTALL, { env: INSTALL_ENV, timeoutMs: 15 * MINUTE });
      figures["install time (fresh Debian 12, packages pre-downloaded)"] = `${(result.ms / 1000).toFixed(0)} s`;
      if (result.code !== 0) console.log(result.stdout, result.stderr);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("Switchyard is running.");
      setupCode = SETUP_CODE.exec(result.stdout)?.[1] ?? "";
      expect(setupCode).not.toBe("");
      expect((await box.sh("stat -c '%U %a' /var/lib/switchyard/setup-code")).trim()).toBe("switchyard 600");
      const health = await api("GET", "/api/v1/health");
      expect(health.status).toBe(200);
      firstRevision = health.body.revision;
      expect(health.body).toMatchObject({ status: "ok", database: "postgres" });
      // The SPA through the same nginx site.
      const index = await fetch(`${origin}/`);
      expect(index.status).toBe(200);
      expect(await index.text()).toContain("<html");
    },
    20 * MINUTE,
  );

  test("the panel runs as switchyard, whose only root power is the helper", async () => {
    const pid = await panelPid();
    expect(pid).toBeGreaterThan(0);
    expect((await box.sh(`stat -c %U /proc/${pid}`)).trim()).toBe("switchyard");
    const groups = (await box.sh("id -nG switchyard")).trim().split(/\s+/);
    expect(groups.filter((g) => ["root", "sudo", "adm", "wheel", "disk", "systemd-journal"].includes(g))).toEqual([]);
    const sudo = await box.sh("sudo -l -U switchyard");
    const commands = sudo
      .slice(sudo.indexOf("may run the following commands"))
      .split("\n")
      .slice(1)
      .filter((l) => l.trim());
    expect(commands).toEqual(["    (root) NOPASSWD: /usr/local/lib/switchyard/helper"]);
    // No shell, no way round the helper, and the helper keeps to its verbs.
    expect((await box.sh("getent passwd switchyard")).trim()).toEndWith(":/usr/sbin/nologin");
    const as = (cmd: string) => box.exec(["runuser", "-u", "switchyard", "--", "bash", "-c", cmd]);
    expect((await as("sudo -n /bin/true")).code).not.toBe(0);
    expect((await as("touch /etc/systemd/system/x.service")).code).not.toBe(0);
    const hostile = await as("sudo -n /usr/local/lib/switchyard/helper unit-install ../../etc/passwd </dev/null");
    expect(hostile.code).not.toBe(0);
    expect(hostile.stderr).toContain("refusing");
    expect((await as("sudo -n /usr/local/lib/switchyard/helper systemctl stop ssh.service")).code).not.toBe(0);
    expect((await box.sh("stat -c '%U %a' /usr/local/lib/switchyard/helper /etc/sudoers.d/switchyard")).trim().split("\n")).toEqual([
      "root 755",
      "root 440",
    ]);
    expect((await box.sh("stat -c '%a' /etc/switchyard/switchyard.env")).trim()).toMatch(/^6[04]0$/);
  });

  test(
    "a second install.sh changes nothing and says so",
    async () => {
      const pid = await panelPid();
      const before = await box.sh(
        "sha256sum /etc/switchyard/switchyard.env /etc/systemd/system/switchyard@.service /etc/nginx/conf.d/switchyard.conf",
      );
      const result = await box.exec(INSTALL, { env: INSTALL_ENV, timeoutMs: 10 * MINUTE });
      figures["second install.sh (no-op)"] = `${(result.ms / 1000).toFixed(1)} s`;
      if (result.code !== 0) console.log(result.stdout, result.stderr);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("nothing changed");
      // Setup is still to do: the summary repeats the same code.
      expect(SETUP_CODE.exec(result.stdout)?.[1]).toBe(setupCode);
      expect(await panelPid()).toBe(pid);
      expect(
        await box.sh("sha256sum /etc/switchyard/switchyard.env /etc/systemd/system/switchyard@.service /etc/nginx/conf.d/switchyard.conf"),
      ).toBe(before);
    },
    10 * MINUTE,
  );

  async function push(version: string): Promise<void> {
    const work = join(box.root, "srv", "demo-work");
    const files = bunApp(version);
    mkdirSync(work, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(work, name), text);
    chmodSync(work, 0o755);
    await box.sh(
      `set -e; cd /srv; [ ! -d demo.git ] || chown -R root: demo.git; [ -d demo.git ] || git init -q --bare -b main demo.git; cd demo-work; [ -d .git ] || { git init -q -b main && git remote add origin /srv/demo.git; }
       git add -A && git -c user.name=t -c user.email=t@example.com commit -q -m ${version} && git push -q origin HEAD:main; chown -R switchyard: /srv/demo.git`,
    );
  }

  async function deploy(): Promise<any> {
    const res = await api("POST", "/api/v1/apps/demo/deploy", {});
    expect(res.status).toBe(202);
    const deadline = Date.now() + 5 * MINUTE;
    for (;;) {
      const job = await api("GET", `/api/v1/jobs/${res.body.job.id}`);
      if (["succeeded", "failed", "cancelled"].includes(job.body.job.status)) return job.body;
      if (Date.now() > deadline) throw new Error(`deploy still ${job.body.job.status}`);
      await Bun.sleep(500);
    }
  }

  async function jobLog(id: string): Promise<string> {
    const res = await api("GET", `/api/v1/jobs/${id}/logs`);
    return (res.body.lines as Array<{ line: string }>).map((l) => l.line).join("\n");
  }

  /**
   * The app's answer through nginx from outside, on a new connection each time: one kept alive
   * from earlier requests may still be served by a worker from before the app's file was added.
   */
  async function appThroughNginx(expected: string): Promise<string> {
    const deadline = Date.now() + 10_000;
    let text = "";
    while (Date.now() < deadline) {
      const res = await fetch(`${origin}/`, { headers: { host: "demo.localhost", connection: "close" }, keepalive: false });
      text = await res.text();
      if (text === expected) break;
      await Bun.sleep(200);
    }
    return text;
  }

  test(
    "an app deployed through the API runs as its own units and switches blue-green",
    async () => {
      const owner = { email: "owner@example.com", password: "correct horse battery", name: "Owner" };
      expect(await api("GET", "/api/v1/setup")).toMatchObject({ status: 200, body: { needed: true, codeRequired: true } });
      // A page on another name that resolves here (DNS rebinding) reaches nginx but not the panel.
      const rebound = await fetch(`${origin}/api/v1/setup`, {
        method: "POST",
        headers: { host: "attacker.example", origin: "http://attacker.example", "content-type": "application/json" },
        body: JSON.stringify({ ...owner, code: setupCode }),
      });
      expect(rebound.status).toBe(421);
      expect(((await rebound.json()) as { error: { code: string } }).error.code).toBe("unknown_host");
      // Without the code from the install summary, or with another, nothing is created.
      expect((await api("POST", "/api/v1/setup", owner)).status).toBe(400);
      const wrong = await api("POST", "/api/v1/setup", {
        ...owner,
        code: setupCode === "AAAA-AAAA-AAAA" ? "BBBB-BBBB-BBBB" : "AAAA-AAAA-AAAA",
      });
      expect(wrong.status).toBe(403);
      expect(wrong.body.error.code).toBe("invalid_setup_code");
      expect((await api("GET", "/api/v1/setup")).body.needed).toBe(true);
      // `switchyard setup-code` (as root, through /usr/local/bin/switchyard) prints the same code.
      expect(await box.sh("switchyard setup-code")).toContain(setupCode);
      expect((await api("POST", "/api/v1/setup", { ...owner, code: setupCode })).status).toBe(201);
      expect((await box.exec(["test", "-e", "/var/lib/switchyard/setup-code"])).code).not.toBe(0);
      const login = await api("POST", "/api/v1/auth/login", { email: "owner@example.com", password: "correct horse battery" });
      expect(login.status).toBe(200);
      cookie = login.cookie ?? "";
      await push("v1");
      const created = await api("POST", "/api/v1/apps", {
        name: "demo",
        repoUrl: "file:///srv/demo.git",
        healthTimeoutSec: 60,
        watchSeconds: 1,
        drainSeconds: 1,
      });
      expect(created.status).toBe(201);

      const first = await deploy();
      if (first.job.status !== "succeeded") console.log(await jobLog(first.job.id));
      expect(first.job.status).toBe("succeeded");
      const app1 = (await api("GET", "/api/v1/apps/demo")).body.app;
      const live1 = app1.liveColor as string;
      expect(["blue", "green"]).toContain(live1);
      expect((await box.sh(`systemctl is-active sy-demo-${live1}.service sy-demo-${live1}-socket.service`)).trim().split("\n")).toEqual([
        "active",
        "active",
      ]);
      const appPid = (await box.sh(`systemctl show -p MainPID --value sy-demo-${live1}.service`)).trim();
      expect((await box.sh(`stat -c %U /proc/${appPid}`)).trim()).toBe("switchyard-apps");
      expect(await appThroughNginx("v1")).toBe("v1");

      const pid = await panelPid();
      const rss = Number((await box.sh(`awk '/^VmRSS:/ {print $2}' /proc/${pid}/status`)).trim());
      figures["panel memory with one app (RSS)"] = `${(rss / 1024).toFixed(0)} MB`;

      await push("v2");
      const second = await deploy();
      if (second.job.status !== "succeeded") console.log(await jobLog(second.job.id));
      expect(second.job.status).toBe("succeeded");
      const live2 = (await api("GET", "/api/v1/apps/demo")).body.app.liveColor as string;
      expect(live2).not.toBe(live1);
      expect((await box.sh(`systemctl is-active sy-demo-${live2}.service`)).trim()).toBe("active");
      expect(await appThroughNginx("v2")).toBe("v2");
      const units = await box.sh("ls /etc/systemd/system | grep '^sy-' || true");
      expect(units.trim().split("\n").sort()).toEqual([
        "sy-demo-blue-socket.service",
        "sy-demo-blue.service",
        "sy-demo-green-socket.service",
        "sy-demo-green.service",
      ]);
    },
    12 * MINUTE,
  );

  async function waitJob(id: string, limitMs = 5 * MINUTE): Promise<any> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const job = await api("GET", `/api/v1/jobs/${id}`);
      if (["succeeded", "failed", "cancelled"].includes(job.body?.job?.status)) return job.body;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.body?.job?.status}`);
      await Bun.sleep(500);
    }
  }

  test(
    "an app's domain gets its certificate through the helper from a test CA and the app answers on https on 443",
    async () => {
      // Let's Encrypt's test CA inside the machine: challtestsrv is the DNS server that both
      // pebble and the panel's DNS check ask, and pebble validates HTTP-01 for real against the
      // address the test gives the name (this machine's nginx on port 80). Inside the
      // container's own network namespace, fixed ports meet nothing of the host's.
      await box.sh(
        `set -e; dpkg -s pebble >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
         mkdir -p /etc/pebble-apps; cd /etc/pebble-apps
         openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem 2>/dev/null
         chmod 644 cert.pem
         printf '{"pebble":{"listenAddress":"127.0.0.1:14001","managementListenAddress":"127.0.0.1:15001","certificate":"/etc/pebble-apps/cert.pem","privateKey":"/etc/pebble-apps/key.pem","httpPort":80,"tlsPort":5001,"ocspResponderURL":"","externalAccountBindingRequired":false}}' > pebble.json
         systemd-run --quiet --unit=apps-dns /usr/bin/pebble-challtestsrv -defaultIPv4 "" -defaultIPv6 "" -dns01 127.0.0.1:8053 -http01 "" -https01 "" -tlsalpn01 "" -management 127.0.0.1:8055
         systemd-run --quiet --unit=apps-pebble --setenv=PEBBLE_WFE_NONCEREJECT=0 --setenv=PEBBLE_VA_NOSLEEP=1 --setenv=PEBBLE_AUTHZREUSE=0 /usr/bin/pebble -config /etc/pebble-apps/pebble.json -dnsserver 127.0.0.1:8053
         for i in $(seq 1 100); do curl -fs --cacert cert.pem https://127.0.0.1:14001/dir >/dev/null 2>&1 && curl -fs -X POST -d '{"host":"ready.invalid."}' http://127.0.0.1:8055/clear-a >/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1`,
        { timeoutMs: 5 * MINUTE },
      );
      const dnsApi = (path: string, body: unknown) => box.sh(`curl -fsS -X POST -d '${JSON.stringify(body)}' http://127.0.0.1:8055${path}`);
      try {
        const acmeEnv = {
          ...INSTALL_ENV,
          SWITCHYARD_ACME_SERVER: "https://127.0.0.1:14001/dir",
          SWITCHYARD_ACME_CA_BUNDLE: "/etc/pebble-apps/cert.pem",
        };
        // --check says what the install would change, and changes nothing.
        const check = await box.exec([...INSTALL, "--check"], { env: acmeEnv });
        expect(check.stderr).toBe("");
        expect(check.stdout).toContain("write /etc/switchyard/acme.env: certificates from https://127.0.0.1:14001/dir");
        expect((await box.exec(["test", "-e", "/etc/switchyard/acme.env"])).code).not.toBe(0);
        // The panel asks challtestsrv; install.sh points the panel and the helper's certbot at pebble.
        await box.sh("printf 'SWITCHYARD_DNS_RESOLVER=127.0.0.1:8053\\n' >> /etc/switchyard/switchyard.env");
        const reinstall = await box.exec(INSTALL, { env: acmeEnv, timeoutMs: 10 * MINUTE });
        if (reinstall.code !== 0) console.log(reinstall.stdout, reinstall.stderr);
        expect(reinstall.code).toBe(0);
        expect(reinstall.stdout).toContain("Writing /etc/switchyard/acme.env");
        expect((await box.sh("stat -c '%U %a' /etc/switchyard/acme.env")).trim()).toBe("root 644");
        expect(await box.sh("cat /etc/switchyard/acme.env")).toBe(
          "SWITCHYARD_ACME_SERVER=https://127.0.0.1:14001/dir\nREQUESTS_CA_BUNDLE=/etc/pebble-apps/cert.pem\n",
        );
        expect(await box.sh("grep ^SWITCHYARD_ACME_ /etc/switchyard/switchyard.env")).toBe(
          "SWITCHYARD_ACME_SERVER=https://127.0.0.1:14001/dir\nSWITCHYARD_ACME_CA_BUNDLE=/etc/pebble-apps/cert.pem\n",
        );
        // Run again without them: what acme.env says is kept, and nothing changes.
        const again = await box.exec(INSTALL, { env: INSTALL_ENV, timeoutMs: 10 * MINUTE });
        expect(again.code).toBe(0);
        expect(again.stdout).toContain("nothing changed");

        const name = "shop.example.com";
        const network = await api("PUT", "/api/v1/settings/network", { publicAddresses: [box.ip] });
        expect(network.status).toBe(200);
        // From here on nginx is never reloaded: the same workers serve throughout.
        const workers = () => box.sh('pgrep -P "$(cat /run/nginx.pid)" | sort');
        const workersBefore = await workers();

        const added = await api("POST", "/api/v1/apps/demo/domains", { name });
        if (added.status !== 201) console.log(added.body);
        expect(added.status).toBe(201);
        const domain = async () => {
          const list = await api("GET", "/api/v1/apps/demo/domains");
          expect(list.status).toBe(200);
          return (list.body as Array<{ name: string }>).find((d) => d.name === name) as any;
        };
        // No record yet: the check fails and says what to create.
        const unresolved = (await api("POST", `/api/v1/apps/demo/domains/${name}/check`, {})).body;
        expect(unresolved.dns.ok).toBe(false);
        expect(unresolved.dns.expected).toEqual([{ type: "A", name, value: box.ip }]);
        // Already routed on http, before any certificate.
        expect(await box.sh(`curl -fsS --resolve ${name}:80:127.0.0.1 http://${name}/`)).toBe("v2");

        await dnsApi("/add-a", { host: `${name}.`, addresses: [box.ip] });
        const rechecked = await api("POST", `/api/v1/apps/demo/domains/${name}/check`, {});
        expect(rechecked.status).toBe(200);
        expect(rechecked.body.dns.ok).toBe(true);

        // DNS points here: the check has started the HTTP-01 certificate by itself (https by
        // default); asking for it gives that job.
        const started = await api("POST", `/api/v1/apps/demo/domains/${name}/certificate`, { mode: "http-01" });
        if (started.status !== 202) console.log(started.body);
        expect(started.status).toBe(202);
        const issued = await waitJob(started.body.job.id);
        if (issued.job.status !== "succeeded") console.log(await jobLog(started.body.job.id));
        expect(issued.job.status).toBe("succeeded");
        figures["app certificate (HTTP-01 through the helper's certbot, pebble)"] =
          `${((Date.parse(issued.job.finishedAt) - Date.parse(issued.job.startedAt)) / 1000).toFixed(1)} s`;
        const withCertificate = await domain();
        expect(withCertificate.certificate).toMatchObject({ status: "valid", error: null });
        expect(withCertificate.certificate.issuer).toContain("Pebble");
        expect(withCertificate.url).toBe(`https://${name}`);
        // certbot ran as root through the helper; the key nginx reads is not for everyone.
        expect((await box.sh(`stat -c '%a %G' /var/lib/switchyard/tls/${name}/privkey.pem`)).trim()).toBe("640 www-data");
        expect(
          (await box.exec(["runuser", "-u", "switchyard-apps", "--", "cat", `/var/lib/switchyard/tls/${name}/privkey.pem`])).code,
        ).not.toBe(0);

        // The chain verifies against pebble's root; http now redirects to https.
        await box.sh("curl -fsS --cacert /etc/pebble-apps/cert.pem https://127.0.0.1:15001/roots/0 > /etc/pebble-apps/root.pem");
        const https = `curl -fsS --cacert /etc/pebble-apps/root.pem --resolve ${name}:443:127.0.0.1 https://${name}/`;
        expect(await box.sh(https)).toBe("v2");
        expect(
          await box.sh(`curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' --resolve ${name}:80:127.0.0.1 http://${name}/x`),
        ).toBe(`301 https://${name}/x`);
        const served = () =>
          box.sh(`openssl s_client -connect 127.0.0.1:443 -servername ${name} </dev/null 2>/dev/null | openssl x509 -noout -serial`);
        const firstSerial = await served();

        // A forced renewal: the next handshake serves the new certificate.
        const renewal = await api("POST", `/api/v1/apps/demo/domains/${name}/certificate`, { mode: "http-01", force: true });
        expect(renewal.status).toBe(202);
        const renewed = await waitJob(renewal.body.job.id);
        if (renewed.job.status !== "succeeded") console.log(await jobLog(renewal.body.job.id));
        expect(renewed.job.status).toBe("succeeded");
        expect(await served()).not.toBe(firstSerial);
        expect(await box.sh(https)).toBe("v2");

        // Removed: the name reaches the app no more, on either port.
        expect((await api("DELETE", `/api/v1/apps/demo/domains/${name}`)).status).toBeLessThan(300);
        expect(await box.sh(`curl -sS --resolve ${name}:80:127.0.0.1 http://${name}/`)).not.toBe("v2");
        expect((await box.exec(["bash", "-c", https])).stdout).not.toBe("v2");
        expect(await workers()).toBe(workersBefore);
      } finally {
        await box.sh("systemctl stop apps-pebble.service apps-dns.service || true");
      }
    },
    20 * MINUTE,
  );

  /**
   * A light load from outside the container while an update runs: the panel's health and the
   * app, each on its own kept-alive connections, every request counted.
   */
  function lightLoad(): { stop(): Promise<{ panel: number; app: number; failures: string[] }> } {
    let running = true;
    const counts = { panel: 0, app: 0 };
    const failures: string[] = [];
    const loop = async (which: "panel" | "app") => {
      while (running) {
        try {
          const res = await fetch(`${origin}${which === "panel" ? "/api/v1/health" : "/"}`, {
            headers: which === "app" ? { host: "demo.localhost" } : {},
            signal: AbortSignal.timeout(10_000),
          });
          await res.text();
          if (res.status !== 200) failures.push(`${which}: ${res.status}`);
          counts[which]++;
        } catch (error) {
          failures.push(`${which}: ${(error as Error).message}`);
        }
        await Bun.sleep(50);
      }
    };
    const loops = [loop("panel"), loop("panel"), loop("app"), loop("app")];
    return {
      async stop() {
        running = false;
        await Promise.all(loops);
        return { ...counts, failures };
      },
    };
  }

  async function commitToSource(message: string, change = ""): Promise<string> {
    await box.sh(`set -e; cd ${SRC}; ${change} git -c user.name=t -c user.email=t@example.com commit -q --allow-empty -am "${message}"`);
    return (await box.sh(`git -C ${SRC} rev-parse --short=12 HEAD`)).trim();
  }

  async function selfUpdate(): Promise<any> {
    const info = await api("GET", "/api/v1/system/update?refresh=1");
    expect(info.status).toBe(200);
    const started = await api("POST", "/api/v1/system/update", {});
    if (started.status !== 202) console.log(started.body);
    expect(started.status).toBe(202);
    const id = started.body.job.id as string;
    const deadline = Date.now() + 15 * MINUTE;
    for (;;) {
      // Through nginx: whichever panel answers, both read the same database.
      const res = await api("GET", `/api/v1/jobs/${id}`);
      if (res.status === 200 && ["succeeded", "failed", "cancelled"].includes(res.body.job.status)) {
        if (res.body.job.status !== "succeeded") console.log(await jobLog(id));
        return { ...res.body, available: info.body.update.available };
      }
      if (Date.now() > deadline) throw new Error(`self-update still ${res.body?.job?.status}`);
      await Bun.sleep(1_000);
    }
  }

  test(
    "the self-update to a newer commit switches the panel blue-green with no failed request",
    async () => {
      const before = await api("GET", "/api/v1/health");
      expect(before.body.slot).toBe("blue");
      const target = await commitToSource("A newer version");
      const info = await api("GET", "/api/v1/system/update?refresh=1");
      expect(info.body.update).toMatchObject({ supported: true, current: { revision: before.body.revision, slot: "blue" } });
      expect(info.body.update.available.map((c: { revision: string }) => c.revision)).toEqual([target]);
      expect(info.body.update.available[0].subject).toBe("A newer version");
      // The command line sees the same (as root, through /usr/local/bin/switchyard).
      const check = await box.exec(["switchyard", "self-update", "--check"]);
      expect(check.stderr).toBe("");
      expect(check.code).toBe(0);
      expect(check.stdout).toContain(`Running: Switchyard ${before.body.revision} in the blue slot`);
      expect(check.stdout).toContain(`  ${target}  `);
      expect(check.stdout).toContain("A newer version");

      const load = lightLoad();
      const started = performance.now();
      const result = await selfUpdate();
      figures["self-update (fetch, install, build, switch, 60 s watch)"] = `${((performance.now() - started) / 1000).toFixed(0)} s`;
      // The old panel stops after the job's outcome is saved; the load goes on until it has.
      await oldPanelStopped("blue");
      const counts = await load.stop();
      expect(result.job.status).toBe("succeeded");
      expect(result.job.result).toMatchObject({ from: before.body.revision, to: target, slot: "green", reverted: false });
      expect(result.steps.map((st: { name: string; status: string }) => `${st.name}:${st.status}`)).toEqual(
        ["fetch", "install", "build", "migrate", "start", "health", "switch", "drain", "watch", "retain"].map((n) => `${n}:succeeded`),
      );
      expect(counts.failures).toEqual([]);
      expect(counts.panel).toBeGreaterThan(100);
      expect(counts.app).toBeGreaterThan(100);
      figures["requests during the update (panel / app), failed"] = `${counts.panel} / ${counts.app}, ${counts.failures.length}`;

      const after = await api("GET", "/api/v1/health");
      expect(after.body).toMatchObject({ status: "ok", revision: target, slot: "green" });
      expect((await box.exec(["systemctl", "is-active", "--quiet", "switchyard@blue.service"])).code).not.toBe(0);
      expect((await box.sh("systemctl is-enabled switchyard@green.service")).trim()).toBe("enabled");
      expect((await box.sh(`stat -c %U /proc/${await panelPid("green")}`)).trim()).toBe("switchyard");
      // The session survived (it lives in the database), and the app never noticed.
      expect((await api("GET", "/api/v1/auth/me")).status).toBe(200);
      expect(await appThroughNginx("v2")).toBe("v2");
      const kept = (await api("GET", "/api/v1/system/update")).body.update.kept.map((k: { revision: string }) => k.revision);
      expect(kept.sort()).toEqual([before.body.revision, target].sort());
    },
    20 * MINUTE,
  );

  test(
    "an update to a broken commit switches back by itself",
    async () => {
      const good = (await api("GET", "/api/v1/health")).body.revision as string;
      // Healthy at first, then the process dies after 10 s: systemd restarts it, the watch sees it.
      const broken = await commitToSource(
        "A version that crashes",
        `printf '\\nsetTimeout(() => process.exit(3), 10_000).unref();\\n' >> backend/cli.ts;`,
      );
      const load = lightLoad();
      const result = await selfUpdate();
      const counts = await load.stop();
      expect(result.job.status).toBe("failed");
      expect(result.job.result).toMatchObject({ from: good, to: broken, reverted: true });
      expect(result.job.error).toContain("switched back");
      expect(result.steps.find((st: { name: string }) => st.name === "watch").status).toBe("failed");
      expect(counts.failures).toEqual([]);
      const after = await api("GET", "/api/v1/health");
      expect(after.body).toMatchObject({ status: "ok", revision: good, slot: "green" });
      expect((await box.exec(["systemctl", "is-active", "--quiet", "switchyard@blue.service"])).code).not.toBe(0);
      expect((await box.sh("systemctl is-enabled switchyard@green.service")).trim()).toBe("enabled");
      const info = (await api("GET", "/api/v1/system/update")).body.update;
      expect(info.job).toMatchObject({ status: "failed", result: { reverted: true } });
    },
    20 * MINUTE,
  );

  test(
    "the owner's settings page says the update was switched back, and puts a kept version back in one click",
    async () => {
      const running = (await api("GET", "/api/v1/health")).body.revision as string;
      const first = firstRevision;
      expect(first).not.toBe(running);
      const { browser, close } = await launchBrowser();
      try {
        const context = await browser.newContext({ viewport: { width: 1280, height: 2400 } });
        const [name, value] = cookie.split("=") as [string, string];
        await context.addCookies([{ name, value, url: origin }]);
        const page = await context.newPage();
        const errors = watchConsole(page);
        await page.goto(`${origin}/settings`);
        // The last job was the broken update: the card says what happened.
        await page.getByTestId("update-reverted").waitFor({ timeout: 30_000 });
        expect(await page.getByTestId("update-reverted").textContent()).toContain("switched back");
        mkdirSync(SHOTS, { recursive: true });
        await page.getByTestId("update-card").screenshot({ path: join(SHOTS, "settings-updates.png") });

        const load = lightLoad();
        await page.locator(`[data-testid="update-kept-version"][data-revision="${first}"] [data-testid="update-rollback"]`).click();
        await page.getByTestId("update-confirm").click();
        const deadline = Date.now() + 5 * MINUTE;
        let job: any;
        for (;;) {
          job = (await api("GET", "/api/v1/system/update")).body?.update?.job;
          if (job && job.params.revision === first && ["succeeded", "failed", "cancelled"].includes(job.status)) break;
          if (Date.now() > deadline) throw new Error(`rollback still ${job?.status}`);
          await Bun.sleep(1_000);
        }
        await oldPanelStopped("green");
        const counts = await load.stop();
        if (job.status !== "succeeded") console.log(await jobLog(job.id));
        expect(job).toMatchObject({ status: "succeeded", params: { rollback: true }, result: { from: running, to: first, slot: "blue" } });
        const steps = (await api("GET", `/api/v1/jobs/${job.id}`)).body.steps as Array<{ name: string; status: string }>;
        expect(steps.filter((st) => st.status === "skipped").map((st) => st.name)).toEqual(["fetch", "install", "build"]);
        expect(counts.failures).toEqual([]);
        expect((await api("GET", "/api/v1/health")).body).toMatchObject({ revision: first, slot: "blue" });
        // The page follows the job through the switch and offers the new (old) GUI.
        await page.getByTestId("update-reload").waitFor({ timeout: 60_000 });
        expect(errors.filter((e) => !EXPECTED_CONSOLE.test(e))).toEqual([]);
      } finally {
        await close();
      }
    },
    10 * MINUTE,
  );

  test(
    "--uninstall keeps data, config and the database; --purge removes them; a new install with a domain is on https and seeds the owner",
    async () => {
      const removed = await box.exec([...INSTALL, "--uninstall"], { env: INSTALL_ENV });
      expect(removed.code).toBe(0);
      expect(removed.stdout).toContain("Data in /var/lib/switchyard, /etc/switchyard and the database are kept");
      for (const unit of ["switchyard@blue.service", "switchyard@green.service", "sy-demo-blue.service", "sy-demo-green.service"]) {
        expect((await box.exec(["systemctl", "is-active", "--quiet", unit])).code).not.toBe(0);
      }
      expect((await box.sh("ls /etc/systemd/system | grep -c -e '^sy-' -e '^switchyard' || true")).trim()).toBe("0");
      expect((await box.exec(["test", "-e", "/opt/switchyard"])).code).not.toBe(0);
      expect((await box.exec(["test", "-e", "/usr/local/lib/switchyard/helper"])).code).not.toBe(0);
      expect((await box.exec(["test", "-f", "/etc/switchyard/switchyard.env"])).code).toBe(0);
      expect((await box.sh("runuser -u postgres -- psql -tAc \"select 1 from pg_database where datname = 'switchyard'\"")).trim()).toBe(
        "1",
      );

      const purged = await box.exec([...INSTALL, "--uninstall", "--purge"], { env: INSTALL_ENV });
      expect(purged.code).toBe(0);
      for (const path of ["/var/lib/switchyard", "/etc/switchyard", "/opt/switchyard"])
        expect((await box.exec(["test", "-e", path])).code).not.toBe(0);
      expect((await box.exec(["id", "switchyard"])).code).not.toBe(0);
      expect((await box.exec(["getent", "group", "switchyard"])).code).not.toBe(0);
      expect(
        (await box.sh("runuser -u postgres -- psql -tAc \"select count(*) from pg_database where datname = 'switchyard'\"")).trim(),
      ).toBe("0");

      // A new install with a domain: the certificate from a local ACME test CA (pebble, which
      // here skips the HTTP-01 check: the domain does not resolve to this container).
      await box.sh(
        `set -e; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null; mkdir -p /etc/pebble; cd /etc/pebble
         openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem 2>/dev/null
         printf '{"pebble":{"listenAddress":"127.0.0.1:14000","managementListenAddress":"127.0.0.1:15000","certificate":"/etc/pebble/cert.pem","privateKey":"/etc/pebble/key.pem","httpPort":80,"tlsPort":443,"ocspResponderURL":"","externalAccountBindingRequired":false}}' > pebble.json
         systemd-run --quiet --unit=pebble --setenv=PEBBLE_VA_ALWAYS_VALID=1 --setenv=PEBBLE_WFE_NONCEREJECT=0 /usr/bin/pebble -config /etc/pebble/pebble.json
         for i in $(seq 1 50); do curl -fsk https://127.0.0.1:14000/dir >/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1`,
        { timeoutMs: 5 * MINUTE },
      );
      const domain = "panel.example.com";
      const fresh = await box.exec([...INSTALL, "--domain", domain, "--email", "ops@example.com", "--admin-email", "admin@example.com"], {
        env: { ...INSTALL_ENV, SWITCHYARD_ACME_SERVER: "https://127.0.0.1:14000/dir", REQUESTS_CA_BUNDLE: "/etc/pebble/cert.pem" },
        timeoutMs: 15 * MINUTE,
      });
      if (fresh.code !== 0) console.log(fresh.stdout, fresh.stderr);
      expect(fresh.code).toBe(0);
      expect(fresh.stdout).toContain("Configuring nginx (https)");
      expect((await box.exec(["test", "-f", `/etc/letsencrypt/live/${domain}/fullchain.pem`])).code).toBe(0);
      expect(await box.sh("grep ^SWITCHYARD_PUBLIC_URL= /etc/switchyard/switchyard.env")).toBe(`SWITCHYARD_PUBLIC_URL=https://${domain}\n`);
      const password = /Owner admin@example\.com created with password: (\S+)/.exec(fresh.stdout)?.[1];
      expect(password).toBeDefined();
      // --admin-email used the setup code itself; with the owner in place there is none left to show.
      expect(fresh.stdout).not.toMatch(SETUP_CODE);
      expect((await box.exec(["test", "-e", "/var/lib/switchyard/setup-code"])).code).not.toBe(0);

      // Port 80 sends the panel to https (ACME challenges stay on http); https serves it.
      const plain = await fetch(`http://${box.ip}/api/v1/health`, { headers: { host: domain }, redirect: "manual" });
      expect(plain.status).toBe(301);
      expect(plain.headers.get("location")).toBe(`https://${domain}/api/v1/health`);
      const secure = (path: string, init: RequestInit = {}) =>
        fetch(`https://${box.ip}${path}`, {
          ...init,
          headers: { host: domain, ...init.headers },
          // The name in the handshake (SNI), as a browser sends it: port 443's default server is
          // the apps' router, whose certificate is chosen by that name.
          tls: { rejectUnauthorized: false, serverName: domain },
        } as RequestInit);
      const health = await secure("/api/v1/health");
      expect(health.status).toBe(200);
      expect(health.headers.get("strict-transport-security")).toContain("max-age=");
      const login = await secure("/api/v1/auth/login", {
        method: "POST",
        headers: { "content-type": "application/json", origin: `https://${domain}` },
        body: JSON.stringify({ email: "admin@example.com", password }),
      });
      expect(login.status).toBe(200);
      expect(login.headers.get("set-cookie")).toContain("Secure");
    },
    20 * MINUTE,
  );
});
