/**
 * CPU and resident memory of single processes (each with what it forked), for the processes
 * view: two readings of /proc a short window apart give the CPU share over that window.
 */
import { createProcfs } from "./readers.ts";

const WINDOW_MS = 250;

export interface ProcessUsage {
  /** Of one core, over the window (100 = one core busy). */
  cpuPercent: number;
  rssBytes: number;
}

export async function readProcessUsage(pids: readonly number[], windowMs = WINDOW_MS): Promise<Map<number, ProcessUsage>> {
  const out = new Map<number, ProcessUsage>();
  if (pids.length === 0) return out;
  const procfs = createProcfs();
  const first = procfs.processTable();
  const before = new Map(pids.map((pid) => [pid, procfs.processTree(pid, first)]));
  await Bun.sleep(windowMs);
  const second = procfs.processTable();
  for (const pid of pids) {
    const a = before.get(pid);
    const b = procfs.processTree(pid, second);
    if (!a || !b || a.cpuUsec === null || b.cpuUsec === null || b.memory === null) continue;
    const elapsedUsec = Math.max(1, (b.at - a.at) * 1000);
    const cpuPercent = Math.max(0, ((b.cpuUsec - a.cpuUsec) / elapsedUsec) * 100);
    out.set(pid, { cpuPercent: Math.round(cpuPercent * 10) / 10, rssBytes: b.memory });
  }
  return out;
}
