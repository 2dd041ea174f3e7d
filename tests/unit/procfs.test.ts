import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  cpuBusy,
  descendants,
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
} from "../../backend/adapters/sampler/procfs.ts";
import { CLOCK_TICKS, createProcfs } from "../../backend/adapters/sampler/readers.ts";

// Text as the kernel writes it (Debian 12, Linux 6.1, 2 cores), trimmed to the lines that matter.
const STAT = `cpu  29140 0 7382 130760 625 0 139 44 0 0
cpu0 14173 0 3201 66496 83 0 39 19 0 0
cpu1 14967 0 4181 64264 541 0 100 25 0 0
intr 627315 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 1673344
btime 1795873268
processes 14795
procs_running 4
procs_blocked 0
softirq 305167 0 32143 4 52162 85945 0 2 70348 0 64563
`;
const STAT_LATER = `cpu  29240 0 7482 130860 625 0 139 44 0 0
cpu0 14223 0 3251 66546 83 0 39 19 0 0
cpu1 15017 0 4231 64314 541 0 100 25 0 0
`;

const MEMINFO = `MemTotal:       24684084 kB
MemFree:        22698524 kB
MemAvailable:   23228960 kB
Buffers:            7524 kB
Cached:           818332 kB
SwapCached:            0 kB
Active:           495112 kB
Inactive:        1133996 kB
SwapTotal:       2097148 kB
SwapFree:        1048572 kB
Dirty:              3980 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`;

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   45784     638    0    0    0     0          0         0    45784     638    0    0    0     0       0          0
  ifb0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 319666154    7490    0    0    0     0          0         0   451783    4299    0    0    0     0       0          0
wlan0:1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0
`;

const PRESSURE_CPU = `some avg10=0.13 avg60=0.92 avg300=2.40 total=22856120
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
`;
const PRESSURE_IO = `some avg10=12.50 avg60=0.32 avg300=0.31 total=4593548
full avg10=0.15 avg60=0.32 avg300=0.29 total=4194290
`;

const MOUNTS = `proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=12334460k,nr_inodes=3083615,mode=755 0 0
tmpfs /dev/shm tmpfs rw,relatime,size=24684084k 0 0
devpts /dev/pts devpts rw,relatime,mode=600,ptmxmode=000 0 0
/dev/vda / ext4 rw,relatime,discard 0 0
/dev/vdb1 /srv/my\\040data xfs rw,relatime 0 0
/dev/vda /var/lib/docker/bind ext4 rw,relatime,discard 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
/dev/loop3 /snap/core22/1380 squashfs ro,nodev,relatime 0 0
overlay /var/lib/containers/overlay overlay rw,relatime,lowerdir=/a,upperdir=/b,workdir=/c 0 0
`;

// A unit's cgroup v2 files (systemd 252 on Debian 12).
const CPU_STAT = `usage_usec 5123456
user_usec 4000000
system_usec 1123456
core_sched.force_idle_usec 0
nr_periods 0
nr_throttled 0
throttled_usec 0
nr_bursts 0
burst_usec 0
`;
const IO_STAT = `254:0 rbytes=90112 wbytes=4096 rios=8 wios=1 dbytes=0 dios=0
254:16 rbytes=10000 wbytes=20000 rios=2 wios=3 dbytes=0 dios=0
`;

// /proc/<pid>/stat of a process whose name holds a space and parentheses.
const PID_STAT =
  "10606 (my (odd) name) S 10594 10594 6030 0 -1 4194304 101 0 0 0 250 75 0 0 20 0 1 0 56473 3133440 389 18446744073709551615 94192661745664 94192661765545 140727852248976 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94192661781552 94192661783168 94193191829504 140727852251874 140727852251894 140727852251894 140727852253163 0\n";
const PID_IO = `rchar: 6976
wchar: 0
syscr: 10
syscw: 0
read_bytes: 409600
write_bytes: 8192
cancelled_write_bytes: 0
`;

describe("procfs parsers", () => {
  test("/proc/stat: jiffies of the cpu line (idle counts iowait), cores from the cpuN lines", () => {
    expect(parseCpuStat(STAT)).toEqual({ total: 29140 + 7382 + 130760 + 625 + 139 + 44, idle: 130760 + 625, cores: 2 });
    expect(parseCpuStat("intr 1 2 3\n")).toBeNull();
  });

  test("CPU busy share between two readings", () => {
    const a = parseCpuStat(STAT);
    const b = parseCpuStat(STAT_LATER);
    if (!a || !b) throw new Error("unparsed");
    // 300 jiffies passed, 100 of them idle.
    expect(cpuBusy(a, b)).toBeCloseTo(2 / 3, 6);
    expect(cpuBusy(a, a)).toBeNull();
  });

  test("/proc/loadavg", () => {
    expect(parseLoadavg("0.32 0.37 0.21 1/143 10597\n")).toBe(0.32);
    expect(parseLoadavg("")).toBeNull();
  });

  test("/proc/meminfo: used is total minus available, swap in bytes", () => {
    expect(parseMeminfo(MEMINFO)).toEqual({
      memoryTotal: 24684084 * 1024,
      memoryUsed: (24684084 - 23228960) * 1024,
      swapTotal: 2097148 * 1024,
      swapUsed: (2097148 - 1048572) * 1024,
    });
    // An old kernel without MemAvailable: free + buffers + cached.
    const old = MEMINFO.replace(/^MemAvailable:.*\n/m, "");
    expect(parseMeminfo(old)?.memoryUsed).toBe((24684084 - 22698524 - 7524 - 818332) * 1024);
  });

  test("/proc/net/dev: every interface but loopback", () => {
    expect(parseNetDev(NET_DEV)).toEqual({ rx: 319666154 + 1000, tx: 451783 + 2000 });
  });

  test("/proc/pressure: some avg10, null when the file says nothing", () => {
    expect(parsePressure(PRESSURE_CPU)).toBe(0.13);
    expect(parsePressure(PRESSURE_IO)).toBe(12.5);
    expect(parsePressure("")).toBeNull();
  });

  test("/proc/mounts: real filesystems only, one per device, escapes undone", () => {
    expect(parseMounts(MOUNTS)).toEqual([
      { device: "/dev/vda", mount: "/", fstype: "ext4" },
      { device: "/dev/vdb1", mount: "/srv/my data", fstype: "xfs" },
      { device: "overlay", mount: "/var/lib/containers/overlay", fstype: "overlay" },
    ]);
  });

  test("cgroup v2: cpu.stat usage_usec and io.stat summed over devices", () => {
    expect(parseCgroupCpu(CPU_STAT)).toBe(5123456);
    expect(parseCgroupCpu("nr_periods 0\n")).toBeNull();
    expect(parseIoStat(IO_STAT)).toEqual({ read: 100112, write: 24096 });
    expect(parseIoStat("")).toEqual({ read: 0, write: 0 });
  });

  test("/proc/<pid>/stat: fields after the last parenthesis, whatever the name holds", () => {
    expect(parseProcStat(PID_STAT)).toEqual({ pid: 10606, ppid: 10594, cpuTicks: 325, rssPages: 389 });
    expect(parseProcStat("garbage")).toBeNull();
  });

  test("/proc/<pid>/io: storage bytes", () => {
    expect(parseProcIo(PID_IO)).toEqual({ read: 409600, write: 8192 });
    expect(parseProcIo("rchar: 1\n")).toBeNull();
  });

  test("descendants: the whole tree under a pid, itself first", () => {
    const parents = new Map([
      [1, 0],
      [10, 1],
      [11, 10],
      [12, 10],
      [13, 12],
      [20, 1],
    ]);
    expect(descendants(10, parents).sort((a, b) => a - b)).toEqual([10, 11, 12, 13]);
    expect(descendants(99, parents)).toEqual([]);
  });
});

describe("procfs readers on this machine's /proc", () => {
  const dir = mkdtempSync(join(tmpdir(), "sy-procfs-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("the system reading has CPU, memory, load and at least one real disk", () => {
    const reading = createProcfs().system();
    expect(reading.cpu?.cores).toBeGreaterThanOrEqual(1);
    expect(reading.memory?.memoryTotal).toBeGreaterThan(0);
    expect(reading.memory?.memoryUsed).toBeGreaterThan(0);
    expect(reading.load1).not.toBeNull();
    expect(reading.net).not.toBeNull();
    expect(reading.disks.length).toBeGreaterThan(0);
    for (const d of reading.disks) expect(d.used).toBeLessThanOrEqual(d.size);
  });

  test("a process tree: a parent and the children it forked, named oddly", async () => {
    // A copy of sleep under a name with a space and parentheses, as /proc/<pid>/stat will show it.
    const odd = join(dir, "my (odd) sleep");
    copyFileSync(Bun.which("sleep") as string, odd);
    await using parent = Bun.spawn(["/bin/sh", "-c", `"${odd}" 30 & "${odd}" 30 & wait`], { stdout: "ignore" });
    const procfs = createProcfs();
    let tree = procfs.processTree(parent.pid);
    const deadline = Date.now() + 10_000;
    while ((tree === null || procfs.processTable().size === 0 || countTree(procfs, parent.pid) < 3) && Date.now() < deadline) {
      await Bun.sleep(20);
      tree = procfs.processTree(parent.pid);
    }
    expect(countTree(procfs, parent.pid)).toBe(3);
    tree = procfs.processTree(parent.pid);
    expect(tree?.source).toBe("processes");
    expect(tree?.memory).toBeGreaterThan(0);
    expect(tree?.cpuUsec).toBeGreaterThanOrEqual(0);
    expect((tree?.cpuUsec ?? 0) % (1_000_000 / CLOCK_TICKS)).toBe(0);
    // Our own children: their io files are readable.
    expect(tree?.io).not.toBeNull();
    parent.kill("SIGKILL");
    await parent.exited;
    expect(procfs.processTree(parent.pid)).toBeNull();
  });

  test("no cgroup for a unit that does not exist", () => {
    expect(createProcfs().cgroup("no-such-app", "blue")).toBeNull();
  });

  test("a unit's cgroup v2 files, at the pure v2 place and on a hybrid layout", () => {
    const root = join(dir, "cgroup");
    const unit = join(root, "system.slice", "sy-shop-blue.service");
    mkdirSync(unit, { recursive: true });
    writeFileSync(join(unit, "cpu.stat"), CPU_STAT);
    writeFileSync(join(unit, "memory.current"), "52428800\n");
    writeFileSync(join(unit, "io.stat"), IO_STAT);
    expect(createProcfs({ cgroupRoot: root }).cgroup("shop", "blue")).toMatchObject({
      cpuUsec: 5123456,
      memory: 52428800,
      io: { read: 100112, write: 24096 },
      source: "cgroup",
    });
    // Hybrid (v1 controllers, v2 under unified/): only cpu.stat's usage there, no memory.current.
    const hybrid = join(root, "unified", "system.slice", "sy-shop-green.service");
    mkdirSync(hybrid, { recursive: true });
    writeFileSync(join(hybrid, "cpu.stat"), "usage_usec 42\nuser_usec 40\nsystem_usec 2\n");
    expect(createProcfs({ cgroupRoot: root }).cgroup("shop", "green")).toMatchObject({ cpuUsec: 42, memory: null, io: null });
  });
});

function countTree(procfs: ReturnType<typeof createProcfs>, pid: number): number {
  return descendants(pid, procfs.processTable()).length;
}
