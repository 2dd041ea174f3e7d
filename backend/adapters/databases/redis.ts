import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { redisConfigText, redisUnitName, redisUnitText } from "../../commands/databases.ts";
import { systemctlArgv } from "../../commands/systemd.ts";
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import { run } from "../exec.ts";
import { writeFileAtomic } from "../files.ts";
import { osFreePorts } from "../ports.ts";
import { processPrivilege } from "../privilege.ts";
import { isAlive, processStartTime } from "../runtime/process-state.ts";
import { directSystemdHost, helperSystemdHost, type SystemdHost } from "../runtime/systemd.ts";
import type { DatabaseEngine, EngineTarget } from "./engine.ts";

export const DEFAULT_MAXMEMORY = "64mb";
/** Server mode: Redis units run as the apps' user (the helper allows no other). */
const UNIT_USER = "switchyard-apps";
const REDIS_SERVER_CANDIDATES = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"];

function redisServerBinary(): string | null {
  const found = REDIS_SERVER_CANDIDATES.find((path) => existsSync(path)) ?? Bun.which("redis-server");
  return found ?? null;
}

export function redisUser(name: string): string {
  return `sy_${name.replaceAll("-", "_")}`;
}

interface Instance {
  host: string;
  port: number;
  dir: string;
  user: string;
  maxmemory: string;
}

export interface RedisEngineOptions {
  config: Pick<Config, "mode" | "dataDir">;
  log: Logger;
  /** Server mode: where units go (default: directly as root, else through the helper). */
  host?: SystemdHost;
}

/**
 * One redis-server per database with its own directory, config (0600, ACL user with the password)
 * and port on loopback. Local mode: a daemonized process that outlives the panel, adopted by pid
 * and start time. Server mode: a systemd unit `sy-db-<name>-redis.service`.
 */
export class RedisEngine implements DatabaseEngine {
  readonly engine = "redis" as const;
  private hostCache: SystemdHost | null = null;

  constructor(private readonly o: RedisEngineOptions) {}

  private get server(): boolean {
    return this.o.config.mode === "server";
  }

  private systemd(): SystemdHost {
    this.hostCache ??= this.o.host ?? (processPrivilege().root ? directSystemdHost() : helperSystemdHost(processPrivilege()));
    return this.hostCache;
  }

  dirOf(name: string): string {
    return join(this.o.config.dataDir, "databases", name);
  }

  private files(name: string) {
    const dir = this.dirOf(name);
    return { dir, conf: join(dir, "redis.conf"), pid: join(dir, "redis.pid"), start: join(dir, "redis.start") };
  }

  async availability(): Promise<{ available: boolean; reason: string | null }> {
    if (redisServerBinary()) return { available: true, reason: null };
    return {
      available: false,
      reason:
        "redis-server is not installed on this server: install it (Debian/Ubuntu: apt-get install redis-server), then reload this page.",
    };
  }

  private instance(t: EngineTarget): Instance {
    const c = t.config;
    const files = this.files(t.name);
    return {
      host: typeof c.host === "string" ? c.host : "127.0.0.1",
      port: typeof c.port === "number" ? c.port : 0,
      dir: typeof c.dir === "string" ? c.dir : files.dir,
      user: typeof c.user === "string" ? c.user : redisUser(t.name),
      maxmemory: typeof c.maxmemory === "string" ? c.maxmemory : DEFAULT_MAXMEMORY,
    };
  }

  private writeConfig(name: string, inst: Instance, passwords: string[]): void {
    const files = this.files(name);
    const text = redisConfigText({
      name,
      port: inst.port,
      dir: inst.dir,
      user: inst.user,
      passwords,
      maxmemory: inst.maxmemory,
      pidFile: this.server ? null : files.pid,
    });
    // Server mode: redis-server runs as the apps' user, which is in the panel's group.
    writeFileAtomic(files.conf, text, this.server ? 0o640 : 0o600);
  }

  async provision(name: string, password: string, log: (line: string) => void): Promise<Record<string, unknown>> {
    const binary = redisServerBinary();
    if (!binary) throw new Error((await this.availability()).reason ?? "redis-server is missing");
    const files = this.files(name);
    // Server mode: the apps' user (redis-server) writes here; setgid keeps its files in the panel's group.
    mkdirSync(files.dir, { recursive: true, mode: this.server ? 0o2770 : 0o700 });
    chmodSync(files.dir, this.server ? 0o2770 : 0o700);
    const earlier = existsSync(files.conf) ? /^port (\d+)$/m.exec(readFileSync(files.conf, "utf8")) : null;
    const port = earlier ? Number(earlier[1]) : (osFreePorts(1)[0] as number);
    const inst: Instance = { host: "127.0.0.1", port, dir: files.dir, user: redisUser(name), maxmemory: DEFAULT_MAXMEMORY };
    log(`${earlier ? "reusing" : "writing"} ${files.conf} (port ${port}, maxmemory ${inst.maxmemory}, RDB + AOF in ${files.dir})`);
    this.writeConfig(name, inst, [password]);
    const target: EngineTarget = { name, config: { ...inst }, password };
    await this.stopInstance(name);
    await this.start(target, binary, log);
    return { ...inst, persistence: "rdb+aof" };
  }

  private async start(t: EngineTarget, binary: string, log: (line: string) => void): Promise<void> {
    const files = this.files(t.name);
    const inst = this.instance(t);
    if (this.server) {
      const host = this.systemd();
      const unit = redisUnitName(t.name);
      await host.writeUnit(
        unit,
        redisUnitText({ name: t.name, redisServer: binary, configFile: files.conf, dir: inst.dir, user: UNIT_USER }),
      );
      await this.systemctl("daemon-reload");
      await this.systemctl("enable", unit);
      await this.systemctl("restart", unit);
      log(`started ${unit}`);
    } else {
      rmSync(files.pid, { force: true });
      // daemonize yes: the server forks away from the panel and keeps running after it stops.
      // Nothing of the panel's environment (its secrets): apps of the same user can read /proc/<pid>/environ.
      const result = await run([binary, files.conf], {
        capture: true,
        timeoutMs: 30_000,
        cwd: files.dir,
        env: { PATH: "/usr/local/bin:/usr/bin:/bin", LANG: process.env.LANG },
      });
      if (result.code !== 0)
        throw new Error(`redis-server did not start: ${(result.stderr || result.stdout).trim() || `exit ${result.code}`}`);
      const pid = await this.waitForPid(t.name);
      writeFileAtomic(files.start, `${pid} ${processStartTime(pid) ?? ""}\n`, 0o600);
      log(`started redis-server (pid ${pid}) on 127.0.0.1:${inst.port}`);
    }
    await this.waitReady(t);
  }

  private async systemctl(verb: Parameters<typeof systemctlArgv>[0], unit?: string): Promise<void> {
    const result = await this.systemd().systemctl(systemctlArgv(verb, unit));
    if (result.code !== 0 && !(verb === "stop" || verb === "disable")) {
      throw new Error(`systemctl ${verb} ${unit ?? ""} failed: ${(result.stderr || result.stdout).trim() || `exit ${result.code}`}`);
    }
  }

  private async waitForPid(name: string): Promise<number> {
    const files = this.files(name);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const pid = Number(existsSync(files.pid) ? readFileSync(files.pid, "utf8").trim() : 0);
      if (pid > 0 && isAlive(pid, null)) return pid;
      await Bun.sleep(25);
    }
    const logTail = existsSync(join(files.dir, "redis.log"))
      ? readFileSync(join(files.dir, "redis.log"), "utf8").split("\n").slice(-5).join(" ")
      : "";
    throw new Error(`redis-server for ${name} wrote no pid file within 30 s ${logTail}`.trim());
  }

  private async waitReady(t: EngineTarget): Promise<void> {
    const deadline = Date.now() + 30_000;
    let last: unknown = null;
    while (Date.now() < deadline) {
      try {
        await this.ping(t);
        return;
      } catch (error) {
        last = error;
        // LOADING while an append-only file is read back: wait for it.
        await Bun.sleep(50);
      }
    }
    throw new Error(`redis ${t.name} does not answer: ${(last as Error | null)?.message ?? "no answer"}`);
  }

  /** The running local server's pid, when the one recorded is still that process. */
  private livePid(name: string): number | null {
    const files = this.files(name);
    if (!existsSync(files.start)) return null;
    const [pidText, start] = readFileSync(files.start, "utf8").trim().split(" ");
    const pid = Number(pidText);
    if (!pid || !isAlive(pid, start || null)) return null;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return cmdline.includes("redis-server") ? pid : null;
    } catch {
      return null;
    }
  }

  /** Stops the instance; `discard`: its data is about to be deleted, so nothing is saved first. */
  private async stopInstance(name: string, discard = false): Promise<void> {
    if (this.server) {
      await this.systemctl("stop", redisUnitName(name));
      return;
    }
    const pid = this.livePid(name);
    if (!pid) return;
    try {
      // SIGTERM: redis-server saves its snapshot and exits (it stays up when that save fails).
      process.kill(pid, discard ? "SIGKILL" : "SIGTERM");
    } catch {}
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && isAlive(pid, null)) await Bun.sleep(25);
    if (isAlive(pid, null)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }

  private client(t: EngineTarget, password = t.password): Bun.RedisClient {
    const inst = this.instance(t);
    return new Bun.RedisClient(`redis://${encodeURIComponent(inst.user)}:${encodeURIComponent(password)}@${inst.host}:${inst.port}`, {
      autoReconnect: false,
      connectionTimeout: 5_000,
      enableOfflineQueue: false,
    });
  }

  private async command<T>(t: EngineTarget, fn: (client: Bun.RedisClient) => Promise<T>): Promise<T> {
    const client = this.client(t);
    try {
      await client.connect();
      return await fn(client);
    } finally {
      client.close();
    }
  }

  url(t: EngineTarget): string {
    const inst = this.instance(t);
    return `redis://${encodeURIComponent(inst.user)}:${encodeURIComponent(t.password)}@${inst.host}:${inst.port}`;
  }

  cli(t: EngineTarget): string {
    return `redis-cli -u '${this.url(t)}'`;
  }

  async ping(t: EngineTarget): Promise<void> {
    await this.command(t, async (client) => {
      const answer = await client.send("PING", []);
      if (answer !== "PONG") throw new Error(`PING answered ${String(answer)}`);
    });
  }

  async stats(t: EngineTarget): Promise<{ sizeBytes: number; connections: number }> {
    return this.command(t, async (client) => {
      const memory = String(await client.send("INFO", ["memory"]));
      const clients = String(await client.send("INFO", ["clients"]));
      const used = Number(/^used_memory:(\d+)/m.exec(memory)?.[1] ?? 0);
      // Our own connection is one of them.
      const connected = Math.max(0, Number(/^connected_clients:(\d+)/m.exec(clients)?.[1] ?? 1) - 1);
      return { sizeBytes: used, connections: connected };
    });
  }

  /**
   * Adds `next` beside the current password: apps still holding the old URL keep working until
   * they redeploy, then finishRotation drops the old one. Both are in the config file meanwhile,
   * so a restart in between keeps both too. Passwords still kept from an earlier rotation that
   * never finished (a failed deploy) stay as well, until a finish.
   */
  async rotatePassword(t: EngineTarget, next: string): Promise<void> {
    const inst = this.instance(t);
    await this.command(t, (client) => client.send("ACL", ["SETUSER", inst.user, `>${next}`]));
    const kept = this.configPasswords(t.name).filter((p) => p !== t.password && p !== next);
    this.writeConfig(t.name, inst, [...kept, t.password, next]);
  }

  /** The passwords the config file gives the ACL user. */
  private configPasswords(name: string): string[] {
    const conf = this.files(name).conf;
    if (!existsSync(conf)) return [];
    const line = /^user \S+ on (.*)$/m.exec(readFileSync(conf, "utf8"))?.[1] ?? "";
    return line
      .split(" ")
      .filter((word) => word.startsWith(">"))
      .map((word) => word.slice(1));
  }

  /** Leaves only `t.password` (the new one) valid. */
  async finishRotation(t: EngineTarget): Promise<void> {
    const inst = this.instance(t);
    await this.command(t, (client) => client.send("ACL", ["SETUSER", inst.user, "resetpass", `>${t.password}`]));
    this.writeConfig(t.name, inst, [t.password]);
  }

  async drop(t: EngineTarget): Promise<void> {
    const files = this.files(t.name);
    await this.stopInstance(t.name, true);
    if (this.server) await this.systemd().removeUnit(redisUnitName(t.name));
    rmSync(this.instance(t).dir, { recursive: true, force: true });
    rmSync(files.dir, { recursive: true, force: true });
  }

  /** Local mode: adopts the running server, or starts it again (after a reboot); server mode: starts the unit. */
  async ensureRunning(t: EngineTarget): Promise<void> {
    if (this.server) {
      await this.systemctl("start", redisUnitName(t.name));
      return;
    }
    if (this.livePid(t.name)) return;
    const binary = redisServerBinary();
    if (!binary) throw new Error("redis-server is not installed");
    if (!existsSync(this.files(t.name).conf)) throw new Error(`${this.files(t.name).conf} is missing`);
    this.o.log.info("starting a database's redis-server again", { database: t.name });
    await this.start(t, binary, () => {});
  }

  /** Whether the instance runs (local: the recorded process; server: the unit is active). */
  async running(t: EngineTarget): Promise<boolean> {
    if (!this.server) return this.livePid(t.name) !== null;
    const result = await this.systemd().systemctl(systemctlArgv("is-active", redisUnitName(t.name)));
    return result.stdout.trim() === "active";
  }

  async close(): Promise<void> {}
}
