/**
 * A chart.js plugin that draws what moved traffic (deploys, rollbacks, automatic rollbacks,
 * restarts, stops) as vertical lines with a short label, and a tooltip for the one under the
 * pointer. The same markers are listed as text beside the chart for screen readers.
 */
import type { Chart, ChartType, Plugin } from "chart.js";
import type { TrafficMarker } from "#lib/api/types.ts";
import type { ChartTheme, SeriesColor } from "./palette.ts";

export type MarkerKind = TrafficMarker["kind"];

export interface ChartMarker {
  at: number;
  kind: MarkerKind;
  /** On the line: "v3". */
  short: string;
  /** In the tooltip: "Deploy of v3 · Nov 28, 14:05". */
  detail: string;
}

export const MARKER_KINDS: Record<MarkerKind, { label: string; color: SeriesColor }> = {
  deploy: { label: "Deploy", color: "indigo" },
  rollback: { label: "Rollback", color: "amber" },
  "auto-rollback": { label: "Automatic rollback", color: "red" },
  restart: { label: "Restart", color: "sky" },
  stop: { label: "Stop", color: "slate" },
};

export interface MarkerOptions {
  markers: ChartMarker[];
  colors: Record<MarkerKind, string>;
  theme: ChartTheme;
  /** Draw the short labels (off on small charts). */
  labels: boolean;
}

declare module "chart.js" {
  interface PluginOptionsByType<TType extends ChartType> {
    syMarkers?: MarkerOptions;
  }
}

const hovered = new WeakMap<Chart, ChartMarker | null>();
const HIT = 6;
const FONT = "500 10px Inter, ui-sans-serif, system-ui, sans-serif";

function visible(chart: Chart, options: MarkerOptions): Array<{ marker: ChartMarker; x: number }> {
  const scale = chart.scales.x;
  if (!scale) return [];
  return options.markers
    .filter((m) => m.at >= scale.min && m.at <= scale.max)
    .map((marker) => ({ marker, x: Math.round(scale.getPixelForValue(marker.at)) + 0.5 }));
}

function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, r);
}

export const markerPlugin: Plugin<"line", MarkerOptions> = {
  id: "syMarkers",
  defaults: { markers: [], labels: true },

  afterDatasetsDraw(chart, _args, options) {
    if (!options?.markers?.length) return;
    const { ctx, chartArea } = chart;
    const active = hovered.get(chart) ?? null;
    ctx.save();
    ctx.font = FONT;
    let lastLabelEnd = Number.NEGATIVE_INFINITY;
    for (const { marker, x } of visible(chart, options)) {
      const color = options.colors[marker.kind];
      ctx.strokeStyle = color;
      ctx.globalAlpha = active && active !== marker ? 0.45 : 1;
      ctx.lineWidth = active === marker ? 2 : 1.25;
      ctx.setLineDash(marker.kind === "deploy" ? [] : [4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
      if (!options.labels) continue;
      // A small flag at the top; skipped when it would cover the previous one.
      const width = ctx.measureText(marker.short).width + 8;
      const left = Math.min(x + 2, chartArea.right - width);
      if (left < lastLabelEnd + 2) continue;
      lastLabelEnd = left + width;
      ctx.setLineDash([]);
      ctx.fillStyle = color;
      roundRect(ctx, left, chartArea.top, width, 14, 3);
      ctx.fill();
      ctx.fillStyle = "#ffffff";
      ctx.textBaseline = "middle";
      ctx.fillText(marker.short, left + 4, chartArea.top + 7.5);
    }
    ctx.restore();
  },

  afterEvent(chart, args, options) {
    if (!options?.markers?.length) return;
    const event = args.event;
    let next: ChartMarker | null = null;
    if (event.type !== "mouseout" && event.x !== null && event.y !== null && args.inChartArea) {
      let best = HIT;
      for (const { marker, x } of visible(chart, options)) {
        const distance = Math.abs(x - event.x);
        if (distance <= best) {
          best = distance;
          next = marker;
        }
      }
    }
    if ((hovered.get(chart) ?? null) !== next) {
      hovered.set(chart, next);
      args.changed = true;
    }
  },

  afterDraw(chart, _args, options) {
    const marker = hovered.get(chart);
    if (!marker || !options?.markers?.length) return;
    const spot = visible(chart, options).find((v) => v.marker === marker);
    if (!spot) return;
    const { ctx, chartArea } = chart;
    ctx.save();
    ctx.font = "500 12px Inter, ui-sans-serif, system-ui, sans-serif";
    const width = ctx.measureText(marker.detail).width + 16;
    const left = Math.max(chartArea.left, Math.min(spot.x + 8, chartArea.right - width));
    // Near the bottom, clear of the series tooltip that follows the pointer at the top.
    const top = chartArea.bottom - 34;
    ctx.shadowColor = "rgb(0 0 0 / 0.18)";
    ctx.shadowBlur = 8;
    ctx.fillStyle = options.theme.surface;
    roundRect(ctx, left, top, width, 26, 6);
    ctx.fill();
    ctx.shadowBlur = 0;
    ctx.strokeStyle = options.theme.line;
    ctx.lineWidth = 1;
    ctx.stroke();
    ctx.fillStyle = options.theme.fg;
    ctx.textBaseline = "middle";
    ctx.fillText(marker.detail, left + 8, top + 13.5);
    ctx.restore();
  },

  afterDestroy(chart) {
    hovered.delete(chart);
  },
};
