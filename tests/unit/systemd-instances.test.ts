import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunResult } from "../../backend/adapters/exec.ts";
import { createSystemdRuntime, type SystemdHost } from "../../backend/adapters/runtime/systemd.ts";
import type { WorkersSpec } from "../../backend/adapters/runtime/types.ts";
import { sameProcess } from "../../backend/adapters/runtime-logs/types.ts";
import {
  buildSlotUnit,
  buildSocketUnit,
  buildWorkerUnit,
  instanceUnitName,
  journalHelperArgs,
  parseInstanceUnit,
  slotExtraUnitsPattern,
  systemctlArgv,
  UnitError,
} from "../../backend/commands/systemd.ts";
import { SLOT_UNIT_SPEC } from "../helpers/fixtures.ts";

const spec = SLOT_UNIT_SPEC;
const directives = (text: string) => text.split("\n").filter((l) => l.includes("=") && !l.startsWith("#"));

describe("units of web instances and workers", () => {
  test("names: the web's first instance is the slot's unit; others and workers carry type and instance", () => {
    expect(instanceUnitName("shop", "blue", "web", 1)).toBe("sy-shop-blue.service");
    expect(instanceUnitName("shop", "blue", "web", 2)).toBe("sy-shop-blue_web_2.service");
    expect(instanceUnitName("shop", "green", "mail-queue", 32)).toBe("sy-shop-green_mail-queue_32.service");
    for (const [type, index] of [
      ["web", 0],
      ["worker", 33],
      ["worker", 1.5],
      ["Worker", 1],
      ["release", 1],
      ["../x", 1],
      ["w".repeat(31), 1],
    ] as const) {
      expect(() => instanceUnitName("shop", "blue", type, index)).toThrow(UnitError);
    }
    for (const name of [
      "sy-shop-blue.service",
      "sy-shop-blue_web_2.service",
      "sy-my-app-green_worker_12.service",
      "sy-a1-blue_q_w_3.service",
    ]) {
      const of = parseInstanceUnit(name);
      expect(of).not.toBeNull();
      expect(instanceUnitName(of?.app as string, of?.color as "blue", of?.type as string, of?.index as number)).toBe(name);
    }
    for (const name of [
      "sy-shop-blue-socket.service",
      "sy-shop-blue_web_1.service",
      "sy-shop-blue_worker_0.service",
      "sy-shop-blue_release_1.service",
      "sy-shop-red.service",
    ]) {
      expect(parseInstanceUnit(name)).toBeNull();
    }
    expect(slotExtraUnitsPattern("shop", "blue")).toBe("sy-shop-blue_*.service");
    expect(systemctlArgv("restart", "sy-shop-blue_worker_2.service")).toEqual(["systemctl", "restart", "sy-shop-blue_worker_2.service"]);
  });

  test("each web instance has its own unit and PORT; limits, IO weight included, go into every unit", () => {
    const ports = [4100, 4101, 4102];
    const third = directives(buildSlotUnit({ ...spec, ports, instance: 3, memoryMax: "512M", cpuQuota: "50%", ioWeight: 200 }));
    for (const line of ["Environment=PORT=4102", "MemoryMax=512M", "CPUQuota=50%", "IOWeight=200", "SyslogIdentifier=sy-shop-blue_web_3"]) {
      expect(third).toContain(line);
    }
    expect(directives(buildSlotUnit({ ...spec, ports }))).toContain("Environment=PORT=4100");
    expect(directives(buildSlotUnit(spec)).some((l) => l.startsWith("IOWeight="))).toBe(false);
    expect(() => buildSlotUnit({ ...spec, ports, instance: 4 })).toThrow("has no port");
    for (const ioWeight of [0, 10_001, 1.5]) expect(() => buildSlotUnit({ ...spec, ioWeight })).toThrow("I/O weight");
  });

  test("the socket forwarder gets every port; a worker gets the slot's env without PORT, and no socket", () => {
    const socket = buildSocketUnit({ ...spec, ports: [4100, 4101], bun: "/usr/bin/bun", forwarder: "/opt/f.ts" });
    expect(directives(socket)).toContain(
      "ExecStart=/usr/bin/bun --smol /opt/f.ts /var/lib/switchyard/sock/shop-blue.sock 4100,4101 /var/lib/switchyard/sock/shop-blue.ctl",
    );
    expect(() => buildSocketUnit({ ...spec, ports: [4100, 70_000], bun: "/usr/bin/bun", forwarder: "/opt/f.ts" })).toThrow(UnitError);
    const worker = directives(
      buildWorkerUnit({
        ...spec,
        type: "worker",
        index: 2,
        command: ["/bin/sh", "-c", "exec bun worker.ts"],
        ioWeight: 10,
        graceSeconds: 30,
      }),
    );
    for (const line of [
      "User=switchyard-apps",
      "WorkingDirectory=/var/lib/switchyard/apps/shop/releases/rel-1",
      "EnvironmentFile=/var/lib/switchyard/apps/shop/env/blue.env",
      "UnsetEnvironment=PORT",
      'ExecStart=/bin/sh -c "exec bun worker.ts"',
      "Restart=on-failure",
      "KillSignal=SIGTERM",
      "TimeoutStopSec=30",
      "IOWeight=10",
      "SyslogIdentifier=sy-shop-blue_worker_2",
      "LogExtraFields=SWITCHYARD_RELEASE=rel-1",
    ]) {
      expect(worker).toContain(line);
    }
    expect(worker.some((l) => l.startsWith("Environment=PORT"))).toBe(false);
    expect(() => buildWorkerUnit({ ...spec, type: "web", index: 2, command: ["/bin/true"] })).toThrow("slot units");
    expect(() => buildWorkerUnit({ ...spec, type: "worker", index: 1, command: ["true"] })).toThrow("absolute path");
  });

  test("a journal read takes a slot's unit and the pattern of its other units, nothing wider", () => {
    expect(journalHelperArgs({ units: ["sy-shop-blue.service", "sy-shop-blue_*.service"], lines: 5 })).toContain("sy-shop-blue_*.service");
    for (const unit of ["sy-shop-*.service", "sy-shop-blue*.service", "sy-shop-blue_worker_*.service", "*.service"]) {
      expect(() => journalHelperArgs({ units: [unit], lines: 5 })).toThrow(UnitError);
    }
  });

  test("a log filter by process takes a type or one instance", () => {
    expect(sameProcess("worker", "worker.2")).toBe(true);
    expect(sameProcess("worker", "workers.1")).toBe(false);
    expect(sameProcess("web", "web")).toBe(true);
    expect(sameProcess("web", "web.3")).toBe(true);
    expect(sameProcess("web.1", "web")).toBe(true);
    expect(sameProcess("web.2", "web")).toBe(false);
    expect(sameProcess("worker.1", "worker.12")).toBe(false);
  });
});

describe("workers as systemd units: only what changed is restarted", () => {
  /** A machine with unit files in memory that records each systemctl command. */
  const fakeHost = () => {
    const files = new Map<string, string>();
    const calls: string[] = [];
    const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "", signalCode: null, timedOut: false, cancelled: false, ms: 0 });
    const host: SystemdHost = {
      writeUnit: async (name, text) => void files.set(name, text),
      removeUnit: async (name) => void files.delete(name),
      systemctl: async (args) => {
        calls.push(args.slice(1, 3).join(" "));
        return ok(args[1] === "show" ? "ActiveState=active\nMainPID=1\n" : "");
      },
      journalctl: async () => ok(),
      journal: async () => ok(),
      listUnits: async () => [...files.keys()].sort(),
    };
    return { host, files, calls };
  };
  const workers = (counts: Record<string, number>, over: Partial<WorkersSpec> = {}): WorkersSpec => ({
    app: "shop",
    color: "blue",
    releaseId: "rel-1",
    releaseDir: "/var/lib/switchyard/apps/shop/releases/rel-1",
    envFile: "/var/lib/switchyard/apps/shop/env/slot-blue-workers.env",
    secrets: [],
    processes: Object.entries(counts).map(([type, instances]) => ({ type, command: ["/bin/sh", "-c", `exec bun ${type}.ts`], instances })),
    ...over,
  });
  const restarted = (calls: string[]) => calls.filter((c) => c.startsWith("restart ")).map((c) => c.slice("restart ".length));
  const stopped = (calls: string[]) => calls.filter((c) => c.startsWith("stop ")).map((c) => c.slice("stop ".length));

  test("scaling a worker 1→2 and starting another type leaves the running instances alone", async () => {
    const { host, calls } = fakeHost();
    const stateDir = mkdtempSync(join(tmpdir(), "sy-units-"));
    try {
      const runtime = createSystemdRuntime({ user: "switchyard-apps", stateDir, host });
      await runtime.startWorkers(workers({ worker: 1, clock: 1 }));
      expect(restarted(calls).sort()).toEqual(["sy-shop-blue_clock_1.service", "sy-shop-blue_worker_1.service"]);

      calls.length = 0;
      await runtime.startWorkers(workers({ worker: 2, clock: 1, mailer: 1 }));
      expect(restarted(calls).sort()).toEqual(["sy-shop-blue_mailer_1.service", "sy-shop-blue_worker_2.service"]);
      expect(stopped(calls)).toEqual([]);

      // Down again: only the extra instance stops; a new release restarts them all.
      calls.length = 0;
      await runtime.startWorkers(workers({ worker: 1, clock: 1, mailer: 1 }));
      expect(stopped(calls)).toEqual(["sy-shop-blue_worker_2.service"]);
      expect(restarted(calls)).toEqual([]);
      calls.length = 0;
      await runtime.startWorkers(workers({ worker: 1, clock: 1, mailer: 1 }, { releaseId: "rel-2" }));
      expect(restarted(calls).length).toBe(3);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test("worker units stop with the grace they are given (the app's drain seconds)", async () => {
    const { host, files } = fakeHost();
    const stateDir = mkdtempSync(join(tmpdir(), "sy-units-"));
    try {
      const runtime = createSystemdRuntime({ user: "switchyard-apps", stateDir, host });
      await runtime.startWorkers(workers({ worker: 1 }, { graceSeconds: 45 }));
      expect(files.get("sy-shop-blue_worker_1.service")).toContain("\nTimeoutStopSec=45\n");
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
