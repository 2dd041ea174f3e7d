import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";

const INSTALL = join(import.meta.dir, "..", "..", "install.sh");
/** What an install would create; a check must leave every one of them as it was. */
const TOUCHED = [
  "/opt/switchyard",
  "/etc/switchyard",
  "/var/lib/switchyard",
  "/etc/sudoers.d/switchyard",
  "/etc/systemd/system/switchyard@.service",
  "/etc/nginx/conf.d/switchyard.conf",
];
const snapshot = () =>
  TOUCHED.map((p) => `${p}:${existsSync(p)}`).concat(`user:${Bun.spawnSync(["id", "-u", "switchyard"]).exitCode === 0}`);

function install(args: string[], env: Record<string, string> = {}, asUser?: string) {
  const argv = asUser
    ? ["setpriv", `--reuid=${asUser}`, "--regid=nogroup", "--clear-groups", "bash", INSTALL, ...args]
    : ["bash", INSTALL, ...args];
  const proc = Bun.spawnSync(argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

describe.skipIf(process.getuid?.() !== 0 || !Bun.which("ss"))("install.sh --check", () => {
  test("a machine that falls short: non-zero, each problem named on its own line, nothing changed", () => {
    const before = snapshot();
    const taken = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
    try {
      const r = install(["--check"], {
        SWITCHYARD_INSTALL_MIN_DISK_GB: "999999",
        SWITCHYARD_INSTALL_MIN_RAM_MB: "99999999",
        SWITCHYARD_INSTALL_PORTS: String(taken.port),
        SWITCHYARD_ACME_SERVER: "https://127.0.0.1:14000/dir",
        SWITCHYARD_ACME_CA_BUNDLE: "/nonexistent/pebble.pem",
      });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trim().split("\n");
      expect(lines[0]).toBe("install.sh: this machine is not ready for Switchyard:");
      expect(lines.at(-1)).toBe("Nothing was changed.");
      expect(r.stderr).toMatch(/ {2}- only \d+ GB free on \/var\/lib: at least 999999 GB needed\n/);
      expect(r.stderr).toMatch(/ {2}- only \d+ GB free on \/opt: at least 999999 GB needed\n/);
      expect(r.stderr).toMatch(/ {2}- only \d+ MB of memory: at least 99999999 MB needed\n/);
      // The listener is this test's own process (bun, or bun.exe as npm installs it).
      expect(r.stderr).toMatch(
        new RegExp(` {2}- port ${taken.port} is in use by bun(\\.exe)?: nginx must be the one serving ports 80 and 443\n`),
      );
      if (!existsSync("/run/systemd/system")) expect(r.stderr).toContain("  - systemd is not running as PID 1");
      expect(r.stderr).toContain("  - SWITCHYARD_ACME_CA_BUNDLE /nonexistent/pebble.pem cannot be read\n");
    } finally {
      taken.stop(true);
    }
    expect(snapshot()).toEqual(before);
  });

  test("not root: said first, and nothing changed", () => {
    const before = snapshot();
    const r = install(["--check"], {}, "nobody");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("  - not running as root: run it with sudo\n");
    expect(snapshot()).toEqual(before);
  });

  test("bad options are refused before anything runs", () => {
    expect(install(["--check", "--domain", "a b"]).stderr).toBe("install.sh: --domain 'a b' is not a host name like panel.example.com\n");
    expect(install(["--check", "--domain", "panel.example.com"]).stderr).toBe(
      "install.sh: --domain needs --email (Let's Encrypt's contact address)\n",
    );
    expect(install(["--frobnicate"]).stderr).toBe("install.sh: unknown option '--frobnicate' (see --help)\n");
    expect(install(["--version", "--upload-pack=x"]).code).toBe(1);
    expect(install(["--help"]).stdout).toContain("--check                 only check this machine; change nothing");
    // The ACME settings go into env files the installer sources: nothing a shell would act on.
    expect(install(["--check"], { SWITCHYARD_ACME_SERVER: "https://ca.example/dir;touch /tmp/x" }).stderr).toBe(
      "install.sh: SWITCHYARD_ACME_SERVER 'https://ca.example/dir;touch /tmp/x' is not an http(s) URL of letters, digits and . : / _ -\n",
    );
    expect(
      install(["--check"], { SWITCHYARD_ACME_SERVER: "https://ca.example/dir", SWITCHYARD_ACME_CA_BUNDLE: "/etc/$(id).pem" }).code,
    ).toBe(1);
  });
});
