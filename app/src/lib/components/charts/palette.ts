/**
 * Chart colours. Axes, grid and text come from the theme's CSS variables, so they follow light
 * and dark; series colours are a fixed set, a shade brighter in the dark.
 */

export type SeriesColor = "green" | "blue" | "amber" | "red" | "indigo" | "violet" | "sky" | "slate" | "teal" | "orange";

const SERIES: Record<SeriesColor, [light: string, dark: string]> = {
  green: ["#16a34a", "#4ade80"],
  blue: ["#2563eb", "#60a5fa"],
  amber: ["#d97706", "#fbbf24"],
  red: ["#dc2626", "#f87171"],
  indigo: ["#4f46e5", "#818cf8"],
  violet: ["#7c3aed", "#a78bfa"],
  sky: ["#0284c7", "#38bdf8"],
  slate: ["#64748b", "#94a3b8"],
  teal: ["#0d9488", "#2dd4bf"],
  orange: ["#ea580c", "#fb923c"],
};

export function seriesColor(color: SeriesColor, dark: boolean): string {
  return SERIES[color][dark ? 1 : 0];
}

/** The colour with an alpha (for area fills): "#16a34a" → "rgb(22 163 74 / 0.2)". */
export function withAlpha(hex: string, alpha: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 255} ${(n >> 8) & 255} ${n & 255} / ${alpha})`;
}

export interface ChartTheme {
  text: string;
  subtle: string;
  grid: string;
  surface: string;
  line: string;
  fg: string;
}

/** The theme's colours as they are now (read again when the theme flips). */
export function chartTheme(): ChartTheme {
  const style = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    text: v("--sy-fg-muted", "#52525b"),
    subtle: v("--sy-fg-subtle", "#71717a"),
    grid: v("--sy-line", "#e4e4e7"),
    line: v("--sy-line-strong", "#d4d4d8"),
    surface: v("--sy-surface", "#ffffff"),
    fg: v("--sy-fg", "#09090b"),
  };
}
