/**
 * Parsers for the kernel's text files under /proc and a cgroup v2 directory. Pure functions over
 * text, so each is tested against real samples; the readers beside them do the reading.
 */

/** Jiffies of the aggregate `cpu` line: all of them, and those spent idle (idle + iowait). */
export interface CpuTimes {
  total: number;
  idle: number;
  /** The `cpuN` lines: how many cores the kernel schedules on. */
  cores: number;
}

export function parseCpuStat(text: string): CpuTimes | null {
  let times: number[] | null = null;
  let cores = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("cpu ")) times = line.trim().split(/\s+/).slice(1).map(Number);
    else if (/^cpu\d+ /.test(line)) cores++;
  }
  if (!times || times.length < 4 || times.some((n) => !Number.isFinite(n))) return null;
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = times;
  return { total: user + nice + system + idle + iowait + irq + softirq + steal, idle: idle + iowait, cores: Math.max(cores, 1) };
}

/** Busy share of all cores between two readings, 0–1 (null when no time passed). */
export function cpuBusy(before: CpuTimes, after: CpuTimes): number | null {
  const total = after.total - before.total;
  if (!(total > 0)) return null;
  return clamp01(1 - (after.idle - before.idle) / total);
}

export function parseLoadavg(text: string): number | null {
  const first = text.trim().split(/\s+/)[0];
  return first && Number.isFinite(Number(first)) ? Number(first) : null;
}

export interface Memory {
  memoryTotal: number;
  /** MemTotal − MemAvailable: what programs hold (the page cache they could drop is not counted). */
  memoryUsed: number;
  swapTotal: number;
  swapUsed: number;
}

export function parseMeminfo(text: string): Memory | null {
  const kb = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (m) kb.set(m[1] as string, Number(m[2]) * 1024);
  }
  const total = kb.get("MemTotal");
  if (total === undefined) return null;
  // Kernels before 3.14 have no MemAvailable: free + buffers + cache is the old estimate.
  const available = kb.get("MemAvailable") ?? (kb.get("MemFree") ?? 0) + (kb.get("Buffers") ?? 0) + (kb.get("Cached") ?? 0);
  const swapTotal = kb.get("SwapTotal") ?? 0;
  return {
    memoryTotal: total,
    memoryUsed: Math.max(0, total - available),
    swapTotal,
    swapUsed: Math.max(0, swapTotal - (kb.get("SwapFree") ?? swapTotal)),
  };
}

/** Bytes received and sent by every interface but loopback, since boot. */
export function parseNetDev(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (!name || name === "lo" || name.includes("|")) continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (fields.length < 9) continue;
    rx += fields[0] ?? 0;
    tx += fields[8] ?? 0;
  }
  return { rx, tx };
}

/** The `some avg10` figure of a /proc/pressure file: % of the last 10 s some task waited. */
export function parsePressure(text: string): number | null {
  const m = /^some\s.*\bavg10=([\d.]+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

export interface Mount {
  device: string;
  mount: string;
  fstype: string;
}

/** Kernel and memory filesystems: no disk behind them to fill. */
const PSEUDO = new Set([
  "proc",
  "sysfs",
  "devtmpfs",
  "devpts",
  "tmpfs",
  "ramfs",
  "cgroup",
  "cgroup2",
  "securityfs",
  "pstore",
  "debugfs",
  "tracefs",
  "mqueue",
  "hugetlbfs",
  "fusectl",
  "configfs",
  "bpf",
  "autofs",
  "binfmt_misc",
  "nsfs",
  "rpc_pipefs",
  "efivarfs",
  "selinuxfs",
  "squashfs",
  "iso9660",
  "fuse.lxcfs",
  "fuse.portal",
  "fuse.gvfsd-fuse",
]);

/**
 * The real filesystems in /proc/mounts: pseudo and memory filesystems left out, and a device
 * mounted at several places (bind mounts) counted once, at its shortest mount point.
 */
export function parseMounts(text: string): Mount[] {
  const byDevice = new Map<string, Mount>();
  for (const line of text.split("\n")) {
    const [device, mount, fstype] = line.trim().split(/\s+/);
    if (!device || !mount || !fstype || PSEUDO.has(fstype)) continue;
    const entry = { device, mount: unescapeMount(mount), fstype };
    const seen = byDevice.get(device);
    if (!seen || entry.mount.length < seen.mount.length) byDevice.set(device, entry);
  }
  return [...byDevice.values()].sort((a, b) => a.mount.localeCompare(b.mount));
}

/** /proc/mounts writes space, tab, newline and backslash in paths as octal escapes. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** `usage_usec` of a cgroup's cpu.stat: CPU time of every process in it, in µs. */
export function parseCgroupCpu(text: string): number | null {
  const m = /^usage_usec\s+(\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** A cgroup's io.stat, summed over devices. */
export function parseIoStat(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of text.split("\n")) {
    for (const [, key, value] of line.matchAll(/\b(rbytes|wbytes)=(\d+)/g)) {
      if (key === "rbytes") read += Number(value);
      else write += Number(value);
    }
  }
  return { read, write };
}

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  /** Resident pages. */
  rssPages: number;
}

/** One /proc/<pid>/stat line. The command name may hold spaces and parentheses: fields start after the last ")". */
export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const pid = Number.parseInt(text, 10);
  // After the name: state(3) ppid(4) … utime(14) stime(15) … rss(24), numbered from pid = 1.
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const field = (n: number) => Number(f[n - 3]);
  const stat = { pid, ppid: field(4), cpuTicks: field(14) + field(15), rssPages: field(24) };
  return Object.values(stat).every(Number.isFinite) ? stat : null;
}

/** /proc/<pid>/io: bytes the process caused to be read from and written to storage. */
export function parseProcIo(text: string): { read: number; write: number } | null {
  const read = /^read_bytes:\s*(\d+)$/m.exec(text);
  const write = /^write_bytes:\s*(\d+)$/m.exec(text);
  if (!read || !write) return null;
  return { read: Number(read[1]), write: Number(write[1]) };
}

/**
 * Every descendant of `root` (itself included) in a pid → ppid table, so a slot's figures cover
 * the shell, the runtime and whatever workers it forked.
 */
export function descendants(root: number, parents: Map<number, number>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  if (!parents.has(root)) return [];
  const out: number[] = [];
  const stack = [root];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(pid);
    for (const child of children.get(pid) ?? []) stack.push(child);
  }
  return out;
}

function clamp01(n: number): number {
  return Math.min(1, Math.max(0, n));
}
