/** Figures as the charts and tables show them. */

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat();

/** 1234 → "1.2K"; small numbers keep a decimal when they have one. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  if (Math.abs(n) >= 1000) return compact.format(n);
  return Number.isInteger(n) ? String(n) : n < 10 ? n.toFixed(1) : String(Math.round(n));
}

/** 12345 → "12,345". */
export function formatWhole(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? "—" : whole.format(Math.round(n));
}

/** A share 0–1 as a percentage: 0.0123 → "1.23%", 0.5 → "50%". */
export function formatShare(share: number | null | undefined, digits?: number): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return "—";
  const pct = share * 100;
  const d = digits ?? (pct === 0 || pct >= 10 ? 0 : pct >= 1 ? 1 : 2);
  return `${pct.toFixed(d)}%`;
}

/** Milliseconds: 4.2 → "4.2 ms", 1530 → "1.53 s". */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 1 : 2)} s`;
  return `${ms >= 100 ? Math.round(ms) : ms >= 10 ? ms.toFixed(0) : ms.toFixed(1)} ms`;
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** Bytes in binary steps: 1536 → "1.5 KB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 || value >= 100 ? Math.round(value) : value.toFixed(1);
  return `${bytes < 0 ? "-" : ""}${shown} ${UNITS[unit]}`;
}

/** CPU in cores as a share of one core: 0.25 → "25%", 1.5 → "150%". */
export function formatCores(cores: number | null | undefined): string {
  return formatShare(cores, cores !== null && cores !== undefined && cores * 100 < 10 ? 1 : 0);
}
