/**
 * The Prometheus text exposition format (version 0.0.4) as a pure function of figures: what
 * `GET /metrics` answers. `panelFamilies` names the panel's metrics; `renderFamilies` writes them.
 */
import { LATENCY_BUCKETS_MS } from "./metrics.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram" | "summary";

export interface MetricSample {
  /** Appended to the family's name: "_bucket", "_sum", "_count" (histograms and summaries). */
  suffix?: string;
  labels?: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: MetricSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value inside double quotes: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text: backslash and line feed escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as Go's ParseFloat reads it: NaN, +Inf, -Inf, or a plain number. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

export function renderFamilies(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new Error(`"${family.name}" is not a Prometheus metric name`);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels ?? {});
      for (const [name] of labels) if (!LABEL_NAME.test(name) || name.startsWith("__")) throw new Error(`"${name}" is not a label name`);
      const text = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}` : "";
      lines.push(`${family.name}${sample.suffix ?? ""}${text} ${formatValue(sample.value)}`);
    }
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}

/**
 * A histogram's samples from cumulative counts (one per upper bound, then +Inf): the `_bucket`
 * series with `le` last among the labels, then `_sum` and `_count` (= the +Inf bucket).
 */
export function histogramSamples(
  labels: Record<string, string>,
  bounds: readonly number[],
  cumulative: readonly number[],
  sum: number,
): MetricSample[] {
  const out: MetricSample[] = [];
  let running = 0;
  for (let i = 0; i <= bounds.length; i++) {
    // A count can never fall as the bound grows; a short stored array counts as its last value.
    running = Math.max(running, cumulative[i] ?? running);
    out.push({
      suffix: "_bucket",
      labels: { ...labels, le: i < bounds.length ? formatValue(bounds[i] as number) : "+Inf" },
      value: running,
    });
  }
  out.push({ suffix: "_sum", labels, value: sum });
  out.push({ suffix: "_count", labels, value: running });
  return out;
}

export interface PanelFigures {
  requests: Array<{
    app: string;
    s1xx: number;
    s2xx: number;
    s3xx: number;
    s4xx: number;
    s5xx: number;
    bytesIn: number;
    bytesOut: number;
    latencySumMs: number;
    /** Cumulative counts per LATENCY_BUCKETS_MS bound, then +Inf. */
    latencyBuckets: number[];
  }>;
  slots: Array<{ app: string; slot: string; up: boolean; live: boolean; cpu: number | null; memory: number | null; restarts: number }>;
  deploys: Array<{ app: string; status: string; count: number }>;
  rollbacks: Array<{ app: string; kind: "manual" | "automatic"; count: number }>;
  jobs: Array<{ kind: string; status: string; count: number; seconds: number }>;
  system: {
    cpu: number | null;
    load1: number | null;
    memoryUsed: number | null;
    memoryTotal: number | null;
    pressure: { cpu: number | null; memory: number | null; io: number | null };
    disks: Array<{ mount: string; used: number; size: number }>;
  } | null;
  databaseBytes: number | null;
}

const LATENCY_BOUNDS_SECONDS = LATENCY_BUCKETS_MS.map((ms) => ms / 1000);

/** The panel's metrics, in a fixed order; a figure not measured (null) is left out rather than sent as 0. */
export function panelFamilies(f: PanelFigures): MetricFamily[] {
  const gauge = (name: string, help: string, samples: Array<{ labels?: Record<string, string>; value: number | null }>): MetricFamily => ({
    name,
    help,
    type: "gauge",
    samples: samples.filter((s): s is MetricSample => s.value !== null && Number.isFinite(s.value)),
  });
  const sys = f.system;
  return [
    {
      name: "switchyard_http_requests_total",
      help: "Requests nginx answered for the app, by status class.",
      type: "counter",
      samples: f.requests.flatMap((r) =>
        (["1xx", "2xx", "3xx", "4xx", "5xx"] as const).map((c) => ({
          labels: { app: r.app, class: c },
          value: r[`s${c}` as "s1xx"],
        })),
      ),
    },
    {
      name: "switchyard_http_request_duration_seconds",
      help: "Time the app's upstream took to answer (nginx's upstream_response_time).",
      type: "histogram",
      samples: f.requests.flatMap((r) => histogramSamples({ app: r.app }, LATENCY_BOUNDS_SECONDS, r.latencyBuckets, r.latencySumMs / 1000)),
    },
    {
      name: "switchyard_http_bytes_received_total",
      help: "Bytes of requests to the app (request line, headers and body).",
      type: "counter",
      samples: f.requests.map((r) => ({ labels: { app: r.app }, value: r.bytesIn })),
    },
    {
      name: "switchyard_http_bytes_sent_total",
      help: "Bytes sent to clients of the app.",
      type: "counter",
      samples: f.requests.map((r) => ({ labels: { app: r.app }, value: r.bytesOut })),
    },
    gauge(
      "switchyard_slot_up",
      "1 when the slot's process runs.",
      f.slots.map((s) => ({ labels: { app: s.app, slot: s.slot }, value: s.up ? 1 : 0 })),
    ),
    gauge(
      "switchyard_slot_live",
      "1 when the slot takes the app's traffic.",
      f.slots.map((s) => ({ labels: { app: s.app, slot: s.slot }, value: s.live ? 1 : 0 })),
    ),
    {
      name: "switchyard_deploys_total",
      help: "Deploy jobs that finished, by outcome.",
      type: "counter",
      samples: f.deploys.map((d) => ({ labels: { app: d.app, status: d.status }, value: d.count })),
    },
    {
      name: "switchyard_rollbacks_total",
      help: "Rollbacks: manual (a rollback job that succeeded) or automatic (the post-switch watch).",
      type: "counter",
      samples: f.rollbacks.map((r) => ({ labels: { app: r.app, kind: r.kind }, value: r.count })),
    },
    {
      name: "switchyard_job_duration_seconds",
      help: "Run time of finished jobs, by kind and outcome.",
      type: "summary",
      samples: f.jobs.flatMap((j) => [
        { suffix: "_sum", labels: { kind: j.kind, status: j.status }, value: j.seconds },
        { suffix: "_count", labels: { kind: j.kind, status: j.status }, value: j.count },
      ]),
    },
    gauge(
      "switchyard_slot_cpu_cores",
      "CPU the slot's processes use, in cores (1 = one core busy).",
      f.slots.map((s) => ({ labels: { app: s.app, slot: s.slot }, value: s.cpu })),
    ),
    gauge(
      "switchyard_slot_memory_bytes",
      "Memory of the slot's processes (cgroup memory.current, or the process tree's RSS).",
      f.slots.map((s) => ({ labels: { app: s.app, slot: s.slot }, value: s.memory })),
    ),
    {
      name: "switchyard_slot_restarts_total",
      help: "Times the runtime restarted the slot's process since it was started.",
      type: "counter",
      samples: f.slots.map((s) => ({ labels: { app: s.app, slot: s.slot }, value: s.restarts })),
    },
    gauge("switchyard_system_cpu_ratio", "Busy share of all cores, 0-1.", [{ value: sys?.cpu ?? null }]),
    gauge("switchyard_system_load1", "Load average over one minute.", [{ value: sys?.load1 ?? null }]),
    gauge("switchyard_system_memory_used_bytes", "Memory in use (total minus available).", [{ value: sys?.memoryUsed ?? null }]),
    gauge("switchyard_system_memory_total_bytes", "Memory of the server.", [{ value: sys?.memoryTotal ?? null }]),
    gauge(
      "switchyard_system_pressure_ratio",
      "Share of the last 10 s in which some task waited for the resource (PSI some avg10).",
      (["cpu", "memory", "io"] as const).map((resource) => {
        const pct = sys?.pressure[resource] ?? null;
        return { labels: { resource }, value: pct === null ? null : pct / 100 };
      }),
    ),
    gauge(
      "switchyard_disk_used_bytes",
      "Bytes used on the mounted filesystem.",
      (sys?.disks ?? []).map((d) => ({ labels: { mount: d.mount }, value: d.used })),
    ),
    gauge(
      "switchyard_disk_size_bytes",
      "Size of the mounted filesystem.",
      (sys?.disks ?? []).map((d) => ({ labels: { mount: d.mount }, value: d.size })),
    ),
    gauge("switchyard_database_bytes", "Size of the panel's database.", [{ value: f.databaseBytes }]),
  ];
}
