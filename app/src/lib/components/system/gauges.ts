/** The server's gauges as the dashboard and the server page show them. */
import type { SystemMetricPoint } from "#lib/api/types.ts";
import { formatBytes, formatShare } from "#lib/units.ts";

export interface Gauge {
  value: string;
  share: number | null;
  detail: string;
}

const share = (used: number | null, total: number | null) => (used !== null && total ? used / total : null);

/** The root file system, or the fullest mount when there is no "/". */
export function mainDisk(point: SystemMetricPoint | null): SystemMetricPoint["disks"][number] | null {
  const disks = point?.disks ?? [];
  return disks.find((d) => d.mount === "/") ?? [...disks].sort((a, b) => b.used / (b.size || 1) - a.used / (a.size || 1))[0] ?? null;
}

export function gauges(point: SystemMetricPoint | null, cores: number): Record<"cpu" | "memory" | "disk" | "pressure", Gauge> {
  const disk = mainDisk(point);
  const p = point?.pressure;
  const worst = Math.max(p?.cpu ?? 0, p?.memory ?? 0, p?.io ?? 0);
  const pct = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${v.toFixed(v < 10 ? 1 : 0)}%`);
  return {
    cpu: {
      value: formatShare(point?.cpu ?? null, 0),
      share: point?.cpu ?? null,
      detail: `Load ${point?.load1 !== null && point?.load1 !== undefined ? point.load1.toFixed(2) : "—"}${cores ? ` · ${cores} core${cores === 1 ? "" : "s"}` : ""}`,
    },
    memory: {
      value: formatShare(share(point?.memoryUsed ?? null, point?.memoryTotal ?? null), 0),
      share: share(point?.memoryUsed ?? null, point?.memoryTotal ?? null),
      detail: `${formatBytes(point?.memoryUsed)} of ${formatBytes(point?.memoryTotal)}${point?.swapTotal ? ` · swap ${formatBytes(point.swapUsed)}` : ""}`,
    },
    disk: {
      value: formatShare(disk ? disk.used / (disk.size || 1) : null, 0),
      share: disk ? disk.used / (disk.size || 1) : null,
      detail: disk ? `${formatBytes(disk.used)} of ${formatBytes(disk.size)} on ${disk.mount}` : "No disk figures yet",
    },
    pressure: {
      value: p ? pct(worst) : "—",
      share: p ? Math.min(1, worst / 100) : null,
      detail: `CPU ${pct(p?.cpu)} · mem ${pct(p?.memory)} · I/O ${pct(p?.io)}`,
    },
  };
}
