import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildAppConfig, buildMainConfig, nginxArgv } from "../commands/nginx.ts";
import type { Logger } from "../log.ts";
import { run } from "./exec.ts";
import { replaceSymlink, writeFileAtomic } from "./files.ts";
import type { Color } from "./runtime/types.ts";

export class NginxError extends Error {
  override name = "NginxError";
}

export interface ProxyPaths {
  /** The symlink nginx's upstream uses; the switch replaces it. */
  liveSocket(app: string): string;
  slotSocket(app: string, color: Color): string;
  accessLog(app: string): string;
}

export interface AppProxy {
  readonly enabled: boolean;
  /** Why it is disabled, in words for the user (e.g. nginx is not installed). */
  readonly problem: string | null;
  readonly paths: ProxyPaths;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Writes the app's file, tests the whole config, reloads; on any failure the previous file is put back. */
  configureApp(app: string, options: { serverNames: string[]; preview: boolean }): Promise<void>;
  removeApp(app: string): Promise<void>;
  /** Moves the app's traffic to a slot: one atomic symlink replacement, no reload. */
  switchTo(app: string, color: Color): void;
  liveColor(app: string): Color | null;
  /** The app's main address, for people. */
  appUrl(app: string): string;
  previewUrl(app: string, color: Color): string;
}

export interface LocalProxyOptions {
  dataDir: string;
  port: number;
  host?: string;
  binary?: string | null;
  log: Logger;
  /**
   * Server mode: the system's nginx, which the panel neither starts nor stops. App files go to
   * `confDir` (/etc/nginx/conf.d/switchyard), included by the installer's
   * infrastructure/nginx/switchyard.conf, which also defines the access-log format.
   */
  system?: { confDir: string; logDir: string } | null;
  /**
   * Server mode without root: app files go through the privileged helper (`nginx-install APP`,
   * which writes, tests, reloads and puts the old file back when nginx refuses).
   */
  privileged?: ((args: string[], stdin?: string) => Promise<{ code: number | null; stderr: string }>) | null;
}

/** A name no real site has (.invalid is reserved), for the reload marker. */
const GENERATION_HOST = "generation.switchyard.invalid";

export function findNginx(): string | null {
  for (const candidate of [process.env.SWITCHYARD_NGINX, Bun.which("nginx"), "/usr/sbin/nginx"]) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  return null;
}

export function proxyPaths(dataDir: string, logDir: string): ProxyPaths {
  // Unix socket paths are limited to 107 bytes; a short directory keeps room for long app names.
  const sockets = join(dataDir, "sock");
  return {
    liveSocket: (app) => join(sockets, `${app}.sock`),
    slotSocket: (app, color) => join(sockets, `${app}-${color}.sock`),
    accessLog: (app) => join(logDir, `${app}.access.log`),
  };
}

/**
 * The panel's own nginx (local mode): a private prefix under the data dir, listening on
 * 127.0.0.1:<proxy port>, apps at http://<app>.localhost:<port>. It outlives a crashed panel
 * (the next start adopts it by its pid file) and stops with a panel that stops normally.
 */
export function createLocalProxy(o: LocalProxyOptions): AppProxy {
  const binary = o.binary === undefined ? findNginx() : o.binary;
  const prefix = join(o.dataDir, "nginx");
  const system = o.system ?? null;
  const confDir = system?.confDir ?? join(prefix, "conf.d");
  const conf = join(prefix, "nginx.conf");
  const logDir = system?.logDir ?? join(prefix, "logs");
  const host = o.host ?? "127.0.0.1";
  /** Where the panel itself reaches nginx (a wildcard listen address is not one to connect to). */
  const probeHost = host === "0.0.0.0" ? "127.0.0.1" : host;
  const paths = proxyPaths(o.dataDir, logDir);
  const problem = binary
    ? null
    : "nginx is not installed, so apps are only reachable on their slot ports. Install it (apt-get install nginx) and restart the panel.";

  const exec = async (action: "start" | "test" | "reload" | "quit") => {
    if (!binary) throw new NginxError(problem ?? "nginx is not installed");
    const argv = system ? [binary, ...(action === "test" ? ["-t", "-q"] : ["-s", action])] : nginxArgv(binary, prefix, conf, action);
    const result = await run(argv, { capture: true, timeoutMs: 15_000 });
    if (result.code !== 0)
      throw new NginxError(`nginx ${action} failed: ${(result.stderr || result.stdout).trim().replaceAll(prefix, "<nginx>")}`);
  };
  const running = (): boolean => {
    if (system) return true;
    try {
      const pid = Number.parseInt(readFileSync(join(prefix, "nginx.pid"), "utf8"), 10);
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  /**
   * `nginx -s reload` returns once the signal is sent, and a reload that fails (a port already in
   * use) still returns 0 and keeps the old config. So each reload carries a new generation number
   * in a marker server, and we wait until nginx answers with it.
   */
  let generation = 0;
  const writeGeneration = () => {
    generation = Date.now();
    writeFileAtomic(
      join(confDir, "00-generation.conf"),
      `server {\n    listen ${host}:${o.port};\n    server_name ${GENERATION_HOST};\n    access_log off;\n    return 200 "${generation}";\n}\n`,
    );
  };
  const confirmGeneration = async (what: string) => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`http://${probeHost}:${o.port}/`, {
          headers: { host: GENERATION_HOST },
          signal: AbortSignal.timeout(1000),
        });
        if ((await res.text()) === String(generation)) return;
      } catch {}
      await Bun.sleep(25);
    }
    const errors = system ? null : readErrorsSince(join(logDir, "error.log"), errorMark);
    throw new NginxError(`nginx did not take the new configuration after ${what}${errors ? `: ${errors}` : ""}`);
  };
  let errorMark = 0;
  const reloadAndConfirm = async () => {
    errorMark = sizeOf(join(logDir, "error.log"));
    writeGeneration();
    await exec("reload");
    await confirmGeneration("reload");
  };

  return {
    enabled: binary !== null,
    problem,
    paths,
    async start() {
      if (!binary) {
        o.log.warn(problem ?? "nginx missing");
        return;
      }
      if (system) {
        mkdirSync(join(o.dataDir, "sock"), { recursive: true });
        if (o.privileged) {
          o.log.info("using the system nginx through the helper", { confDir, port: o.port });
          return;
        }
        await exec("test");
        await reloadAndConfirm();
        o.log.info("using the system nginx", { confDir, port: o.port });
        return;
      }
      for (const dir of [confDir, logDir, join(prefix, "tmp"), join(o.dataDir, "sock")]) mkdirSync(dir, { recursive: true });
      writeFileAtomic(
        conf,
        buildMainConfig({ prefix, confDir, listenHost: host, port: o.port, user: process.getuid?.() === 0 ? "root" : null }),
      );
      await exec("test");
      if (running()) {
        await reloadAndConfirm();
        o.log.info("adopted the running nginx", { port: o.port });
      } else {
        errorMark = sizeOf(join(logDir, "error.log"));
        writeGeneration();
        await exec("start");
        await confirmGeneration("start");
        o.log.info("nginx started", { url: `http://${host}:${o.port}` });
      }
    },
    async stop() {
      if (binary && !system && running()) await exec("quit").catch((error: unknown) => o.log.warn("nginx quit failed", { error }));
    },
    async configureApp(app, options) {
      const file = join(confDir, `${app}.conf`);
      const text = buildAppConfig({
        app,
        listenHost: host,
        port: o.port,
        serverNames: [`${app}.localhost`, ...options.serverNames],
        previewNames: options.preview ? { blue: `${app}--blue.localhost`, green: `${app}--green.localhost` } : null,
        liveSocket: paths.liveSocket(app),
        slotSockets: { blue: paths.slotSocket(app, "blue"), green: paths.slotSocket(app, "green") },
        accessLog: paths.accessLog(app),
      });
      const previous = existsSync(file) ? readFileSync(file, "utf8") : null;
      if (previous === text && running()) return;
      if (system && o.privileged) {
        const result = await o.privileged(["nginx-install", app], text);
        if (result.code !== 0)
          throw new NginxError(result.stderr.trim().replace(/^switchyard-helper: /, "") || "nginx refused the configuration");
        return;
      }
      writeFileAtomic(file, text);
      try {
        await exec("test");
        await reloadAndConfirm();
      } catch (error) {
        if (previous === null) rmSync(file, { force: true });
        else writeFileAtomic(file, previous);
        await exec("reload").catch(() => {});
        throw error;
      }
    },
    async removeApp(app) {
      const file = join(confDir, `${app}.conf`);
      if (system && o.privileged) {
        if (existsSync(file)) await o.privileged(["nginx-remove", app]);
        rmSync(paths.liveSocket(app), { force: true });
        return;
      }
      if (existsSync(file)) {
        rmSync(file, { force: true });
        if (running()) await exec("reload").catch(() => {});
      }
      rmSync(paths.liveSocket(app), { force: true });
    },
    switchTo(app, color) {
      replaceSymlink(paths.liveSocket(app), paths.slotSocket(app, color));
    },
    liveColor(app) {
      try {
        const target = readlinkSync(paths.liveSocket(app));
        return target.endsWith("-blue.sock") ? "blue" : target.endsWith("-green.sock") ? "green" : null;
      } catch {
        return null;
      }
    },
    appUrl: (app) => `http://${app}.localhost:${o.port}`,
    previewUrl: (app, color) => `http://${app}--${color}.localhost:${o.port}`,
  };
}

function sizeOf(path: string): number {
  try {
    return Bun.file(path).size;
  } catch {
    return 0;
  }
}

function readErrorsSince(path: string, offset: number): string | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8").slice(offset);
  } catch {
    return null;
  }
  const lines = text.split("\n").filter((l) => /\[(emerg|alert|crit)\]/.test(l));
  return lines.length ? lines.map((l) => l.replace(/^.*?\[(emerg|alert|crit)\] \d+#\d+: /, "")).join("; ") : null;
}
