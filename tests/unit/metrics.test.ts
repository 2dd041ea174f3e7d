import { describe, expect, test } from "bun:test";
import {
  addAggregate,
  addHistograms,
  addRequest,
  addToHistogram,
  attribute,
  bucketOf,
  decodeSketch,
  defaultStep,
  emptyAggregate,
  emptyHistogram,
  encodeSketch,
  finerThan,
  LATENCY_BUCKETS_MS,
  liveAt,
  mergeSketches,
  newSketch,
  percentiles,
  quantile,
  resolutionFor,
  rollUpResources,
  SketchFormatError,
  statusClass,
} from "../../backend/domain/metrics.ts";

const T = Date.parse("2026-03-04T10:37:42.123Z");

describe("request metrics", () => {
  test("status classes, with what is not a status left out", () => {
    expect([101, 200, 204, 301, 404, 499, 500, 503].map(statusClass)).toEqual(["1xx", "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx"]);
    for (const bad of [0, 99, 600, 200.5, Number.NaN]) expect(statusClass(bad)).toBeNull();
  });

  test("minute, hour and day buckets are UTC floors", () => {
    expect(new Date(bucketOf(T, "minute")).toISOString()).toBe("2026-03-04T10:37:00.000Z");
    expect(new Date(bucketOf(T, "hour")).toISOString()).toBe("2026-03-04T10:00:00.000Z");
    expect(new Date(bucketOf(T, "day")).toISOString()).toBe("2026-03-04T00:00:00.000Z");
    expect(bucketOf(bucketOf(T, "minute"), "minute")).toBe(bucketOf(T, "minute"));
  });

  test("a step is read from the coarsest resolution that makes whole steps; finer fills what is not rolled up", () => {
    expect(resolutionFor("1m")).toBe("minute");
    expect(resolutionFor("5m")).toBe("minute");
    expect(resolutionFor("15m")).toBe("minute");
    expect(resolutionFor("1h")).toBe("hour");
    expect(resolutionFor("6h")).toBe("hour");
    expect(resolutionFor("1d")).toBe("day");
    expect([finerThan("day"), finerThan("hour"), finerThan("minute")]).toEqual(["hour", "minute", null]);
  });

  test("the default step draws the range in a few hundred points", () => {
    expect(defaultStep(6 * 3_600_000)).toBe("1m");
    expect(defaultStep(24 * 3_600_000)).toBe("5m");
    expect(defaultStep(7 * 86_400_000)).toBe("1h");
    expect(defaultStep(90 * 86_400_000)).toBe("6h");
    expect(defaultStep(730 * 86_400_000)).toBe("1d");
    expect(defaultStep(20 * 365 * 86_400_000)).toBe("1d");
  });

  describe("attribution", () => {
    const switches = [
      { at: 1_000, color: "blue" as const, releaseId: "r1" },
      { at: 2_000, color: "green" as const, releaseId: "r2" },
      { at: 3_000, color: null, releaseId: null },
      { at: 4_000, color: "blue" as const, releaseId: "r2" },
    ];

    test("the last switch at or before a time", () => {
      expect(liveAt(switches, 999)).toBeNull();
      expect(liveAt(switches, 1_000)?.releaseId).toBe("r1");
      expect(liveAt(switches, 2_999)?.color).toBe("green");
      expect(liveAt(switches, 10_000)?.color).toBe("blue");
      expect(liveAt([], 10)).toBeNull();
    });

    test("a request belongs to what was live when it started (its end minus its time)", () => {
      expect(attribute(switches, { at: 2_100, requestMs: 50 })).toEqual({ slot: "green", releaseId: "r2" });
      // Ended after the switch, started before it: the old slot answered it.
      expect(attribute(switches, { at: 2_100, requestMs: 300 })).toEqual({ slot: "blue", releaseId: "r1" });
      expect(attribute(switches, { at: 2_100, requestMs: null })).toEqual({ slot: "green", releaseId: "r2" });
      expect(attribute(switches, { at: 3_500, requestMs: 1 })).toEqual({ slot: "none", releaseId: null });
      expect(attribute(switches, { at: 500, requestMs: 1 })).toEqual({ slot: "none", releaseId: null });
    });

    test("a preview request carries its slot; its release is the slot's when it was live then, else what it runs", () => {
      expect(attribute(switches, { at: 1_500, requestMs: 1, slot: "blue" })).toEqual({ slot: "blue", releaseId: "r1" });
      expect(attribute(switches, { at: 1_500, requestMs: 1, slot: "green" }, { green: "r9" })).toEqual({ slot: "green", releaseId: "r9" });
      expect(attribute(switches, { at: 1_500, requestMs: 1, slot: "green" })).toEqual({ slot: "green", releaseId: null });
    });
  });

  describe("sketches", () => {
    test("encode and decode keep every count and the percentiles", () => {
      const sketch = newSketch();
      for (let i = 1; i <= 1000; i++) sketch.accept(i);
      sketch.accept(0);
      sketch.accept(0);
      const bytes = encodeSketch(sketch);
      const back = decodeSketch(bytes);
      expect(back.count).toBe(1002);
      expect(back.zeroCount).toBe(2);
      for (const q of [0.5, 0.9, 0.95, 0.99]) expect(back.getValueAtQuantile(q)).toBe(sketch.getValueAtQuantile(q));
      expect(encodeSketch(back)).toEqual(bytes);
    });

    test("percentiles are within 2% of the true value", () => {
      const sketch = newSketch();
      for (let i = 1; i <= 10_000; i++) sketch.accept(i / 10);
      const p = percentiles(decodeSketch(encodeSketch(sketch)));
      for (const [got, want] of [
        [p.p50, 500],
        [p.p90, 900],
        [p.p95, 950],
        [p.p99, 990],
      ] as const) {
        expect(got).not.toBeNull();
        expect(Math.abs((got as number) - want) / want).toBeLessThanOrEqual(0.021);
      }
    });

    test("an empty sketch: no percentiles, a few bytes, and null decodes to empty", () => {
      const empty = newSketch();
      expect(quantile(empty, 0.95)).toBeNull();
      expect(encodeSketch(empty).length).toBeLessThan(4);
      expect(decodeSketch(encodeSketch(empty)).count).toBe(0);
      expect(decodeSketch(null).count).toBe(0);
    });

    test("merged sketches equal one sketch of all the values", () => {
      const a = newSketch();
      const b = newSketch();
      const all = newSketch();
      for (let i = 0; i < 500; i++) {
        const v = (i * 7919) % 3000;
        (i % 2 ? a : b).accept(v);
        all.accept(v);
      }
      const merged = mergeSketches([encodeSketch(a), null, b, encodeSketch(newSketch())]);
      expect(merged.count).toBe(500);
      for (const q of [0.5, 0.95, 0.99]) expect(merged.getValueAtQuantile(q)).toBe(all.getValueAtQuantile(q));
    });

    test("bytes that are not a sketch are refused by name", () => {
      expect(() => decodeSketch(Uint8Array.from([9, 0, 0]))).toThrow(SketchFormatError);
      expect(() => decodeSketch(Uint8Array.from([1, 0, 3, 2]))).toThrow(SketchFormatError);
    });
  });

  test("an aggregate counts classes, bytes and timed requests, and adds up", () => {
    const a = emptyAggregate();
    addRequest(a, { status: 200, bytesIn: 100, bytesOut: 2000, upstreamMs: 12 });
    addRequest(a, { status: 500, bytesIn: 50, bytesOut: 30, upstreamMs: 3 });
    addRequest(a, { status: 502, bytesIn: 50, bytesOut: 30, upstreamMs: null });
    addRequest(a, { status: 304, bytesIn: 10, bytesOut: 0, upstreamMs: 0 });
    expect({ ...a, sketch: a.sketch.count }).toEqual({
      requests: 4,
      s1xx: 0,
      s2xx: 1,
      s3xx: 1,
      s4xx: 0,
      s5xx: 2,
      bytesIn: 210,
      bytesOut: 2060,
      timed: 3,
      latencySumMs: 15,
      sketch: 3,
    });
    const b = emptyAggregate();
    addRequest(b, { status: 404, bytesIn: 1, bytesOut: 1, upstreamMs: 40 });
    addAggregate(b, a);
    expect([b.requests, b.s4xx, b.s5xx, b.timed, b.sketch.count, b.latencySumMs]).toEqual([5, 1, 2, 4, 4, 55]);
  });

  test("the histogram is cumulative per bound, +Inf last, and histograms add", () => {
    const h = emptyHistogram();
    expect(h).toHaveLength(LATENCY_BUCKETS_MS.length + 1);
    addToHistogram(h, 5); // on the bound: in it
    addToHistogram(h, 7);
    addToHistogram(h, 20_000);
    expect(h).toEqual([1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]);
    expect(addHistograms(h, [])).toEqual(h);
    expect(addHistograms(h, h)).toEqual(h.map((n) => n * 2));
  });
});

describe("resource rollups", () => {
  const at = (m: number) => new Date(Date.UTC(2026, 2, 4, 10, m));
  test("a weighted mean by samples, restarts the highest, disks the latest, one row per subject", () => {
    const rolled = rollUpResources([
      { bucket: at(1), subject: "slot", appId: "a", slot: "blue", samples: 6, values: { cpu: 0.5, memory: 100, restarts: 2, up: 1 } },
      { bucket: at(0), subject: "slot", appId: "a", slot: "blue", samples: 2, values: { cpu: 1.5, memory: 300, restarts: 1, up: 0 } },
      {
        bucket: at(0),
        subject: "system",
        appId: null,
        slot: null,
        samples: 6,
        values: { cpu: 0.2, disks: [{ mount: "/", used: 1, size: 9 }] },
      },
      {
        bucket: at(1),
        subject: "system",
        appId: null,
        slot: null,
        samples: 6,
        values: { cpu: 0.4, disks: [{ mount: "/", used: 2, size: 9 }] },
      },
    ]);
    expect(rolled).toHaveLength(2);
    const slot = rolled.find((r) => r.subject === "slot");
    expect(slot).toEqual({
      subject: "slot",
      appId: "a",
      slot: "blue",
      samples: 8,
      values: { cpu: 0.75, memory: 150, restarts: 2, up: 0.75 },
    });
    const system = rolled.find((r) => r.subject === "system");
    expect(system?.samples).toBe(12);
    expect(system?.values.cpu).toBeCloseTo(0.3, 10);
    expect(system?.values.disks).toEqual([{ mount: "/", used: 2, size: 9 }]);
    expect(rollUpResources([])).toEqual([]);
  });
});
