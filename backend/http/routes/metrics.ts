import { availableParallelism } from "node:os";
import { z } from "zod";
import { type AppOverview, type DashboardMetrics, METRIC_STEPS } from "../../contract/api.ts";
import {
  appCards,
  dashboardRows,
  newestSystemMinute,
  releaseNumbers,
  requestRows,
  slotResourceRows,
  switchesPerDay,
  switchesWithNumbers,
} from "../../db/queries/request-stats.ts";
import { buildAppMetrics, buildDaily, SWITCH_WINDOW_MS } from "../../domain/app-metrics.ts";
import { defaultStep, floorTo, MAX_POINTS, mergeSketches, quantile, RESOLUTION_MS, resolutionFor, STEP_MS } from "../../domain/metrics.ts";
import { systemPoint } from "../../domain/resources.ts";
import { type Context, readQuery } from "../context.ts";
import { HttpError } from "../errors.ts";
import type { Router } from "../router.ts";
import { loadApp } from "./apps.ts";

const HOUR = RESOLUTION_MS.hour;
const DAY = RESOLUTION_MS.day;

/** A time in a query string: ISO 8601, or milliseconds since the epoch. */
const instant = z.string().transform((value, ctx) => {
  const ms = /^\d{1,15}$/.test(value) ? Number(value) : /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: "custom", message: "must be an ISO 8601 time or epoch milliseconds" });
    return z.NEVER;
  }
  return ms;
});

const rangeQuery = z.object({ from: instant.optional(), to: instant.optional(), step: z.enum(METRIC_STEPS).optional() });
const dailyQuery = z.object({ from: instant.optional(), to: instant.optional() });

const invalid = (path: string, message: string) =>
  new HttpError(400, "validation_failed", `${path}: ${message}.`, { issues: [{ path, message }] });

function readRange(c: Context, defaultMs: number) {
  const q = readQuery(c, rangeQuery);
  const to = q.to ?? Date.now();
  const from = q.from ?? to - defaultMs;
  if (from >= to) throw invalid("from", "must be before to");
  if (to - from > 3660 * DAY) throw invalid("from", "the range may span at most 10 years");
  const step = q.step ?? defaultStep(to - from);
  const points = Math.ceil((to - floorTo(from, STEP_MS[step])) / STEP_MS[step]);
  if (points > MAX_POINTS) {
    throw invalid(
      "step",
      `a ${step} step over this range makes ${points} points, more than ${MAX_POINTS}; choose a larger step or a shorter range`,
    );
  }
  return { from, to, step };
}

/** Requests, latency and slot resources of one app, and each app's figures for the dashboard. */
export function metricsRoutes(r: Router): void {
  r.get("/api/v1/apps/:app/metrics", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { from, to, step } = readRange(c, 6 * HOUR);
    const { db } = c.services;
    const resolution = resolutionFor(step);
    const start = floorTo(from, STEP_MS[step]);
    const [stats, slots, switches] = await Promise.all([
      requestRows(db, app.id, resolution, start, to),
      slotResourceRows(db, app.id, resolution, start, to),
      switchesWithNumbers(db, app.id),
    ]);
    const inRange = switches.filter((s) => s.at.getTime() >= from && s.at.getTime() < to && s.color);
    // Only the minutes around each switch (overlapping windows joined), not all between the first and last.
    const windows: Array<[number, number]> = [];
    for (const s of inRange) {
      const a = floorTo(s.at.getTime(), RESOLUTION_MS.minute) - SWITCH_WINDOW_MS;
      const b = Math.min(to, s.at.getTime() + SWITCH_WINDOW_MS);
      const last = windows.at(-1);
      if (last && a <= last[1]) last[1] = Math.max(last[1], b);
      else windows.push([a, b]);
    }
    const around = (await Promise.all(windows.map(([a, b]) => requestRows(db, app.id, "minute", a, b)))).flat();
    const ids = [...new Set([...stats, ...switches].map((s) => s.releaseId).filter((id): id is string => id !== null))];
    return Response.json(
      buildAppMetrics({
        from,
        to,
        step,
        stats,
        slots,
        switches: switches.map((s) => ({ ...s, color: s.color as "blue" | "green" | null })),
        around,
        releaseNumbers: await releaseNumbers(db, ids),
      }),
    );
  });

  r.get("/api/v1/apps/:app/metrics/daily", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const q = readQuery(c, dailyQuery);
    const to = q.to ?? Date.now();
    const from = floorTo(q.from ?? to - 30 * DAY, DAY);
    if (from >= to) throw invalid("from", "must be before to");
    if (to - from > MAX_POINTS * DAY) throw invalid("from", `the range may span at most ${MAX_POINTS} days`);
    const { db } = c.services;
    const [stats, slots, switches] = await Promise.all([
      requestRows(db, app.id, "day", from, to),
      slotResourceRows(db, app.id, "day", from, to),
      switchesPerDay(db, app.id, new Date(from), new Date(to)),
    ]);
    return Response.json({ days: buildDaily({ from, to, stats, slots, switches }) });
  });

  r.get("/api/v1/metrics/apps", { auth: "viewer" }, async (c) => {
    const { db } = c.services;
    const now = Date.now();
    const [list, rows, newest] = await Promise.all([appCards(db), dashboardRows(db, now), newestSystemMinute(db)]);
    const hourly = new Map<string, number[]>();
    for (const row of rows.hourly) {
      const index = Math.floor((new Date(row.h).getTime() - rows.start) / HOUR);
      if (index < 0 || index > 23) continue;
      const counts = hourly.get(row.app_id) ?? new Array<number>(24).fill(0);
      counts[index] = (counts[index] ?? 0) + Number(row.n);
      hourly.set(row.app_id, counts);
    }
    const lastHour = new Map<string, typeof rows.lastHour>();
    for (const row of rows.lastHour) {
      const list = lastHour.get(row.appId);
      if (list) list.push(row);
      else lastHour.set(row.appId, [row]);
    }
    const overview: AppOverview[] = list.map((app) => {
      const recent = lastHour.get(app.id) ?? [];
      const requests = recent.reduce((n, r) => n + r.requests, 0);
      const errors = recent.reduce((n, r) => n + r.s5xx, 0);
      return {
        app: app.name,
        status: app.status,
        requests: hourly.get(app.id) ?? new Array<number>(24).fill(0),
        errorRate: requests === 0 ? 0 : errors / requests,
        p95: recent.length ? quantile(mergeSketches(recent.map((r) => r.sketch)), 0.95) : null,
      };
    });
    const body: DashboardMetrics = {
      apps: overview,
      system: newest ? systemPoint(newest.bucket, newest.values) : null,
      cores: availableParallelism(),
    };
    return Response.json(body);
  });
}
