/**
 * Figures over time: an app's series, markers and per-release table (the Analytics tab), the
 * dashboard's per-app overview and server gauges, and the server page's series. Each loads over a
 * chosen range and refreshes, throttled, as `metric` events say new figures exist.
 */
import { appMetrics, dailySummary, dashboardMetrics, diagnostics, type Span, systemMetrics } from "#lib/api/metrics.ts";
import type {
  AppMetrics,
  DailySummary,
  DashboardMetrics,
  Diagnostics,
  EventOf,
  MetricStep,
  SystemMetricPoint,
  SystemMetrics,
} from "#lib/api/types.ts";
import { follow } from "./events.svelte.ts";
import { Resource } from "./resource.svelte.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const RANGES = [
  { value: "1h", label: "1 h", ms: HOUR, step: "1m", stepMs: MINUTE },
  { value: "6h", label: "6 h", ms: 6 * HOUR, step: "5m", stepMs: 5 * MINUTE },
  { value: "24h", label: "24 h", ms: DAY, step: "15m", stepMs: 15 * MINUTE },
  { value: "7d", label: "7 d", ms: 7 * DAY, step: "1h", stepMs: HOUR },
  { value: "30d", label: "30 d", ms: 30 * DAY, step: "6h", stepMs: 6 * HOUR },
] as const satisfies ReadonlyArray<{ value: string; label: string; ms: number; step: MetricStep; stepMs: number }>;

export type RangeKey = (typeof RANGES)[number]["value"];
export type Range = (typeof RANGES)[number];

export function rangeOf(key: string | null | undefined): Range {
  return RANGES.find((r) => r.value === key) ?? (RANGES[2] as Range);
}

/** The range ending now, its start on a step boundary so every point covers a whole step. */
export function spanOf(range: Range, now = Date.now()): Span {
  const to = now;
  const from = Math.floor((now - range.ms) / range.stepMs) * range.stepMs + range.stepMs;
  return { from, to, step: range.step };
}

/** Calls `fn` at most once per `gap` ms; a call inside the gap runs once at its end. */
class Throttle {
  #last = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  run(fn: () => void, gap: number): void {
    if (this.#timer) return;
    const wait = this.#last + gap - Date.now();
    const go = () => {
      this.#timer = null;
      this.#last = Date.now();
      fn();
    };
    if (wait <= 0) go();
    else this.#timer = setTimeout(go, wait);
  }

  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/** Jobs whose end moves traffic, so the chart gains a marker. */
const MOVES_TRAFFIC = new Set(["deploy", "rollback", "restart", "stop"]);

/** The Analytics tab of one app. */
export class AppMetricsState {
  readonly name: string;
  readonly #appId: string | null;
  readonly #controller = new AbortController();
  #range = $state<Range>(rangeOf("24h"));
  readonly metrics: Resource<AppMetrics | null>;
  readonly daily: Resource<DailySummary[]>;

  constructor(name: string, appId: string | null = null, range: string | null = null) {
    this.name = name;
    this.#appId = appId;
    this.#range = rangeOf(range);
    const signal = this.#controller.signal;
    this.metrics = new Resource<AppMetrics | null>(null, (s) => appMetrics(name, spanOf(this.#range), { signal: s }), {
      signal,
      failure: "Could not load the figures.",
    });
    this.daily = new Resource<DailySummary[]>(
      [],
      (s) => {
        const today = new Date();
        today.setUTCHours(0, 0, 0, 0);
        return dailySummary(name, today.getTime() - 29 * DAY, Date.now(), { signal: s });
      },
      { signal },
    );
  }

  get range(): Range {
    return this.#range;
  }

  /** Another range: loads it at once (the old figures stay until the new ones arrive). */
  set range(next: Range) {
    if (next.value === this.#range.value) return;
    this.#range = next;
    void this.metrics.load();
  }

  /** True once there is any request or resource figure in the range. */
  get hasData(): boolean {
    const m = this.metrics.value;
    return !!m && m.series.some((p) => p.requests > 0 || p.cpu !== null || p.memory !== null);
  }

  #mine(appId: string | null, name?: string | null): boolean {
    return name === this.name || (appId !== null && appId === this.#appId);
  }

  /** Refreshes on new figures (throttled to about one step) and when a job that moves traffic ends. */
  listen(): () => void {
    const throttle = new Throttle();
    let settle: ReturnType<typeof setTimeout> | null = null;
    const refresh = () => {
      void this.metrics.load();
      void this.daily.load();
    };
    const off = follow({
      metric: (e: EventOf<"metric">) => {
        if (!e.apps.some((a) => this.#mine(a.appId, a.app))) return;
        throttle.run(() => void this.metrics.load(), Math.max(10_000, Math.min(this.#range.stepMs, 60_000)));
      },
      "job.updated": (e) => {
        if (!this.#mine(e.appId, e.app) || !MOVES_TRAFFIC.has(e.kind)) return;
        if (e.status === "queued" || e.status === "running") return;
        if (settle) clearTimeout(settle);
        settle = setTimeout(refresh, 1000);
      },
      reconnected: refresh,
    });
    return () => {
      off();
      throttle.dispose();
      if (settle) clearTimeout(settle);
    };
  }

  dispose(): void {
    this.#controller.abort();
  }
}

type LiveSystem = NonNullable<EventOf<"metric">["system"]>;

/** The dashboard: each app's last day and the server now (live from `metric` events). */
class DashboardMetricsState {
  readonly overview = new Resource<DashboardMetrics | null>(null, (s) => dashboardMetrics({ signal: s }));
  #live = $state.raw<LiveSystem | null>(null);
  #liveAt = $state(0);

  /** The server now: the newest event's figures over the endpoint's (which also has disks and pressure). */
  get system(): SystemMetricPoint | null {
    const base = this.overview.value?.system ?? null;
    const live = this.#live;
    if (!live) return base;
    const since = base ? Date.parse(base.t) : 0;
    if (this.#liveAt < since) return base;
    return {
      ...(base ?? {
        t: new Date(this.#liveAt).toISOString(),
        swapUsed: null,
        swapTotal: null,
        netRx: null,
        netTx: null,
        pressure: { cpu: null, memory: null, io: null },
        disks: [],
      }),
      cpu: live.cpu,
      load1: live.load1,
      memoryUsed: live.memoryUsed,
      memoryTotal: live.memoryTotal,
    };
  }

  get cores(): number {
    return this.overview.value?.cores ?? 0;
  }

  app(name: string): DashboardMetrics["apps"][number] | null {
    return this.overview.value?.apps.find((a) => a.app === name) ?? null;
  }

  listen(): () => void {
    const throttle = new Throttle();
    const off = follow({
      metric: (e) => {
        if (e.system) {
          this.#live = e.system;
          this.#liveAt = Date.parse(e.at) || Date.now();
        }
        // Sparklines are per hour: a minute's refresh is plenty.
        throttle.run(() => void this.overview.load(), 60_000);
      },
      "app.created": () => void this.overview.load(),
      "app.deleted": () => void this.overview.load(),
      reconnected: () => void this.overview.load(),
    });
    return () => {
      off();
      throttle.dispose();
    };
  }
}

export const dashboard = new DashboardMetricsState();

/** The server page: system series over a range, disk use, and (for admins) diagnostics. */
export class SystemMetricsState {
  readonly #controller = new AbortController();
  #range = $state<Range>(rangeOf("24h"));
  readonly metrics: Resource<SystemMetrics | null>;
  readonly diagnostics: Resource<Diagnostics | null>;

  constructor(range: string | null = null) {
    this.#range = rangeOf(range);
    const signal = this.#controller.signal;
    this.metrics = new Resource<SystemMetrics | null>(null, (s) => systemMetrics(spanOf(this.#range), { signal: s }), { signal });
    this.diagnostics = new Resource<Diagnostics | null>(null, (s) => diagnostics({ signal: s }), { signal });
  }

  get range(): Range {
    return this.#range;
  }

  set range(next: Range) {
    if (next.value === this.#range.value) return;
    this.#range = next;
    void this.metrics.load();
  }

  listen(): () => void {
    const throttle = new Throttle();
    const off = follow({
      metric: () => throttle.run(() => void this.metrics.load(), Math.max(10_000, Math.min(this.#range.stepMs, 60_000))),
      reconnected: () => void this.metrics.load(),
    });
    return () => {
      off();
      throttle.dispose();
    };
  }

  dispose(): void {
    this.#controller.abort();
  }
}
