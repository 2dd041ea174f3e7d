/** Pure builders for app databases: names, quoting, the Redis config file and unit. */

const NAME = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/;

export class DatabaseNameError extends Error {
  override name = "DatabaseNameError";
}

function checked(name: string): string {
  if (!NAME.test(name)) throw new DatabaseNameError(`"${name}" is not a valid database name`);
  return name;
}

/**
 * The PostgreSQL role and database of an app database: `sy_<name>` with dashes as underscores.
 * App names have no underscores, so two names never map to one identifier.
 */
export function postgresNames(name: string): { role: string; database: string } {
  const id = `sy_${checked(name).replaceAll("-", "_")}`;
  return { role: id, database: id };
}

/** A double-quoted SQL identifier. */
export function quoteIdent(value: string): string {
  if (value.includes("\0")) throw new DatabaseNameError("an identifier must not contain NUL");
  return `"${value.replaceAll('"', '""')}"`;
}

/** A single-quoted SQL string literal (standard_conforming_strings: backslashes are plain). */
export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new DatabaseNameError("a literal must not contain NUL");
  return `'${value.replaceAll("'", "''")}'`;
}

/** The COMMENT a role gets, so a later provision can tell its own role from someone else's. */
export function roleComment(name: string): string {
  return `switchyard database ${checked(name)}`;
}

export interface RedisConfigOptions {
  name: string;
  port: number;
  dir: string;
  /** The ACL user apps and the panel log in as. */
  user: string;
  /** One password normally; two while a rotation waits for the attached apps to redeploy. */
  passwords: string[];
  maxmemory: string;
  /** Local mode: redis-server forks into the background and writes this pid file. */
  pidFile: string | null;
}

const MEMORY = /^[1-9][0-9]{0,9}(kb|mb|gb)?$/i;
const USER = /^[a-z_][a-z0-9_]{0,62}$/;
const PASSWORD = /^[A-Za-z0-9_-]{16,128}$/;

function path(value: string, what: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
  if (!value.startsWith("/") || /[\0-\x1f\x7f"\s]/.test(value))
    throw new DatabaseNameError(`${what} must be an absolute path without spaces: ${value}`);
  return value;
}

/**
 * redis.conf for one instance: loopback only, the default user off and one ACL user, a memory cap
 * that refuses writes rather than dropping keys, RDB snapshots and an append-only file.
 */
export function redisConfigText(o: RedisConfigOptions): string {
  checked(o.name);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new DatabaseNameError(`bad port ${o.port}`);
  if (!MEMORY.test(o.maxmemory)) throw new DatabaseNameError(`bad maxmemory ${o.maxmemory}`);
  if (!USER.test(o.user)) throw new DatabaseNameError(`bad user ${o.user}`);
  if (o.passwords.length === 0 || o.passwords.some((p) => !PASSWORD.test(p))) throw new DatabaseNameError("bad password");
  const lines = [
    `# Switchyard database ${o.name}; written by the panel, rewritten on password rotation.`,
    "bind 127.0.0.1",
    "protected-mode yes",
    `port ${o.port}`,
    `dir ${path(o.dir, "dir")}`,
    o.pidFile ? "daemonize yes" : "daemonize no",
    ...(o.pidFile ? [`pidfile ${path(o.pidFile, "pidfile")}`] : []),
    `logfile ${o.pidFile ? `${path(o.dir, "dir")}/redis.log` : '""'}`,
    "databases 16",
    `maxmemory ${o.maxmemory}`,
    "maxmemory-policy noeviction",
    "save 3600 1",
    "save 300 100",
    "save 60 10000",
    "dbfilename dump.rdb",
    "appendonly yes",
    "appendfsync everysec",
    "user default off",
    `user ${o.user} on ${o.passwords.map((p) => `>${p}`).join(" ")} ~* &* +@all`,
    "",
  ];
  return lines.join("\n");
}

/** The systemd unit of a Redis database (server mode); never matches an app slot's unit name. */
export function redisUnitName(name: string): string {
  return `sy-db-${checked(name)}-redis.service`;
}

export function redisUnitText(o: { name: string; redisServer: string; configFile: string; dir: string; user: string }): string {
  checked(o.name);
  return [
    "[Unit]",
    `Description=Switchyard database ${o.name} (Redis)`,
    "After=network.target",
    "",
    "[Service]",
    "Type=simple",
    `User=${o.user}`,
    // Files it writes stay the panel group's (the directory is setgid), so the panel can back up and remove them.
    "UMask=0007",
    `WorkingDirectory=${path(o.dir, "dir")}`,
    `ExecStart=${path(o.redisServer, "redis-server")} ${path(o.configFile, "config file")}`,
    "Restart=on-failure",
    "RestartSec=2",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    `ReadWritePaths=${o.dir}`,
    `SyslogIdentifier=sy-db-${o.name}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}
