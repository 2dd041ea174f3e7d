import { describe, expect, test } from "bun:test";
import { libpqEnv } from "../../backend/adapters/databases/backup-postgres.ts";
import { parseKeyspace, redisCountProblem } from "../../backend/adapters/databases/backup-redis.ts";
import { backupKey, backupsToPrune, countDifferences, parseSchedule, scheduleDue } from "../../backend/domain/backups.ts";

const day = 86_400_000;
const now = new Date("2026-06-01T12:00:00Z");
const at = (daysAgo: number) => new Date(now.getTime() - daysAgo * day);
type B = { id: string; status: "running" | "succeeded" | "failed"; verified: "pending" | "verified" | "failed"; startedAt: Date };
const good = (id: string, daysAgo: number): B => ({ id, status: "succeeded", verified: "verified", startedAt: at(daysAgo) });
const red = (id: string, daysAgo: number): B => ({ id, status: "failed", verified: "failed", startedAt: at(daysAgo) });

describe("schedules", () => {
  test("five-field cron expressions and nicknames are accepted; seconds, bad values and impossible dates are not", () => {
    expect(parseSchedule(" 0  3 * * * ")).toEqual({ ok: true, cron: "0 3 * * *" });
    expect(parseSchedule("@daily").ok).toBe(true);
    for (const bad of ["", "61 * * * *", "* * * * * *", "bogus", "0 0 31 2 *"]) expect(parseSchedule(bad).ok).toBe(false);
  });

  test("due once the first run after the last scheduled backup (or after the schedule was set) has come", () => {
    const set = new Date("2026-06-01T00:00:00Z");
    expect(scheduleDue("0 3 * * *", null, set, new Date("2026-06-01T02:59:00Z"))).toBe(false);
    expect(scheduleDue("0 3 * * *", null, set, new Date("2026-06-01T03:00:00Z"))).toBe(true);
    // The 03:00 run happened: not due again until tomorrow, even after a restart.
    const ran = new Date("2026-06-01T03:00:02Z");
    expect(scheduleDue("0 3 * * *", ran, set, new Date("2026-06-01T20:00:00Z"))).toBe(false);
    expect(scheduleDue("0 3 * * *", ran, set, new Date("2026-06-02T03:00:00Z"))).toBe(true);
    // Three days down: one catch-up run, not three.
    expect(scheduleDue("0 3 * * *", ran, set, new Date("2026-06-05T12:00:00Z"))).toBe(true);
  });
});

describe("retention", () => {
  test("keeps the newest good backups by count and by age; running ones are never touched", () => {
    const all = [
      good("a", 0),
      good("b", 1),
      good("c", 2),
      good("d", 3),
      { ...good("r", 0), status: "running" as const, verified: "pending" as const },
    ];
    expect(backupsToPrune(all, 2, 30, now).map((b) => b.id)).toEqual(["c", "d"]);
    expect(backupsToPrune(all, 10, 1.5, now).map((b) => b.id)).toEqual(["c", "d"]);
  });

  test("never removes the newest good backup, however old; failed ones go only once past the age limit", () => {
    const all = [red("x", 0), red("y", 40), good("old", 100), good("older", 200)];
    expect(
      backupsToPrune(all, 1, 30, now)
        .map((b) => b.id)
        .sort(),
    ).toEqual(["older", "y"]);
    expect(backupsToPrune([good("only", 365)], 1, 1, now)).toEqual([]);
  });
});

test("file keys sort by time and name the database", () => {
  expect(backupKey("shop-db", "0123456789abcdef", new Date("2026-06-01T03:04:05.678Z"), "dump")).toBe(
    "shop-db/20260601T030405Z-01234567.dump",
  );
});

test("table counts compared: missing, extra and different tables are all named", () => {
  expect(countDifferences({ "public.a": 1 }, { "public.a": 1 })).toEqual([]);
  expect(countDifferences({ "public.a": 1, "public.b": 2 }, { "public.a": 0, "public.c": 0 })).toEqual([
    "table public.a has 0 rows, expected 1",
    "table public.b is missing",
    "table public.c was not in the source",
  ]);
});

describe("redis key counts", () => {
  const ks = (keys: number, expires = 0) => ({ db0: { keys, expires } });
  test("INFO keyspace is read per database", () => {
    expect(parseKeyspace("# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=10\r\ndb3:keys=2,expires=0,avg_ttl=0\r\n")).toEqual({
      db0: { keys: 5, expires: 1 },
      db3: { keys: 2, expires: 0 },
    });
  });
  test("the restore must lie between the counts before and after the snapshot, less keys that may have expired", () => {
    expect(redisCountProblem(ks(10), ks(10), ks(10))).toBeNull();
    expect(redisCountProblem(ks(10), ks(10), ks(9))).toContain("9 keys");
    expect(redisCountProblem(ks(10), ks(12), ks(11))).toBeNull();
    expect(redisCountProblem(ks(10, 2), ks(10, 2), ks(8))).toBeNull();
    expect(redisCountProblem(ks(10), ks(10), {})).toContain("0 keys");
  });
});

test("libpq environment: the password goes in PGPASSWORD, decoded", () => {
  const env = libpqEnv("postgres://sy_shop:p%40ss%2Fword@127.0.0.1:5433/sy_shop?sslmode=require");
  expect(env).toMatchObject({
    PGHOST: "127.0.0.1",
    PGPORT: "5433",
    PGUSER: "sy_shop",
    PGPASSWORD: "p@ss/word",
    PGDATABASE: "sy_shop",
    PGSSLMODE: "require",
  });
});
