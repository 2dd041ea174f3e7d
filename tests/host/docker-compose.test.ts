import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNginx } from "../../backend/adapters/proxy/index.ts";

const root = join(import.meta.dir, "..", "..");

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  network_mode?: string;
  healthcheck?: { test: string[] };
}
const compose = Bun.YAML.parse(readFileSync(join(root, "docker-compose.yml"), "utf8")) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};

describe("docker-compose.yml (development environment)", () => {
  test("has the panel built from this checkout, Postgres and nginx", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["nginx", "panel", "postgres"]);
    const { panel, postgres, nginx } = compose.services as Record<string, Service>;
    expect(panel?.build?.context).toBe(".");
    expect(existsSync(join(root, panel?.build?.dockerfile ?? "missing"))).toBe(true);
    expect(postgres?.image).toMatch(/^postgres:\d+/);
    expect(postgres?.healthcheck?.test).toContain("pg_isready");
    expect(nginx?.image).toMatch(/^nginx:/);
    expect(nginx?.network_mode).toBe("service:panel");
  });

  test("references only services, volumes and files that exist", () => {
    const services = Object.keys(compose.services);
    for (const [name, s] of Object.entries(compose.services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const d of deps) expect(services, `${name} depends on ${d}`).toContain(d);
      if (s.network_mode?.startsWith("service:")) expect(services).toContain(s.network_mode.slice("service:".length));
      for (const v of s.volumes ?? []) {
        const source = v.split(":")[0] as string;
        if (source.startsWith(".")) expect(existsSync(join(root, source)), `${name} mounts ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name} uses volume ${source}`).toContain(source);
      }
      for (const p of s.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
  });

  test("the panel's database URL points at the compose Postgres with its credentials", () => {
    const env = compose.services.postgres?.environment ?? {};
    const url = new URL(compose.services.panel?.environment?.DATABASE_URL ?? "");
    expect(url.hostname).toBe("postgres");
    expect(url.username).toBe(env.POSTGRES_USER as string);
    expect(url.password).toBe(env.POSTGRES_PASSWORD as string);
    expect(url.pathname).toBe(`/${env.POSTGRES_DB}`);
  });

  test.skipIf(!findNginx())("its nginx configuration passes nginx -t", async () => {
    const prefix = mkdtempSync(join(tmpdir(), "sy-compose-nginx-"));
    try {
      mkdirSync(join(prefix, "logs"));
      const temps = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${prefix}/${t};`).join("\n    ");
      writeFileSync(
        join(prefix, "nginx.conf"),
        `pid ${prefix}/nginx.pid;\nerror_log ${prefix}/logs/error.log;\nevents {}\nhttp {\n    ${temps}\n    include ${join(root, "infrastructure/docker/nginx.conf")};\n}\n`,
      );
      const proc = Bun.spawnSync([findNginx() as string, "-t", "-p", prefix, "-c", join(prefix, "nginx.conf")], { stderr: "pipe" });
      expect(proc.stderr.toString()).toContain("test is successful");
      expect(proc.exitCode).toBe(0);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });
});
