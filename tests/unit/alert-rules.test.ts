import { describe, expect, test } from "bun:test";
import {
  alertMessage,
  appCpuPercent,
  appMemoryPercent,
  DEFAULT_RULES,
  diskPercent,
  errorRate,
  latencyP95,
  MIN_REQUESTS,
  parseQuota,
  parseSize,
  pressure,
  REMIND_EVERY_MS,
  type RequestRow,
  serverMemoryPercent,
  shouldTell,
  subjectsOf,
  transition,
  windowRange,
} from "../../backend/domain/alert-rules.ts";
import { encodeSketch, newSketch } from "../../backend/domain/metrics.ts";

const row = (requests: number, s5xx: number, latencies: number[] = []): RequestRow => {
  const sketch = newSketch();
  for (const ms of latencies) sketch.accept(ms);
  return { requests, s5xx, timed: latencies.length, sketch: latencies.length ? encodeSketch(sketch) : null };
};
const rule = { operator: ">" as const, threshold: 5 };

describe("values over a window", () => {
  test("the 5xx rate is 5xx / all requests, in percent, across the window's rows", () => {
    expect(errorRate([row(100, 3), row(100, 9)])).toBe(6);
    expect(errorRate([row(40, 0)])).toBe(0);
  });

  test("too few requests tell nothing: 1 of 1 failing is no rate", () => {
    expect(errorRate([row(1, 1)])).toBeNull();
    expect(errorRate([row(MIN_REQUESTS - 1, MIN_REQUESTS - 1)])).toBeNull();
    expect(errorRate([row(MIN_REQUESTS, 1)])).toBe(5);
    expect(errorRate([])).toBeNull();
  });

  test("p95 merges the rows' sketches (within the sketch's 2%), and needs enough timed requests", () => {
    const fast = Array.from({ length: 90 }, () => 10);
    const slow = Array.from({ length: 10 }, () => 1000);
    const p95 = latencyP95([row(90, 0, fast), row(10, 0, slow)]);
    expect(p95).toBeGreaterThan(980);
    expect(p95).toBeLessThan(1020);
    expect(latencyP95([row(5, 0, [2000, 2000, 2000, 2000, 2000])])).toBeNull();
  });

  test("memory is the fullest slot's mean against the app's limit, else against the server", () => {
    const slots = new Map([
      ["blue", [{ samples: 6, values: { memory: 400 * 1024 ** 2 } }]],
      ["green", [{ samples: 6, values: { memory: 100 * 1024 ** 2 } }]],
    ]);
    expect(appMemoryPercent(slots, parseSize("512M"), 8 * 1024 ** 3)).toBe(78.13);
    expect(appMemoryPercent(slots, null, 1024 ** 3)).toBe(39.06);
    expect(appMemoryPercent(new Map(), parseSize("512M"), 1024 ** 3)).toBeNull();
  });

  test("memory means are weighted by samples; a null sample is not a zero", () => {
    const system = [
      { samples: 6, values: { memoryUsed: 900, memoryTotal: 1000 } },
      { samples: 2, values: { memoryUsed: 500, memoryTotal: 1000 } },
      { samples: 1, values: { memoryUsed: null, memoryTotal: 1000 } },
    ];
    expect(serverMemoryPercent(system)).toBe(80);
  });

  test("CPU against the quota when set, else the server's cores", () => {
    const slots = new Map([["blue", [{ samples: 6, values: { cpu: 0.5 } }]]]);
    expect(appCpuPercent(slots, parseQuota("50%"), 4)).toBe(100);
    expect(appCpuPercent(slots, null, 4)).toBe(12.5);
  });

  test("disk is the fullest mount of the newest row that measured disks; PSI is averaged", () => {
    const system = [
      { samples: 6, values: { disks: [{ mount: "/", used: 10, size: 100 }], psiMemory: 10 } },
      {
        samples: 6,
        values: {
          disks: [
            { mount: "/", used: 50, size: 100 },
            { mount: "/var", used: 90, size: 100 },
          ],
          psiMemory: 30,
        },
      },
      { samples: 6, values: { psiMemory: null } },
    ];
    expect(diskPercent(system)).toBe(90);
    expect(pressure(system, "psiMemory")).toBe(20);
    expect(diskPercent([])).toBeNull();
  });

  test("sizes and quotas as systemd writes them", () => {
    expect(parseSize("2G")).toBe(2 * 1024 ** 3);
    expect(parseSize("1048576")).toBe(1048576);
    expect(parseSize("lots")).toBeNull();
    expect(parseSize(null)).toBeNull();
    expect(parseQuota("150%")).toBe(1.5);
    expect(parseQuota("0%")).toBeNull();
  });

  test("a window reads every minute bucket that overlaps it, the current one included", () => {
    const now = Date.UTC(2025, 0, 1, 12, 0, 30);
    expect(windowRange(now, 60)).toEqual({ from: new Date(Date.UTC(2025, 0, 1, 11, 59)), to: new Date(now) });
    expect(windowRange(now, 180).from).toEqual(new Date(Date.UTC(2025, 0, 1, 11, 57)));
  });
});

describe("subjects", () => {
  const apps = [
    { id: "a1", name: "shop" },
    { id: "a2", name: "blog" },
  ];
  test("request metrics watch one app, or every app", () => {
    expect(subjectsOf({ metric: "http_5xx_rate", appId: "a2" }, apps)).toEqual([{ kind: "app", appId: "a2", app: "blog" }]);
    expect(subjectsOf({ metric: "http_5xx_rate", appId: null }, apps).map((s) => (s.kind === "app" ? s.app : "server"))).toEqual([
      "shop",
      "blog",
    ]);
  });
  test("server metrics watch the server; memory and CPU with no app watch the server and every app", () => {
    expect(subjectsOf({ metric: "disk_percent", appId: null }, apps)).toEqual([{ kind: "server" }]);
    expect(subjectsOf({ metric: "memory_percent", appId: null }, apps).map((s) => (s.kind === "app" ? s.app : "server"))).toEqual([
      "server",
      "shop",
      "blog",
    ]);
    expect(subjectsOf({ metric: "http_5xx_rate", appId: "gone" }, apps)).toEqual([]);
  });
});

describe("transitions", () => {
  const open = { id: "x", ackedAt: null, snoozedUntil: null };
  test("crossing fires; staying over keeps with the new value; falling back resolves", () => {
    expect(transition(null, rule, 6)).toEqual({ kind: "fire", value: 6 });
    expect(transition(null, rule, 5)).toEqual({ kind: "none" });
    expect(transition(open, rule, 7)).toEqual({ kind: "keep", value: 7 });
    expect(transition(open, rule, 5)).toEqual({ kind: "resolve", value: 5 });
    expect(transition(null, { operator: "<", threshold: 10 }, 3)).toEqual({ kind: "fire", value: 3 });
  });
  test("no data holds the state: an open alert neither resolves nor fires again", () => {
    expect(transition(open, rule, null)).toEqual({ kind: "none" });
    expect(transition(null, rule, null)).toEqual({ kind: "none" });
  });
});

describe("who is told", () => {
  const now = Date.UTC(2025, 0, 1, 12);
  const plain = { ackedAt: null, snoozedUntil: null };
  const acked = { ackedAt: new Date(now - 1000), snoozedUntil: null };
  const snoozedAlert = { ackedAt: null, snoozedUntil: new Date(now + 60_000) };
  test("firing tells unless acknowledged or snoozed; resolving tells after an acknowledgement, not while snoozed", () => {
    expect(shouldTell("fire", plain, now)).toBe(true);
    expect(shouldTell("fire", snoozedAlert, now)).toBe(false);
    expect(shouldTell("resolve", acked, now)).toBe(true);
    expect(shouldTell("resolve", snoozedAlert, now)).toBe(false);
    expect(shouldTell("resolve", { ackedAt: null, snoozedUntil: new Date(now - 1) }, now)).toBe(true);
  });
  test("reminders: after REMIND_EVERY_MS (or the rule's longer interval), never once acknowledged", () => {
    const long = new Date(now - REMIND_EVERY_MS);
    expect(shouldTell("remind", plain, now, long, 900)).toBe(true);
    expect(shouldTell("remind", plain, now, new Date(now - REMIND_EVERY_MS + 1), 900)).toBe(false);
    expect(shouldTell("remind", plain, now, long, 8 * 3600)).toBe(false);
    expect(shouldTell("remind", acked, now, long, 900)).toBe(false);
  });
});

describe("messages", () => {
  const r = { name: "5xx rate above 5%", metric: "http_5xx_rate" as const, operator: ">" as const, threshold: 5, windowSeconds: 180 };
  test("a firing alert says what crossed, where, and links to the Alerts page", () => {
    const built = alertMessage({ kind: "fire", rule: r, app: "shop", value: 42.5, now: 0 });
    expect(built.event).toBe("alert.firing");
    expect(built.message).toEqual({
      severity: "warning",
      title: "Alert: 5xx rate above 5% on shop",
      text: "5xx rate of shop is 42.5% over the last 3 min, above the threshold of 5.00%.",
      app: "shop",
      release: null,
      fields: [
        { label: "Rule", value: "5xx rate above 5%" },
        { label: "Condition", value: "5xx rate > 5.00% over 3 min" },
        { label: "Value", value: "42.5%" },
      ],
      lines: [],
      url: "/alerts",
    });
  });
  test("a resolution says the value now and how long it fired", () => {
    const built = alertMessage({
      kind: "resolve",
      rule: { ...r, metric: "http_p95_ms", name: "slow", threshold: 800 },
      app: null,
      value: 120.4,
      startedAt: new Date(0),
      now: 125 * 60_000,
    });
    expect(built.event).toBe("alert.resolved");
    expect(built.message.title).toBe("Resolved: slow on the server");
    expect(built.message.fields).toContainEqual({ label: "Now", value: "120 ms" });
    expect(built.message.fields).toContainEqual({ label: "Fired for", value: "2 h 5 min" });
  });
  test("the default rules are the ones the issue names", () => {
    expect(DEFAULT_RULES.map((d) => `${d.metric} ${d.operator} ${d.threshold} / ${d.windowSeconds}s`)).toEqual([
      "http_5xx_rate > 5 / 180s",
      "http_p95_ms > 800 / 300s",
      "memory_percent > 90 / 300s",
      "disk_percent > 85 / 300s",
      "psi_memory_some > 20 / 300s",
    ]);
  });
});
