/**
 * The only code that reads the operating system for resource figures: /proc, PSI, the mounts'
 * free space, a unit's cgroup and a process tree. Each reader returns raw counters (or null when
 * the file is not there); rates come from two readings, in the sampler.
 */
import { readdirSync, readFileSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { unitName } from "../../commands/systemd.ts";
import type { Color } from "../runtime/types.ts";
import {
  type CpuTimes,
  descendants,
  type Memory,
  parseCgroupCpu,
  parseCpuStat,
  parseIoStat,
  parseLoadavg,
  parseMeminfo,
  parseMounts,
  parseNetDev,
  parsePressure,
  parseProcIo,
  parseProcStat,
} from "./procfs.ts";

/** /proc reports CPU time in USER_HZ, which Linux fixes at 100 on every architecture it runs on. */
export const CLOCK_TICKS = 100;

export interface SystemReading {
  at: number;
  cpu: CpuTimes | null;
  load1: number | null;
  memory: Memory | null;
  net: { rx: number; tx: number } | null;
  pressure: { cpu: number | null; memory: number | null; io: number | null };
  disks: Array<{ mount: string; used: number; size: number }>;
}

export interface SlotReading {
  at: number;
  /** CPU time of the slot's processes, in µs (cgroup usage_usec, or ticks × 10 000). */
  cpuUsec: number | null;
  memory: number | null;
  io: { read: number; write: number } | null;
  /** Where the figures came from. */
  source: "cgroup" | "processes";
}

export interface ProcfsOptions {
  proc?: string;
  cgroupRoot?: string;
}

export function createProcfs(o: ProcfsOptions = {}) {
  const proc = o.proc ?? "/proc";
  const cgroupRoot = o.cgroupRoot ?? "/sys/fs/cgroup";
  const read = (path: string): string | null => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return null;
    }
  };
  const parse = <T>(path: string, parser: (text: string) => T): T | null => {
    const text = read(path);
    return text === null ? null : parser(text);
  };
  let pageSize: number | null = null;

  function disks(): SystemReading["disks"] {
    const out: SystemReading["disks"] = [];
    for (const { mount } of parse(join(proc, "mounts"), parseMounts) ?? []) {
      try {
        const s = statfsSync(mount);
        const size = s.blocks * s.bsize;
        if (size <= 0) continue;
        // Used as df counts it: everything but the free blocks (root's reserve is in use too).
        out.push({ mount, used: size - s.bfree * s.bsize, size });
      } catch {}
    }
    return out;
  }

  function system(): SystemReading {
    return {
      at: Date.now(),
      cpu: parse(join(proc, "stat"), parseCpuStat),
      load1: parse(join(proc, "loadavg"), parseLoadavg),
      memory: parse(join(proc, "meminfo"), parseMeminfo),
      net: parse(join(proc, "net/dev"), parseNetDev),
      pressure: {
        cpu: parse(join(proc, "pressure/cpu"), parsePressure),
        memory: parse(join(proc, "pressure/memory"), parsePressure),
        io: parse(join(proc, "pressure/io"), parsePressure),
      },
      disks: disks(),
    };
  }

  /**
   * A systemd unit's cgroup (v2: under system.slice, or under unified/ on a hybrid layout). Null
   * when the unit has no cgroup here (not running, or not this kind of host).
   */
  function cgroup(app: string, color: Color): SlotReading | null {
    const unit = unitName(app, color);
    for (const dir of [join(cgroupRoot, "system.slice", unit), join(cgroupRoot, "unified", "system.slice", unit)]) {
      const cpuUsec = parse(join(dir, "cpu.stat"), parseCgroupCpu);
      if (cpuUsec === null) continue;
      const memory = parse(join(dir, "memory.current"), (t) => Number(t.trim()));
      return {
        at: Date.now(),
        cpuUsec,
        memory: Number.isFinite(memory) ? memory : null,
        io: parse(join(dir, "io.stat"), parseIoStat),
        source: "cgroup",
      };
    }
    return null;
  }

  /** pid → ppid of every process, read once per sample for all slots. */
  function processTable(): Map<number, number> {
    const parents = new Map<number, number>();
    let entries: string[] = [];
    try {
      entries = readdirSync(proc);
    } catch {
      return parents;
    }
    for (const name of entries) {
      if (!/^\d+$/.test(name)) continue;
      const stat = parse(join(proc, name, "stat"), parseProcStat);
      if (stat) parents.set(stat.pid, stat.ppid);
    }
    return parents;
  }

  /** A process and all its descendants: CPU time, resident memory, and storage I/O where readable. */
  function processTree(pid: number, table: Map<number, number> = processTable()): SlotReading | null {
    const pids = descendants(pid, table);
    if (pids.length === 0) return null;
    pageSize ??= readPageSize(proc);
    let ticks = 0;
    let rss = 0;
    let io: { read: number; write: number } | null = { read: 0, write: 0 };
    let seen = 0;
    for (const p of pids) {
      const stat = parse(join(proc, String(p), "stat"), parseProcStat);
      if (!stat) continue;
      seen++;
      ticks += stat.cpuTicks;
      rss += stat.rssPages * pageSize;
      const pio = parse(join(proc, String(p), "io"), parseProcIo);
      // One unreadable io file (another user's process) makes the total a guess: none is given.
      if (pio && io) {
        io.read += pio.read;
        io.write += pio.write;
      } else {
        io = null;
      }
    }
    if (seen === 0) return null;
    return { at: Date.now(), cpuUsec: (ticks * 1_000_000) / CLOCK_TICKS, memory: rss, io, source: "processes" };
  }

  return { system, cgroup, processTable, processTree };
}

export type Procfs = ReturnType<typeof createProcfs>;

/** The page size from the process's auxiliary vector (AT_PAGESZ), 4 KiB when it cannot be read. */
function readPageSize(proc: string): number {
  try {
    const auxv = readFileSync(join(proc, "self", "auxv"));
    for (let at = 0; at + 16 <= auxv.length; at += 16) {
      const type = auxv.readBigUInt64LE(at);
      if (type === 6n) return Number(auxv.readBigUInt64LE(at + 8));
      if (type === 0n) break;
    }
  } catch {}
  return 4096;
}
