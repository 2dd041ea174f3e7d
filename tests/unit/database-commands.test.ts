import { describe, expect, test } from "bun:test";
import { adminUrlOf } from "../../backend/adapters/databases/postgres.ts";
import {
  DatabaseNameError,
  postgresNames,
  quoteIdent,
  quoteLiteral,
  type RedisConfigOptions,
  redisConfigText,
  redisUnitName,
  redisUnitText,
} from "../../backend/commands/databases.ts";
import { loadConfig } from "../../backend/config.ts";

describe("postgres names and quoting", () => {
  test("role and database come from the name with a prefix, dashes as underscores", () => {
    expect(postgresNames("shop")).toEqual({ role: "sy_shop", database: "sy_shop" });
    expect(postgresNames("my-shop-2")).toEqual({ role: "sy_my_shop_2", database: "sy_my_shop_2" });
    // The longest name still fits PostgreSQL's 63-byte identifiers.
    expect(postgresNames(`a${"b".repeat(39)}`).role.length).toBeLessThanOrEqual(63);
  });

  test("names outside the app name rule are refused", () => {
    for (const bad of ["", "A", "shop_1", "1shop", "shop-", "x", 'a"; drop role postgres; --', `a${"b".repeat(40)}`, "sh op"]) {
      expect(() => postgresNames(bad)).toThrow(DatabaseNameError);
    }
  });

  test("identifiers and literals are quoted by doubling their quote", () => {
    expect(quoteIdent("sy_shop")).toBe('"sy_shop"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral("back\\slash")).toBe("'back\\slash'");
    expect(() => quoteIdent("a\0b")).toThrow(DatabaseNameError);
    expect(() => quoteLiteral("a\0b")).toThrow(DatabaseNameError);
  });
});

describe("redis config", () => {
  const base: RedisConfigOptions = {
    name: "cache",
    port: 41234,
    dir: "/data/databases/cache",
    user: "sy_cache",
    passwords: ["p".repeat(43)],
    maxmemory: "64mb",
    pidFile: "/data/databases/cache/redis.pid",
  };

  test("loopback, one ACL user, a memory cap that refuses writes, RDB and AOF, daemonized in local mode", () => {
    const lines = redisConfigText(base).split("\n");
    for (const line of [
      "bind 127.0.0.1",
      "port 41234",
      "dir /data/databases/cache",
      "daemonize yes",
      "pidfile /data/databases/cache/redis.pid",
      "maxmemory 64mb",
      "maxmemory-policy noeviction",
      "appendonly yes",
      "user default off",
      `user sy_cache on >${"p".repeat(43)} ~* &* +@all`,
    ]) {
      expect(lines).toContain(line);
    }
    expect(lines.filter((l) => l.startsWith("save ")).length).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith("requirepass"))).toBe(false);
  });

  test("during a rotation the user has both passwords; under systemd it stays in the foreground", () => {
    const text = redisConfigText({ ...base, passwords: ["a".repeat(43), "b".repeat(43)], pidFile: null });
    expect(text).toContain(`user sy_cache on >${"a".repeat(43)} >${"b".repeat(43)} ~* &* +@all`);
    expect(text).toContain("daemonize no");
    expect(text).not.toContain("pidfile");
  });

  test("values that could inject directives are refused", () => {
    for (const bad of [
      { passwords: ["short"] },
      { passwords: [`${"a".repeat(20)} ~* +@all\nuser evil on nopass`] },
      { passwords: [] },
      { maxmemory: "64mb\nsave" },
      { maxmemory: "lots" },
      { dir: "relative/dir" },
      { dir: "/data/with space" },
      { user: "Bad User" },
      { port: 0 },
      { name: "Bad_Name" },
    ] as Partial<RedisConfigOptions>[]) {
      expect(() => redisConfigText({ ...base, ...bad })).toThrow(DatabaseNameError);
    }
  });

  test("the unit runs redis-server in the foreground as the given user, never named like an app slot", () => {
    expect(redisUnitName("cache-blue")).toBe("sy-db-cache-blue-redis.service");
    const unit = redisUnitText({
      name: "cache",
      redisServer: "/usr/bin/redis-server",
      configFile: "/d/redis.conf",
      dir: "/d",
      user: "switchyard-apps",
    });
    expect(unit).toContain("ExecStart=/usr/bin/redis-server /d/redis.conf");
    expect(unit).toContain("User=switchyard-apps");
    expect(unit).toContain("ReadWritePaths=/d");
    expect(unit).toContain("ProtectSystem=strict");
  });
});

describe("the admin URL", () => {
  test("SWITCHYARD_DATABASE_ADMIN_URL must be a postgres URL; without it the panel's DATABASE_URL is used", () => {
    expect(() => loadConfig({ SWITCHYARD_DATABASE_ADMIN_URL: "mysql://x" })).toThrow(/SWITCHYARD_DATABASE_ADMIN_URL/);
    const both = loadConfig({
      SWITCHYARD_DATABASE_ADMIN_URL: "postgres://admin@db:5432/postgres",
      DATABASE_URL: "postgres://panel@db/panel",
    });
    expect(adminUrlOf(both)).toBe("postgres://admin@db:5432/postgres");
    expect(adminUrlOf(loadConfig({ DATABASE_URL: "postgres://panel@db/panel" }))).toBe("postgres://panel@db/panel");
    expect(adminUrlOf(loadConfig({}))).toBeNull();
  });
});
