import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
import { buildAppConfig, buildServerInclude } from "../../backend/commands/nginx.ts";

/** `nginx -t` of an http-level include, inside a throwaway prefix, as Debian's nginx.conf would include it. */
function nginxTest(include: (dir: string) => string): { ok: boolean; output: string } {
  const prefix = mkdtempSync(join(tmpdir(), "sy-server-nginx-"));
  try {
    mkdirSync(join(prefix, "logs"));
    const temps = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${prefix}/${t};`).join("\n    ");
    writeFileSync(join(prefix, "switchyard.conf"), include(prefix));
    writeFileSync(
      join(prefix, "nginx.conf"),
      `pid ${prefix}/nginx.pid;\nerror_log ${prefix}/logs/error.log;\nevents {}\nhttp {\n    ${temps}\n    include ${prefix}/switchyard.conf;\n}\n`,
    );
    const proc = Bun.spawnSync([findNginx() as string, "-t", "-p", prefix, "-c", join(prefix, "nginx.conf")], { stderr: "pipe" });
    return { ok: proc.exitCode === 0, output: proc.stderr.toString() };
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
}

describe.skipIf(!findNginx())("server-mode nginx files", () => {
  test("the installer's include and an app's file pass nginx -t together", () => {
    const result = nginxTest((dir) => {
      mkdirSync(join(dir, "apps"));
      writeFileSync(
        join(dir, "apps", "shop.conf"),
        buildAppConfig({
          app: "shop",
          listenHost: "0.0.0.0",
          port: 80,
          serverNames: ["shop.example.com"],
          previewNames: null,
          liveSocket: `${dir}/shop.sock`,
          slotSockets: { blue: `${dir}/shop-blue.sock`, green: `${dir}/shop-green.sock` },
          accessLog: `${dir}/logs/shop.access.log`,
          staticDir: `${dir}/static/shop`,
        }),
      );
      return buildServerInclude({
        panelSocket: `${dir}/panel.sock`,
        standbySocket: `${dir}/panel-standby.sock`,
        confDir: join(dir, "apps"),
        domain: "panel.example.com",
        acmeWebroot: join(dir, "acme"),
        routesDir: join(dir, "routes"),
      });
    });
    expect(result.output).toContain("test is successful");
    expect(result.ok).toBe(true);
  });

  test("with a certificate the panel is on https and port 80 redirects there", () => {
    const result = nginxTest((dir) => {
      mkdirSync(join(dir, "apps"));
      const tls = Bun.spawnSync(
        [
          "openssl",
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=panel.example.com",
          "-keyout",
          `${dir}/key.pem`,
          "-out",
          `${dir}/cert.pem`,
        ],
        { stderr: "pipe" },
      );
      expect(tls.exitCode).toBe(0);
      const text = buildServerInclude({
        panelSocket: `${dir}/panel.sock`,
        standbySocket: `${dir}/panel-standby.sock`,
        confDir: join(dir, "apps"),
        domain: "panel.example.com",
        acmeWebroot: join(dir, "acme"),
        routesDir: join(dir, "routes"),
        tls: { certificate: `${dir}/cert.pem`, key: `${dir}/key.pem` },
      });
      expect(text).toContain("return 301 https://$host$request_uri;");
      // The router is the default server on 443 (certificates by SNI); the panel's is named.
      expect(text.match(/listen 443 ssl default_server;/g)).toHaveLength(1);
      expect(text).toContain(`ssl_certificate ${dir}/routes/$sy_sni/tls/fullchain.pem;`);
      return text;
    });
    expect(result.output).toContain("test is successful");
    expect(result.ok).toBe(true);
  });

  test("a domain that is not a host name never reaches the file", () => {
    expect(() =>
      buildServerInclude({
        panelSocket: "/var/lib/switchyard/sock/panel.sock",
        standbySocket: "/var/lib/switchyard/sock/panel-standby.sock",
        confDir: "/etc/nginx/conf.d/switchyard",
        domain: "x; return 500",
        acmeWebroot: "/var/lib/switchyard/acme",
        routesDir: "/var/lib/switchyard/routes",
      }),
    ).toThrow("is not a valid host name");
  });
});
