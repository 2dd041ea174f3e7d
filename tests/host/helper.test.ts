import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAppConfig } from "../../backend/commands/nginx.ts";
import { buildSlotUnit, buildSocketUnit } from "../../backend/commands/systemd.ts";
import { SLOT_UNIT_SPEC } from "../helpers/fixtures.ts";

const HELPER = join(import.meta.dir, "..", "..", "infrastructure", "helper", "switchyard-helper");
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Runs the real helper with everything under a fresh test root (it then prints commands instead of running them). */
function helper(args: string[], stdin = "") {
  const root = mkdtempSync(join(tmpdir(), "sy-helper-"));
  roots.push(root);
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
    expect(helper(["certbot-issue", "shop.example.com", "ops@example.com"]).stdout).toContain("--domain shop.example.com");
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

  test("panel verbs and slots outside blue and green", () => {
    for (const verb of ["kill", "mask", "edit", "--now", "stop;id", "is-active"]) refused(["panel", verb, "blue"]);
    for (const slot of ["red", "blue;id", "../blue", "blue green", "Blue", "", "blue\n"]) refused(["panel", "stop", slot]);
    refused(["panel", "stop"]);
    refused(["panel", "stop", "blue", "green"]);
  });

  test("systemctl verbs, journal line counts", () => {
    for (const verb of ["kill", "mask", "--now", "start;id", "edit"]) refused(["systemctl", verb, "sy-shop-blue.service"]);
    for (const lines of ["0", "5001", "1e3", "10;id", "-5", ""]) refused(["journal", "sy-shop-blue.service", lines]);
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

  test("domains and emails for certbot", () => {
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
      "*.example.com",
    ]) {
      refused(["certbot-issue", domain, "ops@example.com"]);
    }
    for (const email of ["a@b", "x@y.com;id", "--email", "a b@example.com"]) refused(["certbot-issue", "shop.example.com", email]);
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
