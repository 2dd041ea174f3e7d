/** The charts' time axis and the figures they print (pure, no browser). */
import { describe, expect, test } from "bun:test";
import { tickLabel, timeTicks } from "../../app/src/lib/components/charts/time.ts";
import { formatBytes, formatCores, formatCount, formatMs, formatShare } from "../../app/src/lib/units.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe("timeTicks", () => {
  test("an hour at most seven ticks: every ten minutes on the minute", () => {
    const from = Date.UTC(2026, 10, 28, 13, 7, 30);
    const ticks = timeTicks(from, from + HOUR, 7);
    expect(ticks.length).toBeLessThanOrEqual(7);
    expect(ticks.length).toBeGreaterThanOrEqual(5);
    for (const t of ticks) expect(t % (10 * MINUTE)).toBe(0);
    expect(ticks[0]).toBeGreaterThanOrEqual(from);
    expect(ticks.at(-1)).toBeLessThanOrEqual(from + HOUR);
  });

  test("hours and days start on local midnight", () => {
    const from = new Date(2026, 10, 20, 5, 17).getTime();
    for (const t of timeTicks(from, from + 7 * DAY, 8)) {
      const d = new Date(t);
      expect([d.getHours(), d.getMinutes()]).toEqual([0, 0]);
    }
    for (const t of timeTicks(from, from + DAY, 6)) {
      const d = new Date(t);
      expect(d.getMinutes()).toBe(0);
      expect(d.getHours() % 6).toBe(0);
    }
  });

  test("no ticks for an empty range or no room", () => {
    expect(timeTicks(1000, 1000, 5)).toEqual([]);
    expect(timeTicks(0, HOUR, 0)).toEqual([]);
  });

  test("labels: the time of day, the date at midnight and for day-wide steps", () => {
    const noon = new Date(2026, 10, 28, 12, 30).getTime();
    const midnight = new Date(2026, 10, 28).getTime();
    expect(tickLabel(noon, HOUR)).not.toBe(tickLabel(noon, DAY));
    expect(tickLabel(midnight, HOUR)).toBe(tickLabel(midnight, DAY));
  });
});

describe("figures", () => {
  test("shares, latencies, sizes, CPU and counts", () => {
    expect(formatShare(0.5)).toBe("50%");
    expect(formatShare(0.0123)).toBe("1.2%");
    expect(formatShare(0.00123)).toBe("0.12%");
    expect(formatShare(0)).toBe("0%");
    expect(formatShare(null)).toBe("—");
    expect(formatMs(4.21)).toBe("4.2 ms");
    expect(formatMs(1530)).toBe("1.53 s");
    expect(formatMs(null)).toBe("—");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatCores(1.5)).toBe("150%");
    expect(formatCores(0.025)).toBe("2.5%");
    expect(formatCount(12)).toBe("12");
    expect(formatCount(2.25)).toBe("2.3");
  });
});
