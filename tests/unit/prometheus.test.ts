import { describe, expect, test } from "bun:test";
import { LATENCY_BUCKETS_MS } from "../../backend/domain/metrics.ts";
import {
  escapeLabelValue,
  formatValue,
  histogramSamples,
  type PanelFigures,
  panelFamilies,
  renderFamilies,
} from "../../backend/domain/prometheus.ts";
import { parseExposition } from "../helpers/prometheus.ts";

const figures: PanelFigures = {
  requests: [
    {
      app: "shop",
      s1xx: 0,
      s2xx: 90,
      s3xx: 2,
      s4xx: 3,
      s5xx: 5,
      bytesIn: 12_000,
      bytesOut: 340_000,
      latencySumMs: 2500,
      // Cumulative per bound 5 10 25 50 100 250 500 1000 2500 5000 10000, then +Inf.
      latencyBuckets: [10, 40, 70, 90, 95, 98, 99, 100, 100, 100, 100, 100],
    },
  ],
  slots: [
    { app: "shop", slot: "blue", up: true, live: true, cpu: 0.25, memory: 52_000_000, restarts: 1 },
    { app: "shop", slot: "green", up: false, live: false, cpu: null, memory: null, restarts: 0 },
  ],
  deploys: [
    { app: "shop", status: "succeeded", count: 4 },
    { app: "shop", status: "failed", count: 1 },
  ],
  rollbacks: [
    { app: "shop", kind: "manual", count: 1 },
    { app: "shop", kind: "automatic", count: 2 },
  ],
  jobs: [{ kind: "deploy", status: "succeeded", count: 4, seconds: 61.5 }],
  system: {
    cpu: 0.125,
    load1: 0.4,
    memoryUsed: 1_000_000_000,
    memoryTotal: 4_000_000_000,
    pressure: { cpu: 1.5, memory: null, io: 0 },
    disks: [{ mount: "/", used: 10, size: 100 }],
  },
  databaseBytes: 8_000_000,
};

describe("Prometheus text format", () => {
  test("label values escape backslash, quote and line feed only", () => {
    expect(escapeLabelValue('a\\b"c\nd\te')).toBe('a\\\\b\\"c\\nd\te');
  });

  test("values as Go floats", () => {
    expect([1, 0.25, 1e21, Number.NaN, Infinity, -Infinity].map(formatValue)).toEqual(["1", "0.25", "1e+21", "NaN", "+Inf", "-Inf"]);
  });

  test("a histogram from cumulative counts: le last, +Inf bucket equals _count", () => {
    expect(histogramSamples({ app: "a" }, [0.1, 1], [2, 5, 7], 3.5)).toEqual([
      { suffix: "_bucket", labels: { app: "a", le: "0.1" }, value: 2 },
      { suffix: "_bucket", labels: { app: "a", le: "1" }, value: 5 },
      { suffix: "_bucket", labels: { app: "a", le: "+Inf" }, value: 7 },
      { suffix: "_sum", labels: { app: "a" }, value: 3.5 },
      { suffix: "_count", labels: { app: "a" }, value: 7 },
    ]);
    // A stored array shorter than the bounds (an older row) carries its last count on.
    expect(histogramSamples({}, [0.1, 1], [2], 0).map((s) => s.value)).toEqual([2, 2, 2, 0, 2]);
  });

  test("renders HELP, TYPE and samples, whole", () => {
    const text = renderFamilies([
      { name: "x_total", help: "Things\\counted\nhere.", type: "counter", samples: [{ labels: { app: 'we"ird\\' }, value: 3 }] },
      { name: "y", help: "A gauge.", type: "gauge", samples: [{ value: 0.5 }] },
    ]);
    expect(text).toBe(
      [
        "# HELP x_total Things\\\\counted\\nhere.",
        "# TYPE x_total counter",
        'x_total{app="we\\"ird\\\\"} 3',
        "# HELP y A gauge.",
        "# TYPE y gauge",
        "y 0.5",
        "",
      ].join("\n"),
    );
  });

  test("refuses names the format does not allow", () => {
    expect(() => renderFamilies([{ name: "bad-name", help: "", type: "gauge", samples: [] }])).toThrow();
    expect(() =>
      renderFamilies([{ name: "ok", help: "", type: "gauge", samples: [{ labels: { "bad-label": "x" }, value: 1 }] }]),
    ).toThrow();
  });

  test("the panel's metrics parse strictly and carry the figures", () => {
    const families = parseExposition(renderFamilies(panelFamilies(figures)));
    const value = (family: string, name: string, labels: Record<string, string> = {}) =>
      families.get(family)?.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;

    expect([...families.keys()]).toEqual([
      "switchyard_http_requests_total",
      "switchyard_http_request_duration_seconds",
      "switchyard_http_bytes_received_total",
      "switchyard_http_bytes_sent_total",
      "switchyard_slot_up",
      "switchyard_slot_live",
      "switchyard_deploys_total",
      "switchyard_rollbacks_total",
      "switchyard_job_duration_seconds",
      "switchyard_slot_cpu_cores",
      "switchyard_slot_memory_bytes",
      "switchyard_slot_restarts_total",
      "switchyard_system_cpu_ratio",
      "switchyard_system_load1",
      "switchyard_system_memory_used_bytes",
      "switchyard_system_memory_total_bytes",
      "switchyard_system_pressure_ratio",
      "switchyard_disk_used_bytes",
      "switchyard_disk_size_bytes",
      "switchyard_database_bytes",
    ]);
    expect(families.get("switchyard_http_request_duration_seconds")?.type).toBe("histogram");
    expect(families.get("switchyard_job_duration_seconds")?.type).toBe("summary");

    const R = "switchyard_http_requests_total";
    expect(value(R, R, { app: "shop", class: "5xx" })).toBe(5);
    expect(value(R, R, { app: "shop", class: "2xx" })).toBe(90);
    const H = "switchyard_http_request_duration_seconds";
    const buckets = families.get(H)?.samples.filter((s) => s.name === `${H}_bucket`) ?? [];
    expect(buckets.map((b) => b.labels.le)).toEqual([...LATENCY_BUCKETS_MS.map((ms) => String(ms / 1000)), "+Inf"]);
    expect(value(H, `${H}_bucket`, { app: "shop", le: "0.025" })).toBe(70);
    expect(value(H, `${H}_count`, { app: "shop" })).toBe(100);
    expect(value(H, `${H}_sum`, { app: "shop" })).toBe(2.5);
    expect(value("switchyard_slot_up", "switchyard_slot_up", { app: "shop", slot: "green" })).toBe(0);
    expect(value("switchyard_slot_live", "switchyard_slot_live", { app: "shop", slot: "blue" })).toBe(1);
    expect(value("switchyard_rollbacks_total", "switchyard_rollbacks_total", { app: "shop", kind: "automatic" })).toBe(2);
    expect(value("switchyard_job_duration_seconds", "switchyard_job_duration_seconds_sum", { kind: "deploy", status: "succeeded" })).toBe(
      61.5,
    );
    // Not measured is absent, not zero.
    expect(families.get("switchyard_slot_cpu_cores")?.samples.map((s) => s.labels.slot)).toEqual(["blue"]);
    expect(value("switchyard_system_pressure_ratio", "switchyard_system_pressure_ratio", { resource: "cpu" })).toBe(0.015);
    expect(families.get("switchyard_system_pressure_ratio")?.samples.map((s) => s.labels.resource)).toEqual(["cpu", "io"]);
    expect(value("switchyard_database_bytes", "switchyard_database_bytes")).toBe(8_000_000);
  });

  test("an app name with every character that needs escaping survives the round trip", () => {
    const odd = 'a"b\\c\nd';
    const text = renderFamilies(panelFamilies({ ...figures, requests: figures.requests.map((r) => ({ ...r, app: odd })) }));
    const families = parseExposition(text);
    expect(families.get("switchyard_http_bytes_sent_total")?.samples[0]?.labels.app).toBe(odd);
  });

  test("no figures at all still make a valid exposition", () => {
    const empty: PanelFigures = { requests: [], slots: [], deploys: [], rollbacks: [], jobs: [], system: null, databaseBytes: null };
    const families = parseExposition(renderFamilies(panelFamilies(empty)));
    expect([...families.values()].every((f) => f.samples.length === 0)).toBe(true);
  });

  test("the strict reader itself refuses broken text", () => {
    expect(() => parseExposition("x 1")).toThrow("line feed");
    expect(() => parseExposition("x 1\n")).toThrow("before any TYPE");
    expect(() => parseExposition('# HELP x h\n# TYPE x gauge\nx{a="1} 2\n')).toThrow();
    expect(() => parseExposition("# HELP x h\n# TYPE x gauge\nx one\n")).toThrow("not a value");
    expect(() =>
      parseExposition('# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 0\nh_count 1\n'),
    ).toThrow("falls");
  });
});
