import { describe, expect, test } from "bun:test";
import { diskLevel, fitToBudget, foldIntoSteps, MinuteAccumulator, mergeValues, systemPoint } from "../../backend/domain/resources.ts";

describe("resource figures", () => {
  test("a minute of samples: means over what was measured, shares for booleans, the last counter", () => {
    const acc = new MinuteAccumulator();
    acc.add({ cpu: 0.5, memory: 100, up: true, live: true, restarts: 0 });
    acc.add({ cpu: null, memory: 300, up: false, live: true, restarts: 1 });
    acc.add({ cpu: 0.25, memory: null, up: true, live: false, restarts: 1 });
    acc.add({ cpu: null, memory: 200, up: true, live: true, restarts: 2 });
    expect(acc.samples).toBe(4);
    expect(acc.values()).toEqual({ cpu: 0.375, memory: 200, up: 0.75, live: 0.75, restarts: 2 });
  });

  test("a key never measured in the minute is null, not zero", () => {
    const acc = new MinuteAccumulator();
    acc.add({ ioRead: null, disks: [{ mount: "/", used: 1, size: 2 }] });
    acc.add({ ioRead: null, disks: [{ mount: "/", used: 2, size: 2 }] });
    expect(acc.values()).toEqual({ ioRead: null, disks: [{ mount: "/", used: 2, size: 2 }] });
  });

  test("rows merged: weighted by samples, restarts the highest, sizes the newest", () => {
    const merged = mergeValues([
      { samples: 6, values: { cpu: 0.1, restarts: 3, releases: 100 } },
      { samples: 2, values: { cpu: 0.5, restarts: 1, releases: 200 } },
      { samples: 2, values: { cpu: null, restarts: null, releases: null } },
    ]);
    expect(merged).toEqual({ samples: 10, values: { cpu: 0.2, restarts: 3, releases: 200 } });
  });

  test("rows folded into steps from the range's start", () => {
    const at = (min: number) => new Date(Date.UTC(2026, 0, 1, 0, min));
    const steps = foldIntoSteps(
      [
        { bucket: at(0), samples: 6, values: { load1: 1 } },
        { bucket: at(4), samples: 6, values: { load1: 3 } },
        { bucket: at(5), samples: 6, values: { load1: 5 } },
      ],
      at(0).getTime(),
      5 * 60_000,
    );
    expect([...steps.entries()]).toEqual([
      [at(0).getTime(), { samples: 12, values: { load1: 2 } }],
      [at(5).getTime(), { samples: 6, values: { load1: 5 } }],
    ]);
  });

  test("a system row as the API's point; unknown values stay null", () => {
    expect(systemPoint(0, { cpu: 0.5, psiIo: 2, disks: [{ mount: "/", used: 1, size: 4 }, { bad: true }] })).toEqual({
      t: "1970-01-01T00:00:00.000Z",
      cpu: 0.5,
      load1: null,
      memoryUsed: null,
      memoryTotal: null,
      swapUsed: null,
      swapTotal: null,
      netRx: null,
      netTx: null,
      pressure: { cpu: null, memory: null, io: 2 },
      disks: [{ mount: "/", used: 1, size: 4 }],
    });
  });

  test("a message cut to fit NOTIFY keeps the first entries and everything else", () => {
    const apps = Array.from({ length: 300 }, (_, i) => ({ app: `app-with-a-long-name-${String(i).padStart(3, "0")}`, requests: 300 - i }));
    const message = fitToBudget(apps, (list) => ({ type: "metric", at: "now", apps: list }), 7000);
    expect(Buffer.byteLength(JSON.stringify(message))).toBeLessThanOrEqual(7000);
    expect(message.apps.length).toBeGreaterThan(50);
    expect(message.apps).toEqual(apps.slice(0, message.apps.length));
    expect(fitToBudget(apps.slice(0, 3), (list) => ({ apps: list }), 7000).apps).toHaveLength(3);
  });

  test("disk levels: under 10 % free a warning, under 5 % an error", () => {
    expect(diskLevel(80, 100)).toBe("ok");
    expect(diskLevel(91, 100)).toBe("warning");
    expect(diskLevel(96, 100)).toBe("error");
    expect(diskLevel(0, 0)).toBe("ok");
  });
});
