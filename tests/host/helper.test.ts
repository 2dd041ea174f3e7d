import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AcmeChallenge, FRAME, helperArgs, helperInput, parseHelperAnswer } from "../../backend/adapters/acme/certbot.ts";
import { createPrivilege, HelperError } from "../../backend/adapters/privilege.ts";
import { createSystemProxy } from "../../backend/adapters/proxy/index.ts";
import { helperSystemdHost } from "../../backend/adapters/runtime/systemd.ts";
import { redisUnitName, redisUnitText } from "../../backend/commands/databases.ts";
import { type AppConfigOptions, buildAppConfig } from "../../backend/commands/nginx.ts";
import {
  buildSlotUnit,
  buildSocketUnit,
  buildWorkerUnit,
  controlSocketPath,
  instanceUnitName,
  journalHelperArgs,
  journalQueryArgv,
} from "../../backend/commands/systemd.ts";
import { createLogger } from "../../backend/log.ts";
import { SLOT_UNIT_SPEC } from "../helpers/fixtures.ts";

const HELPER = join(import.meta.dir, "..", "..", "infrastructure", "helper", "switchyard-helper");
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function testRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "sy-helper-"));
  roots.push(root);
  return root;
}

/** The panel's privilege object, with the real helper run in a test root instead of through sudo. */
function testPrivilege(root: string) {
  return createPrivilege({
    root: false,
    command: ["bash", HELPER],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SWITCHYARD_HELPER_ROOT: root },
  });
}

/** Runs the real helper with everything under a fresh test root (it then prints commands instead of running them). */
function helper(args: string[], stdin = "", root = testRoot()) {
  const proc = Bun.spawnSync(["bash", HELPER, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SWITCHYARD_HELPER_ROOT: root },
    stdin: new TextEncoder().encode(stdin),
  });
  const files = (dir: string): string[] =>
    existsSync(dir)
      ? readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((d) => d.isFile())
          .map((d) => join(d.parentPath, d.name))
      : [];
  return { code: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString(), root, written: files(root) };
}

const spec = SLOT_UNIT_SPEC;
const unit = buildSlotUnit(spec);
const nginxConf = buildAppConfig({
  app: "shop",
  listenHost: "0.0.0.0",
  port: 80,
  serverNames: ["shop.example.com"],
  previewNames: null,
  liveSocket: "/var/lib/switchyard/sock/shop.sock",
  slotSockets: { blue: "/var/lib/switchyard/sock/shop-blue.sock", green: "/var/lib/switchyard/sock/shop-green.sock" },
  accessLog: "/var/log/switchyard/shop.access.log",
  staticDir: "/var/lib/switchyard/static/shop",
});

describe("privileged helper: what it does", () => {
  test("installs the units Switchyard generates and reloads systemd", () => {
    const r = helper(["unit-install", "sy-shop-blue.service"], unit);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(join(r.root, "etc/systemd/system/sy-shop-blue.service"), "utf8")).toBe(`${unit.trimEnd()}\n`);
    expect(r.stdout).toBe("would run: systemctl daemon-reload\n");
    const socket = buildSocketUnit({
      ...spec,
      bun: "/opt/switchyard/node_modules/.bin/bun",
      forwarder: "/opt/switchyard/backend/adapters/runtime/forwarder.ts",
    });
    expect(helper(["unit-install", "sy-shop-blue-socket.service"], socket).code).toBe(0);
  });

  test("runs only the systemctl verbs it knows, on sy-* units", () => {
    expect(helper(["systemctl", "restart", "sy-shop-green.service"]).stdout).toBe("would run: systemctl restart sy-shop-green.service\n");
    expect(helper(["systemctl", "show", "sy-shop-green.service"]).stdout).toContain("--property=ActiveState");
    expect(helper(["journal", "sy-shop-green.service", "200"]).stdout).toBe(
      "would run: journalctl --unit sy-shop-green.service --lines 200 --no-pager --output cat\n",
    );
  });

  test("journal --json runs exactly the journalctl argv the panel would run as root", () => {
    for (const query of [
      { units: ["sy-shop-blue.service", "sy-shop-green.service"], since: 1_764_337_737_123_456, lines: 2000, reverse: true },
      { units: ["sy-shop-green.service"], afterCursor: "s=0a1b;i=2f;b=9c;m=1;t=5;x=ff", lines: 1000 },
      { units: ["sy-shop-blue.service"], until: 1_764_337_737_000_001, lines: 1, reverse: true },
    ]) {
      const ran = helper(journalHelperArgs(query));
      expect({ code: ran.code, stderr: ran.stderr }).toEqual({ code: 0, stderr: "" });
      expect(ran.stdout).toBe(
        `would run: ${journalQueryArgv(query)
          .map((a) => (a.includes(";") ? a.replaceAll(";", "\\;") : a))
          .join(" ")}\n`,
      );
    }
  });

  test("lists the installed sy-* unit files and nothing else", () => {
    const root = testRoot();
    const units = join(root, "etc/systemd/system");
    expect(helper(["list"], "", root)).toMatchObject({ code: 0, stdout: "" });
    mkdirSync(units, { recursive: true });
    for (const name of [
      "sy-shop-blue.service",
      "sy-shop-blue-socket.service",
      "sy-my-app-green.service",
      "sshd.service",
      "sy-Shop-blue.service",
    ])
      writeFileSync(join(units, name), "");
    mkdirSync(join(units, "sy-dir-blue.service"));
    const r = helper(["list"], "", root);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "sy-my-app-green.service",
      "sy-shop-blue-socket.service",
      "sy-shop-blue.service",
    ]);
  });

  test("installs, starts and removes a Redis database's unit, listed beside the slots", () => {
    const root = testRoot();
    const name = redisUnitName("cache");
    const text = redisUnitText({
      name: "cache",
      redisServer: "/usr/bin/redis-server",
      configFile: "/var/lib/switchyard/databases/cache/redis.conf",
      dir: "/var/lib/switchyard/databases/cache",
      user: "switchyard-apps",
    });
    const installed = helper(["unit-install", name], text, root);
    expect({ code: installed.code, stderr: installed.stderr }).toEqual({ code: 0, stderr: "" });
    expect(readFileSync(join(root, "etc/systemd/system", name), "utf8")).toBe(`${text.trimEnd()}\n`);
    expect(helper(["systemctl", "start", name], "", root).stdout).toBe(`would run: systemctl start ${name}\n`);
    expect(helper(["list"], "", root).stdout).toBe(`${name}\n`);
    expect(helper(["unit-remove", name], "", root).code).toBe(0);
    expect(existsSync(join(root, "etc/systemd/system", name))).toBe(false);
  });

  test("starts, stops and enables the panel's own blue and green slots for a self-update", () => {
    expect(helper(["panel", "restart", "green"]).stdout).toBe("would run: systemctl restart switchyard@green.service\n");
    expect(helper(["panel", "disable", "blue"]).stdout).toBe("would run: systemctl disable switchyard@blue.service\n");
    expect(helper(["panel", "show", "blue"]).stdout).toBe(
      "would run: systemctl show switchyard@blue.service --property=ActiveState\\,SubState\\,MainPID\\,NRestarts\n",
    );
  });

  test("installs the app's nginx file, then tests and reloads nginx", () => {
    const r = helper(["nginx-install", "shop"], nginxConf);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.written.map((f) => f.slice(r.root.length))).toEqual(["/etc/nginx/conf.d/switchyard/shop.conf"]);
    expect(r.stdout).toBe("would run: nginx -t -q\nwould run: nginx -s reload\n");
  });
});

describe("privileged helper: hostile input is refused and nothing is written", () => {
  const refused = (args: string[], stdin = "") => {
    const r = helper(args, stdin);
    expect(r.code, `${JSON.stringify(args)} should be refused`).toBe(2);
    expect(r.stderr).toStartWith("switchyard-helper: ");
    expect(r.stdout).toBe("");
    expect(r.written).toEqual([]);
    return r.stderr;
  };

  test("unknown verbs and wrong argument counts", () => {
    for (const args of [
      [],
      ["rm", "-rf", "/"],
      ["unit-install;id"],
      ["SYSTEMCTL", "start", "sy-a1-blue.service"],
      ["daemon-reload", "extra"],
      ["unit-install"],
    ]) {
      refused(args, unit);
    }
  });

  test("unit names outside sy-<app>-<colour>.service", () => {
    for (const name of [
      "../../etc/passwd",
      "sy-shop-blue.service/../../x",
      "sshd.service",
      "sy-shop-red.service",
      "sy-Shop-blue.service",
      "sy-shop-blue.service;id",
      "sy-shop-blue.service\nx",
      "sy-$(id)-blue.service",
      `sy-${"a".repeat(50)}-blue.service`,
      "-sy-shop-blue.service",
    ]) {
      expect(refused(["unit-install", name], unit)).toContain("refusing unit name");
      refused(["systemctl", "stop", name]);
    }
  });

  test("database unit names other than sy-db-<name>-redis.service, and a Redis unit that widens its umask or runs as root", () => {
    for (const name of [
      "sy-db-cache.service",
      "sy-db-cache-mysql.service",
      "sy-db-Cache-redis.service",
      "sy-db--redis.service",
      "sy-db-cache-redis.service;id",
    ]) {
      expect(refused(["unit-install", name], unit)).toContain("refusing unit name");
    }
    const text = redisUnitText({
      name: "cache",
      redisServer: "/usr/bin/redis-server",
      configFile: "/d/redis.conf",
      dir: "/d",
      user: "switchyard-apps",
    });
    expect(refused(["unit-install", redisUnitName("cache")], text.replace("UMask=0007", "UMask=0000"))).toContain("refusing UMask=0000");
    expect(refused(["unit-install", redisUnitName("cache")], text.replace("User=switchyard-apps", "User=root"))).toContain(
      "refusing User=root",
    );
  });

  test("panel verbs and slots outside blue and green", () => {
    for (const verb of ["kill", "mask", "edit", "--now", "stop;id", "is-active"]) refused(["panel", verb, "blue"]);
    for (const slot of ["red", "blue;id", "../blue", "blue green", "Blue", "", "blue\n"]) refused(["panel", "stop", slot]);
    refused(["panel", "stop"]);
    refused(["panel", "stop", "blue", "green"]);
  });

  test("list takes no arguments", () => {
    for (const args of [
      ["list", "sy-*"],
      ["list", "--all"],
      ["list", ""],
    ])
      expect(refused(args)).toContain("usage: list");
  });

  test("systemctl verbs, journal line counts", () => {
    for (const verb of ["kill", "mask", "--now", "start;id", "edit"]) refused(["systemctl", verb, "sy-shop-blue.service"]);
    for (const lines of ["0", "5001", "1e3", "10;id", "-5", ""]) refused(["journal", "sy-shop-blue.service", lines]);
    const json = ["journal", "--json", "--unit", "sy-shop-blue.service", "--lines", "10"];
    for (const args of [
      ["journal", "--json", "--lines", "10"],
      ["journal", "--json", "--unit", "sy-shop-blue.service"],
      ["journal", "--json", "--unit", "nginx.service", "--lines", "10"],
      ["journal", "--json", "--unit", "sy-shop-blue-socket.service", "--lines", "10"],
      [...json, "--unit", "sy-a-blue.service", "--unit", "sy-b-blue.service", "--unit", "sy-c-blue.service", "--unit", "sy-d-blue.service"],
      [...json, "--unit", "sy-shop-blue*.service"],
      [...json, "--unit", "sy-shop-*.service"],
      [...json, "--unit", "sy-shop-blue_worker_1.service"],
      [...json.slice(0, -1), "10001"],
      [...json, "--since", "yesterday"],
      [...json, "--until", "@1;id"],
      [...json, "--after-cursor", "s=1;$(id)"],
      [...json, "--grep", "x"],
      [...json, "--output", "cat"],
      [...json, "--unit"],
    ])
      refused(args);
  });

  test("a unit may tag its lines with the release, and with nothing else", () => {
    expect(helper(["unit-install", "sy-shop-blue.service"], unit).code).toBe(0);
    expect(unit).toContain("LogExtraFields=SWITCHYARD_RELEASE=rel-1");
    for (const value of ["SWITCHYARD_RELEASE=a b", "OTHER=1", "SWITCHYARD_RELEASE=x\\nUser=root"]) {
      refused(["unit-install", "sy-shop-blue.service"], unit.replace("LogExtraFields=SWITCHYARD_RELEASE=rel-1", `LogExtraFields=${value}`));
    }
  });

  test("a unit may bind its own app's volumes into its releases, and nothing else", () => {
    const volumes = buildSlotUnit({
      ...spec,
      volumes: [
        { dir: "/var/lib/switchyard/apps/shop/volumes/data", mountAt: "/var/lib/switchyard/apps/shop/releases/rel-1/data" },
        {
          dir: "/var/lib/switchyard/apps/shop/volumes/storage-uploads",
          mountAt: "/var/lib/switchyard/apps/shop/releases/rel-1/storage/uploads",
        },
      ],
    });
    const good = "BindPaths=/var/lib/switchyard/apps/shop/volumes/data:/var/lib/switchyard/apps/shop/releases/rel-1/data";
    expect(volumes).toContain(good);
    expect(helper(["unit-install", "sy-shop-blue.service"], volumes)).toMatchObject({ code: 0, stderr: "" });
    for (const value of [
      "/var/lib/switchyard/apps/other/volumes/data:/var/lib/switchyard/apps/shop/releases/rel-1/data",
      "/var/lib/switchyard/apps/shop/volumes/data:/var/lib/switchyard/apps/other/releases/rel-1/data",
      "/var/lib/switchyard/apps/shop/volumes/..:/var/lib/switchyard/apps/shop/releases/rel-1/data",
      "/var/lib/switchyard/apps/shop/volumes/data:/var/lib/switchyard/apps/shop/releases/rel-1/../../../../../etc",
      "/var/lib/switchyard/apps/shop/volumes/data:/etc",
      "/etc:/var/lib/switchyard/apps/shop/releases/rel-1/data",
      "-/var/lib/switchyard/apps/shop/volumes/data:/var/lib/switchyard/apps/shop/releases/rel-1/data",
      "/var/lib/switchyard/apps/shop/volumes/data:/var/lib/switchyard/apps/shop/releases/rel-1/data:rbind",
      "/var/lib/switchyard/apps/shop/volumes/data /etc:/var/lib/switchyard/apps/shop/releases/rel-1/data",
    ]) {
      expect(refused(["unit-install", "sy-shop-blue.service"], volumes.replace(good, `BindPaths=${value}`))).toContain(
        "refusing BindPaths",
      );
    }
    // A Redis unit names no app release to bind into.
    expect(refused(["unit-install", "sy-db-cache-redis.service"], volumes)).toContain("refusing BindPaths");
  });

  test("units that would run as root, with privileged prefixes, or with directives Switchyard never writes", () => {
    const cases: Array<[string, string]> = [
      [unit.replace("User=switchyard-apps", "User=root"), "User=root"],
      [unit.replace("User=switchyard-apps\n", ""), "without User"],
      [unit.replace("ExecStart=/bin/sh", "ExecStart=+/bin/sh"), "ExecStart"],
      [unit.replace("ExecStart=/bin/sh", "ExecStart=!/bin/sh"), "ExecStart"],
      [unit.replace("[Service]", "[Service]\nExecStartPre=/bin/chmod u+s /bin/bash"), "ExecStartPre"],
      [unit.replace("[Service]", "[Service]\nPermissionsStartOnly=true"), "PermissionsStartOnly"],
      [unit.replace("[Service]", "[Service]\nAmbientCapabilities=CAP_SYS_ADMIN"), "AmbientCapabilities"],
      [unit.replace("ProtectSystem=strict", "ProtectSystem=no"), "ProtectSystem"],
      [unit.replace("NoNewPrivileges=yes", "NoNewPrivileges=no"), "NoNewPrivileges"],
      [`${unit}\n[Socket]\nListenStream=80\n`, "unit line"],
      [unit + "#".repeat(70_000), "over 65536 bytes"],
    ];
    for (const [text, why] of cases) expect(refused(["unit-install", "sy-shop-blue.service"], text)).toContain(why);
  });

  test("nginx files that could read or run anything, and app names with paths", () => {
    for (const bad of [
      "include /etc/shadow;",
      "root /;",
      "root /var/lib/switchyard/static/other-app/live;",
      "root /var/lib/switchyard/static/shop/live/../../..;",
      "disable_symlinks off;",
      "location / { alias /etc/; }",
      "load_module /tmp/x.so;",
      "perl_set $x 'sub { }';",
      "return 200 `id`;",
    ]) {
      refused(["nginx-install", "shop"], `${nginxConf}\nserver {\n    ${bad}\n}\n`);
    }
    for (const app of ["../etc", "shop;id", "Shop", "shop/x", "a", "shop\n"]) refused(["nginx-install", app], nginxConf);
    refused(["nginx-remove", "../../nginx.conf"]);
  });

  test("a static root cannot be left through a path with .. in it, nor served without the symlink guard", () => {
    // nginx joins root and a try_files or error_page URI without resolving "..", and
    // disable_symlinks does not stop "..": either would serve any file nginx's user can read.
    for (const bad of [
      "location / { root /var/lib/switchyard/static/shop/live; disable_symlinks on from=$document_root; try_files /../../../../etc/passwd =404; }",
      "location / { root /var/lib/switchyard/static/shop/live; disable_symlinks on from=$document_root; error_page 404 /../../../../etc/passwd; }",
      "location / { set $x /../../../etc/passwd; }",
      "location / { root /var/lib/switchyard/static/shop/live; try_files $uri =404; }",
    ]) {
      expect(refused(["nginx-install", "shop"], `${nginxConf}\nserver {\n    ${bad}\n}\n`)).toMatch(/\.\.|disable_symlinks/);
    }
  });

  test("certificate names, challenges, domains and emails for certbot", () => {
    const ok = ["certbot-issue", "shop.example.com", "http-01", "keep", "ops@example.com", "shop.example.com"];
    expect(helper(ok).code).toBe(0);
    for (const domain of [
      "a b.com",
      "example.com;id",
      "../x",
      "-x.com",
      "x.-com",
      `${"x".repeat(250)}.com`,
      "Example..com",
      "$(id).com",
      "example.com\nx",
      "*.*.example.com",
      "--server=https://evil.example",
    ]) {
      refused([...ok.slice(0, 5), domain]);
      refused(["certbot-issue", domain, ...ok.slice(2)]);
    }
    // A wildcard needs a DNS challenge.
    expect(refused([...ok.slice(0, 5), "*.example.com"])).toContain("wildcard");
    for (const email of ["a@b", "x@y.com;id", "--email", "a b@example.com"]) refused([...ok.slice(0, 4), email, "shop.example.com"]);
    for (const challenge of ["dns-01", "manual", "--webroot", "HOOK"])
      refused([ok[0] as string, ok[1] as string, challenge, ...ok.slice(3)]);
    for (const force of ["yes", "--force-renewal", ""]) refused([...ok.slice(0, 3), force, ...ok.slice(4)]);
    refused(ok.slice(0, 5));
  });

  test("DNS credentials that could inject into certbot's files are refused", () => {
    const rfc = ["certbot-issue", "_.example.com", "rfc2136", "keep", "-", "*.example.com", "example.com"];
    const line = (k: string, v: string) => `${k}=${Buffer.from(v).toString("base64")}\n`;
    const good = {
      server: "127.0.0.1",
      port: "53",
      name: "acme-key.",
      secret: "c2VjcmV0c2VjcmV0c2VjcmV0",
      algorithm: "HMAC-SHA256",
      propagation: "5",
    };
    const input = (o: Record<string, string>) =>
      Object.entries(o)
        .map(([k, v]) => line(k, v))
        .join("");
    expect(helper(rfc, input(good)).code).toBe(0);
    for (const [k, v] of [
      ["server", "127.0.0.1\ndns_rfc2136_server = 10.0.0.1"],
      ["port", "53;id"],
      ["name", "key name"],
      ["secret", "abc\nx = y"],
      ["algorithm", "HMAC-SHA256 x"],
      ["propagation", "-1"],
    ] as const) {
      refused(rfc, input({ ...good, [k]: v }));
    }
    refused(rfc, input({ server: "127.0.0.1" }));
    refused(rfc, "server=not base64!\n");
    refused(rfc, `secret=${"A".repeat(70_000)}\n`);
    const cf = ["certbot-issue", "_.example.com", "cloudflare", "keep", "-", "*.example.com"];
    refused(cf, line("api_token", "tok\ndns_cloudflare_email = x"));
    // A refusal names the field, never the secret: the message reaches job logs, certificate errors and notifications.
    const token = "cf-token.with.dots-0123456789";
    expect(refused(cf, line("api_token", token))).not.toContain("0123456789");
    const secret = `${"c2VjcmV0".repeat(10)}!`;
    expect(refused(rfc, input({ ...good, secret }))).not.toContain("c2VjcmV0c2Vj");
  });
});

describe("privileged helper: certificates", () => {
  const line = (k: string, v: string) => `${k}=${Buffer.from(v).toString("base64")}\n`;

  test("HTTP-01 through the webroot, with the panel's arguments, and the CA from /etc/switchyard/acme.env", () => {
    const root = testRoot();
    mkdirSync(join(root, "etc/switchyard"), { recursive: true });
    writeFileSync(
      join(root, "etc/switchyard/acme.env"),
      "SWITCHYARD_ACME_SERVER=https://127.0.0.1:14000/dir\nREQUESTS_CA_BUNDLE=/etc/switchyard/acme-ca.pem\n",
    );
    const args = helperArgs({
      certName: "shop.example.com",
      domains: ["shop.example.com"],
      challenge: { kind: "http-01", webroot: "/ignored" },
      force: true,
      email: "ops@example.com",
    });
    const r = helper(args, "", root);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toStartWith(
      "would run: env REQUESTS_CA_BUNDLE=/etc/switchyard/acme-ca.pem certbot certonly --non-interactive --agree-tos --server https://127.0.0.1:14000/dir",
    );
    expect(r.stdout).toContain(`--webroot --webroot-path ${root}/var/lib/switchyard/acme`);
    expect(r.stdout).toContain("--cert-name shop.example.com --key-type ecdsa --email ops@example.com --force-renewal");
    expect(r.stdout.trimEnd()).toEndWith("--domain shop.example.com");
    // Without the file: Let's Encrypt; keep: --keep-until-expiring.
    const plain = helper(
      helperArgs({
        certName: "shop.example.com",
        domains: ["shop.example.com"],
        challenge: { kind: "http-01", webroot: "/x" },
        force: false,
        email: null,
      }),
    );
    expect(plain.stdout).toContain("--server https://acme-v02.api.letsencrypt.org/directory");
    expect(plain.stdout).toContain("--register-unsafely-without-email --keep-until-expiring");
  });

  test("an ACME server in acme.env that is not a URL is refused", () => {
    const root = testRoot();
    mkdirSync(join(root, "etc/switchyard"), { recursive: true });
    writeFileSync(join(root, "etc/switchyard/acme.env"), "SWITCHYARD_ACME_SERVER=https://x/dir --webroot-path /etc\n");
    const r = helper(["certbot-issue", "shop.example.com", "http-01", "keep", "-", "shop.example.com"], "", root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("refusing ACME server");
  });

  test("RFC 2136, Cloudflare and hook credentials go to a 0600 file that is gone afterwards, never into argv", () => {
    const tsig = "c2VjcmV0LXRzaWcta2V5LW5vdC1pbi1hcmd2Cg==";
    const cases = [
      {
        challenge: {
          kind: "rfc2136",
          server: "127.0.0.1",
          port: 5353,
          keyName: "acme-key",
          keyAlgorithm: "hmac-sha256",
          keySecret: tsig,
          propagationSeconds: 2,
        },
        secrets: [tsig],
        expect: ["--dns-rfc2136 --dns-rfc2136-credentials ", "--dns-rfc2136-propagation-seconds 2"],
      },
      {
        challenge: { kind: "cloudflare", apiToken: "cf_token_not_in_argv_123" },
        secrets: ["cf_token_not_in_argv_123"],
        expect: ["--dns-cloudflare --dns-cloudflare-credentials "],
      },
      {
        challenge: {
          kind: "hook",
          authCommand: "curl -s -d secret-hook-marker http://dns/set",
          cleanupCommand: "curl -s http://dns/clear-marker",
          propagationSeconds: 0,
        },
        secrets: ["secret-hook-marker", "clear-marker"],
        expect: [
          "--manual --preferred-challenges dns --manual-auth-hook runuser\\ -u\\ switchyard\\ --\\ /bin/sh\\ -s",
          "--manual-cleanup-hook",
        ],
      },
    ] as const;
    for (const c of cases) {
      const request = {
        certName: "_.example.com",
        domains: ["*.example.com", "example.com"],
        challenge: c.challenge as AcmeChallenge,
        force: false,
        email: null,
      };
      const r = helper(helperArgs(request), helperInput(request.challenge));
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      for (const part of c.expect) expect(r.stdout).toContain(part);
      expect(r.stdout).toContain("--domain \\*.example.com --domain example.com");
      for (const secret of c.secrets) expect(r.stdout).not.toContain(secret);
      // The credentials directory is removed when the helper exits.
      expect(r.written).toEqual([]);
      expect(readdirSync(join(r.root, "tmp"))).toEqual([]);
    }
    expect(line("x", "y")).toBe("x=eQ==\n");
  });

  test("the panel reads the certificate and key from the helper's framed answer", () => {
    const answer = `${FRAME.fullchain}\n-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n${FRAME.key}\n-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n${FRAME.end}\n`;
    expect(parseHelperAnswer(answer)).toEqual({
      fullchain: "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n",
      key: "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n",
    });
    expect(parseHelperAnswer("certbot said nothing")).toBeNull();
  });
});

describe("shell scripts", () => {
  test.skipIf(!Bun.which("shellcheck"))("the helper and the installer are shellcheck-clean", () => {
    const root = join(import.meta.dir, "..", "..");
    const scripts = [
      HELPER,
      join(root, "install.sh"),
      join(root, "infrastructure/dev/setup.sh"),
      join(root, "infrastructure/bin/switchyard"),
    ].filter((f) => existsSync(f));
    const proc = Bun.spawnSync(["shellcheck", ...scripts], { stdout: "pipe", stderr: "pipe" });
    expect(proc.stdout.toString() + proc.stderr.toString()).toBe("");
    expect(proc.exitCode).toBe(0);
  });
});

describe("the adapters check every helper call", () => {
  test("a refusal is an error carrying the helper's message, never a silent success", async () => {
    const privilege = testPrivilege(testRoot());
    const error = await privilege.helper(["systemctl", "kill", "sy-shop-blue.service"]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HelperError);
    expect((error as HelperError).refused).toBe(true);
    expect((error as HelperError).message).toBe("refusing systemctl verb kill");
    const host = helperSystemdHost(privilege);
    await expect(host.systemctl(["systemctl", "kill", "sy-shop-blue.service"])).rejects.toThrow("refusing systemctl verb kill");
    await expect(host.writeUnit("sy-shop-blue.service", unit.replace("User=switchyard-apps", "User=root"))).rejects.toThrow(
      "refusing User=root",
    );
  });

  test("the systemd host lists units through the helper", async () => {
    const root = testRoot();
    const host = helperSystemdHost(testPrivilege(root));
    await host.writeUnit("sy-shop-green.service", unit);
    expect(await host.listUnits()).toEqual(["sy-shop-green.service"]);
    await host.removeUnit("sy-shop-green.service");
    expect(await host.listUnits()).toEqual([]);
  });

  test("the system proxy installs and removes app files through the helper, and removes the app's sockets", async () => {
    const root = testRoot();
    const dataDir = join(root, "var/lib/switchyard");
    const proxy = createSystemProxy({
      dataDir,
      port: 80,
      tlsPort: 443,
      binary: "/bin/true",
      log: createLogger("silent"),
      privilege: testPrivilege(root),
      confDir: join(root, "etc/nginx/conf.d/switchyard"),
      logDir: join(root, "var/log/switchyard"),
    });
    await proxy.start();
    await proxy.configureApp("shop", { serverNames: ["shop.example.com"], preview: true });
    const file = join(root, "etc/nginx/conf.d/switchyard/shop.conf");
    expect(readFileSync(file, "utf8")).toContain("server_name shop.localhost shop.example.com;");
    for (const color of ["blue", "green"] as const) {
      writeFileSync(proxy.paths.slotSocket("shop", color), "");
      writeFileSync(controlSocketPath(proxy.paths.slotSocket("shop", color)), "");
    }
    proxy.switchTo("shop", "green");
    expect(proxy.liveColor("shop")).toBe("green");
    await proxy.removeApp("shop");
    for (const path of [
      file,
      proxy.paths.liveSocket("shop"),
      proxy.paths.slotSocket("shop", "blue"),
      proxy.paths.slotSocket("shop", "green"),
      controlSocketPath(proxy.paths.slotSocket("shop", "blue")),
      controlSocketPath(proxy.paths.slotSocket("shop", "green")),
    ])
      expect(existsSync(path), path).toBe(false);
  });
});

describe("every directive the nginx builders emit is one the helper accepts", () => {
  const allowed = (() => {
    const text = readFileSync(HELPER, "utf8");
    const m = /check_nginx\(\) \{[\s\S]*?local allowed=" ([^"]+) "/.exec(text);
    return new Set((m?.[1] ?? "").split(" "));
  })();
  /** The first word of every statement, as the helper splits them. */
  const directives = (text: string) =>
    text
      .replace(/#.*$/gm, "")
      .split(/[{};]/)
      .map((s) => s.trim().split(/\s+/)[0] ?? "")
      .filter(Boolean);

  const combinations: AppConfigOptions[] = [];
  for (const listenHost of ["0.0.0.0", "127.0.0.1", "[::]", "[::1]", "localhost"])
    for (const serverNames of [["shop.localhost"], ["shop.localhost", "shop.example.com", "*.example.com", "www.shop.example.com"]])
      for (const previewNames of [null, { blue: "shop--blue.localhost", green: "shop--green.localhost" }])
        for (const app of ["shop", "my-shop-2"])
          combinations.push({
            app,
            listenHost,
            port: listenHost === "0.0.0.0" ? 80 : 8080,
            serverNames,
            previewNames,
            liveSocket: `/var/lib/switchyard/sock/${app}.sock`,
            slotSockets: { blue: `/var/lib/switchyard/sock/${app}-blue.sock`, green: `/var/lib/switchyard/sock/${app}-green.sock` },
            accessLog: `/var/log/switchyard/${app}.access.log`,
            staticDir: `/var/lib/switchyard/static/${app}`,
          });

  test(`all ${combinations.length} option combinations pass the helper's check and are installed`, () => {
    expect(allowed.size).toBeGreaterThan(10);
    const seen = new Set<string>();
    for (const options of combinations) {
      const text = buildAppConfig(options);
      for (const word of directives(text)) seen.add(word);
      const r = helper(["nginx-install", options.app], text);
      expect(r.stderr, JSON.stringify(options)).toBe("");
      expect(r.code).toBe(0);
      expect(readFileSync(join(r.root, `etc/nginx/conf.d/switchyard/${options.app}.conf`), "utf8")).toBe(`${text.trimEnd()}\n`);
    }
    // The statements the builders write are all known to the helper; and the builders do write a
    // preview server, keep-alive settings and a retry policy, so those were checked too.
    expect([...seen].filter((w) => !allowed.has(w))).toEqual([]);
    for (const word of ["upstream", "server", "keepalive_time", "proxy_next_upstream_tries", "access_log", "try_files"])
      expect(seen.has(word)).toBe(true);
  });
});

describe("privileged helper: web instances and worker processes", () => {
  const worker = buildWorkerUnit({
    ...spec,
    type: "worker",
    index: 2,
    command: ["/bin/sh", "-c", "exec bun worker.ts"],
    volumes: [{ dir: "/var/lib/switchyard/apps/shop/volumes/data", mountAt: "/var/lib/switchyard/apps/shop/releases/rel-1/data" }],
    ioWeight: 50,
  });

  test("installs, lists and reads the journal of a slot's further web instances and its workers", () => {
    const root = testRoot();
    const web3 = buildSlotUnit({ ...spec, ports: [4100, 4101, 4102], instance: 3, ioWeight: 200 });
    for (const [name, text] of [
      [instanceUnitName("shop", "blue", "web", 3), web3],
      [instanceUnitName("shop", "blue", "worker", 2), worker],
      ["sy-shop-blue_mail-queue_32.service", worker],
    ] as const) {
      const r = helper(["unit-install", name], text, root);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    for (const name of ["sy-shop-blue.service", "sy-shop-blue-socket.service", "sshd.service"]) {
      writeFileSync(join(root, "etc/systemd/system", name), "");
    }
    expect(helper(["list"], "", root).stdout.split("\n").filter(Boolean).sort()).toEqual([
      "sy-shop-blue-socket.service",
      "sy-shop-blue.service",
      "sy-shop-blue_mail-queue_32.service",
      "sy-shop-blue_web_3.service",
      "sy-shop-blue_worker_2.service",
    ]);
    expect(helper(["systemctl", "restart", "sy-shop-blue_worker_2.service"]).stdout).toBe(
      "would run: systemctl restart sy-shop-blue_worker_2.service\n",
    );
    expect(helper(["journal", "sy-shop-green_web_2.service", "10"]).code).toBe(0);
    // The logs of every process of both slots: each slot's unit and the pattern of its others.
    const query = {
      units: ["sy-shop-blue.service", "sy-shop-blue_*.service", "sy-shop-green.service", "sy-shop-green_*.service"],
      lines: 10,
    };
    const r = helper(journalHelperArgs(query));
    expect(r.stderr).toBe("");
    // The helper prints what it would run shell-quoted; journalctl itself gets the pattern.
    expect(r.stdout).toBe(`would run: ${journalQueryArgv(query).join(" ").replaceAll("*", "\\*")}\n`);
  });

  test("refuses other names, and directives a worker unit does not need", () => {
    for (const name of [
      "sy-shop-blue_web_1.service",
      "sy-shop-blue_web_33.service",
      "sy-shop-blue_worker_0.service",
      "sy-shop-blue_worker_33.service",
      "sy-shop-blue_worker_.service",
      "sy-shop-blue_Worker_1.service",
      "sy-shop-blue_1worker_1.service",
      "sy-shop-blue_worker.service",
      "sy-shop-blue_worker_1-socket.service",
      "sy-shop-red_worker_1.service",
      `sy-shop-blue_${"w".repeat(31)}_1.service`,
      "sy-shop-blue_worker_1.service;id",
      "sy-shop-blue_../x_1.service",
    ]) {
      const r = helper(["unit-install", name], worker);
      expect(r.code, name).toBe(2);
      expect(r.stderr).toContain("refusing unit name");
    }
    for (const [from, to] of [
      ["UnsetEnvironment=PORT", "UnsetEnvironment=PATH"],
      ["IOWeight=50", "IOWeight=10001"],
      ["IOWeight=50", "IOWeight=0"],
      // A worker binds only its own app's volumes.
      ["BindPaths=/var/lib/switchyard/apps/shop/volumes/data:", "BindPaths=/var/lib/switchyard/apps/other/volumes/data:"],
    ] as const) {
      const r = helper(["unit-install", "sy-shop-blue_worker_2.service"], worker.replace(from, to));
      expect(r.code, to).toBe(2);
      expect(r.written).toEqual([]);
    }
  });
});
