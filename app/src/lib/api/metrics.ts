/**
 * The observability endpoints: an app's series and daily summary, the dashboard's figures, the
 * server's series and diagnostics, and the retention of figures and logs. Through the one client.
 */
import { api, type RequestOptions } from "./client.ts";
import type { AppMetrics, DailySummary, DashboardMetrics, Diagnostics, MetricStep, RetentionSettings, SystemMetrics } from "./types.ts";

/** Every retention setting the panel keeps (`GET/PUT /settings/retention`). */
export type Retention = RetentionSettings;

export interface Span {
  from: number;
  to: number;
  step: MetricStep;
}

const range = ({ from, to, step }: Span) => new URLSearchParams({ from: String(from), to: String(to), step });
const appPath = (name: string) => `/apps/${encodeURIComponent(name)}`;

export function appMetrics(name: string, span: Span, options?: RequestOptions): Promise<AppMetrics> {
  return api.get<AppMetrics>(`${appPath(name)}/metrics?${range(span)}`, options);
}

export async function dailySummary(name: string, from: number, to: number, options?: RequestOptions): Promise<DailySummary[]> {
  const query = new URLSearchParams({ from: String(from), to: String(to) });
  return (await api.get<{ days: DailySummary[] }>(`${appPath(name)}/metrics/daily?${query}`, options)).days ?? [];
}

export function dashboardMetrics(options?: RequestOptions): Promise<DashboardMetrics> {
  return api.get<DashboardMetrics>("/metrics/apps", options);
}

export function systemMetrics(span: Span, options?: RequestOptions): Promise<SystemMetrics> {
  return api.get<SystemMetrics>(`/system/metrics?${range(span)}`, options);
}

export function diagnostics(options?: RequestOptions): Promise<Diagnostics> {
  return api.get<Diagnostics>("/system/diagnostics", options);
}

export async function getRetention(options?: RequestOptions): Promise<Retention> {
  return (await api.get<{ retention: Retention }>("/settings/retention", options)).retention;
}

export async function setRetention(change: Partial<Retention>): Promise<Retention> {
  return (await api.put<{ retention: Retention }>("/settings/retention", change)).retention;
}
