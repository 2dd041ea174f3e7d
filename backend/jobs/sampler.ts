/**
 * Resource sampling: every `config.metrics.sampleMs` the server and each app slot that runs (or
 * should), kept in memory as the latest figures, published as a `metric` event, and folded into
 * one `resource_stats` row per subject when the minute ends. Disk use per app and the database's
 * size are walked at most every 10 minutes.
 */
import { join } from "node:path";
import type { Color, SlotStatus } from "../adapters/runtime/types.ts";
import { diskUsage, logFamily } from "../adapters/sampler/disk-use.ts";
import { cpuBusy } from "../adapters/sampler/procfs.ts";
import { createProcfs, type Procfs, type SlotReading, type SystemReading } from "../adapters/sampler/readers.ts";
import type { DiskUse, SlotColor, SystemMetricPoint } from "../contract/api.ts";
import type { EventOf } from "../contract/events.ts";
import {
  appNames,
  databaseSize,
  type ResourceRow,
  recordRestart,
  requestsInMinute,
  slotsToSample,
  writeResourceMinute,
} from "../db/queries/resources.ts";
import { fitToBudget, MinuteAccumulator, type ResourceValues, systemPoint } from "../domain/resources.ts";
import type { Services } from "../services.ts";
import { appPaths } from "./paths.ts";

/** A directory walk is not free: disk use is measured at most this often. */
export const DISK_USE_EVERY_MS = 10 * 60_000;
/** NOTIFY refuses payloads from 8000 bytes; the event stays well under. */
const EVENT_BUDGET = 7000;
/** Slots in these states are sampled even without a process: a missing process is news (up = 0). */
const EXPECTED_RUNNING = new Set(["live", "standby", "starting", "draining", "crashed"]);

export interface SlotSample {
  appId: string;
  app: string;
  color: SlotColor;
  pid: number | null;
  up: boolean;
  live: boolean;
  /** Cores busy (1 = one core), over the time since the previous sample. */
  cpu: number | null;
  memory: number | null;
  /** Bytes per second. */
  ioRead: number | null;
  ioWrite: number | null;
  restarts: number;
  source: SlotReading["source"] | null;
}

export interface Latest {
  at: string;
  system: SystemMetricPoint;
  cores: number;
  dbBytes: number | null;
  slots: SlotSample[];
}

export interface DiskReport {
  at: string;
  /** The apps and slot releases it was measured for (see diskSignature). */
  signature: string;
  apps: DiskUse[];
  database: number | null;
}

export interface SamplerOptions {
  sampleMs?: number;
  procfs?: Procfs;
  now?: () => number;
}

type Key = `${string}/${Color}`;

export class Sampler {
  private readonly procfs: Procfs;
  private readonly now: () => number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopping = false;
  private running: Promise<void> | null = null;
  private current: Latest | null = null;
  private minute: number | null = null;
  private readonly accumulators = new Map<string, { row: Omit<ResourceRow, "samples" | "values" | "bucket">; acc: MinuteAccumulator }>();
  private previousSystem: SystemReading | null = null;
  private readonly previousSlots = new Map<Key, { reading: SlotReading; pid: number | null }>();
  private readonly restarts = new Map<Key, number>();
  private disk: DiskReport | null = null;
  /** The disk report last stored (as `app` rows): one is stored once, in the minute it is first seen. */
  private diskStored: DiskReport | null = null;
  private diskRunning: Promise<DiskReport> | null = null;

  constructor(
    private readonly services: Services,
    private readonly options: SamplerOptions = {},
  ) {
    this.procfs = options.procfs ?? createProcfs();
    this.now = options.now ?? Date.now;
  }

  get sampleMs(): number {
    return this.options.sampleMs ?? this.services.config.metrics.sampleMs;
  }

  get started(): boolean {
    return this.timer !== null;
  }

  /** Samples at once (so the first figures do not wait a whole interval), then every interval. */
  start(): void {
    if (this.timer) return;
    this.stopping = false;
    this.timer = setInterval(() => void this.tick(), this.sampleMs);
    void this.tick();
  }

  /** Stops sampling and writes the minute so far. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // A disk walk under way stops at the next app rather than holding up the panel's stop.
    this.stopping = true;
    await this.running;
    await this.diskRunning?.catch(() => {});
    await this.flush().catch((error: unknown) => this.services.log.warn("writing resource figures failed", { error }));
  }

  latest(): Latest | null {
    return this.current;
  }

  /** One sample now (skipped when one is still under way); errors are logged, never thrown. */
  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.sample()
      .catch((error: unknown) => this.services.log.warn("resource sample failed", { error }))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** Writes the current, unfinished minute (replacing what an earlier flush of it wrote). */
  async flush(): Promise<boolean> {
    if (this.minute === null) return true;
    return this.write(this.minute);
  }

  /**
   * Disk use per app and the database's size, at most `DISK_USE_EVERY_MS` old; measured again at
   * once when an app was created or deleted or a slot took another release since.
   */
  async diskUse(): Promise<DiskReport> {
    const { db } = this.services;
    const signature = diskSignature(await appNames(db), await slotsToSample(db));
    if (!this.disk || this.disk.signature !== signature) return this.measureDisk(signature);
    if (this.now() - Date.parse(this.disk.at) >= DISK_USE_EVERY_MS) void this.measureDisk(signature).catch(() => {});
    return this.disk;
  }

  /** One walk at a time; a walk for other apps or releases than asked waits for the one under way, then runs. */
  private async measureDisk(signature: string): Promise<DiskReport> {
    const running = this.diskRunning;
    if (running) {
      const report = await running.catch(() => null);
      if (report?.signature === signature) return report;
      if (this.diskRunning && this.diskRunning !== running) return this.measureDisk(signature);
    }
    const walk = this.walkDisk(signature).finally(() => {
      if (this.diskRunning === walk) this.diskRunning = null;
    });
    this.diskRunning = walk;
    return walk;
  }

  private async walkDisk(signature: string): Promise<DiskReport> {
    const { config, db, database, proxy } = this.services;
    const at = new Date(this.now()).toISOString();
    const apps: DiskUse[] = [];
    for (const { name } of await appNames(db)) {
      if (this.stopping) throw new Error("the sampler stopped");
      const paths = appPaths(config.dataDir, name);
      const releases = await diskUsage([paths.releases]);
      const logs =
        (await diskUsage([join(paths.root, "logs"), join(paths.root, "slots")])) +
        (await diskUsage(await logFamily(proxy.paths.accessLog(name))));
      const buildCache = await diskUsage([paths.builds]);
      apps.push({ app: name, releases, logs, buildCache, total: releases + logs + buildCache });
    }
    let size: number | null = null;
    if (this.stopping) throw new Error("the sampler stopped");
    try {
      const pgDir = join(config.dataDir, "pg");
      size = database.kind === "pglite" ? await diskUsage([pgDir]) : 0;
      if (!size) size = await databaseSize(db);
    } catch (error) {
      this.services.log.warn("measuring the database's size failed", { error });
    }
    this.disk = { at, signature, apps, database: size };
    return this.disk;
  }

  private async sample(): Promise<void> {
    const { db, runtime, config, log } = this.services;
    const now = this.now();
    const minute = Math.floor(now / 60_000) * 60_000;
    if (this.minute !== null && this.minute !== minute) {
      await this.write(this.minute).catch((error: unknown) => log.warn("writing resource figures failed", { error }));
      this.accumulators.clear();
    }
    this.minute = minute;

    const reading = this.procfs.system();
    const system = this.systemValues(reading);
    this.accumulate("system", null, null, system);

    const names = await appNames(db);
    const rows = await slotsToSample(db);
    const signature = diskSignature(names, rows);
    if (!this.disk || now - Date.parse(this.disk.at) >= DISK_USE_EVERY_MS || this.disk.signature !== signature) {
      void this.measureDisk(signature).catch((error: unknown) => {
        if (!this.stopping) log.warn("measuring disk use failed", { error });
      });
    }
    const seen = new Set<Key>();
    let table: Map<number, number> | null = null;
    const slots: SlotSample[] = [];
    for (const row of rows) {
      const status: SlotStatus | null = await runtime.status(row.app, row.color).catch(() => null);
      const pid = status?.pid ?? null;
      if (pid === null && !EXPECTED_RUNNING.has(row.state)) continue;
      const key: Key = `${row.app}/${row.color}`;
      seen.add(key);
      let slotReading: SlotReading | null = null;
      if (config.mode === "server") slotReading = this.procfs.cgroup(row.app, row.color);
      if (!slotReading && pid !== null) {
        table ??= this.procfs.processTable();
        slotReading = this.procfs.processTree(pid, table);
      }
      const rates = this.slotRates(key, pid, slotReading);
      const restarts = status?.restarts ?? 0;
      await this.noticeRestart(key, row, restarts, status);
      const sample: SlotSample = {
        appId: row.appId,
        app: row.app,
        color: row.color,
        pid,
        up: pid !== null && status?.state === "running",
        live: row.state === "live",
        cpu: rates.cpu,
        memory: slotReading?.memory ?? null,
        ioRead: rates.ioRead,
        ioWrite: rates.ioWrite,
        restarts,
        source: slotReading?.source ?? null,
      };
      slots.push(sample);
      this.accumulate("slot", row.appId, row.color, {
        cpu: sample.cpu,
        memory: sample.memory,
        ioRead: sample.ioRead,
        ioWrite: sample.ioWrite,
        restarts,
        up: sample.up,
        live: sample.live,
      });
    }
    for (const key of [...this.previousSlots.keys(), ...this.restarts.keys()]) {
      if (!seen.has(key)) {
        this.previousSlots.delete(key);
        this.restarts.delete(key);
      }
    }
    // Disk use is measured every DISK_USE_EVERY_MS, so each measurement is one `app` row (in the
    // minute it was first seen) rather than the same figures again every minute: a reader of these
    // rows takes a minute without one as the last value before it.
    if (this.disk && this.disk !== this.diskStored) {
      this.diskStored = this.disk;
      const ids = new Map(names.map((a) => [a.name, a.id]));
      for (const use of this.disk.apps) {
        const appId = ids.get(use.app);
        if (appId) this.accumulate("app", appId, null, { releases: use.releases, logs: use.logs, buildCache: use.buildCache });
      }
    }

    const cores = reading.cpu?.cores ?? 1;
    this.current = {
      at: new Date(now).toISOString(),
      system: systemPoint(now, system),
      cores,
      dbBytes: this.disk?.database ?? null,
      slots,
    };
    await this.publish(now, minute, names, slots);
  }

  private systemValues(reading: SystemReading): ResourceValues {
    const before = this.previousSystem;
    this.previousSystem = reading;
    const seconds = before ? (reading.at - before.at) / 1000 : 0;
    const rate = (a: number | undefined, b: number | undefined) =>
      seconds > 0 && a !== undefined && b !== undefined && b >= a ? Math.round((b - a) / seconds) : null;
    return {
      cpu: before?.cpu && reading.cpu ? cpuBusy(before.cpu, reading.cpu) : null,
      load1: reading.load1,
      memoryUsed: reading.memory?.memoryUsed ?? null,
      memoryTotal: reading.memory?.memoryTotal ?? null,
      swapUsed: reading.memory?.swapUsed ?? null,
      swapTotal: reading.memory?.swapTotal ?? null,
      netRx: rate(before?.net?.rx, reading.net?.rx),
      netTx: rate(before?.net?.tx, reading.net?.tx),
      psiCpu: reading.pressure.cpu,
      psiMemory: reading.pressure.memory,
      psiIo: reading.pressure.io,
      disks: reading.disks,
      dbBytes: this.disk?.database ?? null,
    };
  }

  /** CPU and I/O rates against the previous reading of the same process (a restarted one starts over). */
  private slotRates(key: Key, pid: number | null, reading: SlotReading | null) {
    const before = this.previousSlots.get(key);
    if (reading) this.previousSlots.set(key, { reading, pid });
    else this.previousSlots.delete(key);
    const none = { cpu: null, ioRead: null, ioWrite: null };
    if (!reading || !before || before.pid !== pid || before.reading.source !== reading.source) return none;
    const seconds = (reading.at - before.reading.at) / 1000;
    if (!(seconds > 0)) return none;
    const delta = (a: number | null | undefined, b: number | null | undefined) =>
      a !== null && a !== undefined && b !== null && b !== undefined && b >= a ? b - a : null;
    const usec = delta(before.reading.cpuUsec, reading.cpuUsec);
    const read = delta(before.reading.io?.read, reading.io?.read);
    const write = delta(before.reading.io?.write, reading.io?.write);
    return {
      cpu: usec === null ? null : Math.round((usec / 1e6 / seconds) * 10_000) / 10_000,
      ioRead: read === null ? null : Math.round(read / seconds),
      ioWrite: write === null ? null : Math.round(write / seconds),
    };
  }

  /**
   * A restart counter that grew is recorded once in the audit log (`slot.restarted`, with the exit
   * that caused it) and announced as `slot.updated`, so the activity list keeps it after the
   * screen that saw the event is closed.
   */
  private async noticeRestart(
    key: Key,
    row: { appId: string; app: string; color: Color; state: string; releaseId: string | null },
    restarts: number,
    status: SlotStatus | null,
  ): Promise<void> {
    const before = this.restarts.get(key);
    this.restarts.set(key, restarts);
    if (before === undefined || restarts <= before) return;
    const { db, events, log } = this.services;
    const exit = status?.lastExit
      ? { code: status.lastExit.code, signal: status.lastExit.signal, at: status.lastExit.at.toISOString() }
      : null;
    log.warn("a slot's process restarted", { app: row.app, color: row.color, restarts, exit });
    try {
      const recorded = await recordRestart(db, { app: row.app, color: row.color, restarts, releaseId: row.releaseId, exit });
      if (recorded) {
        await events.publish({
          type: "slot.updated",
          appId: row.appId,
          app: row.app,
          color: row.color,
          state: row.state as EventOf<"slot.updated">["state"],
          releaseId: row.releaseId,
        });
      }
    } catch (error) {
      log.warn("recording a restart failed", { error, app: row.app, color: row.color });
    }
  }

  private accumulate(subject: ResourceRow["subject"], appId: string | null, slot: string | null, values: ResourceValues): void {
    const key = `${subject}/${appId ?? ""}/${slot ?? ""}`;
    let entry = this.accumulators.get(key);
    if (!entry) {
      entry = { row: { subject, appId, slot }, acc: new MinuteAccumulator() };
      this.accumulators.set(key, entry);
    }
    entry.acc.add(values);
  }

  private async write(minute: number): Promise<boolean> {
    const bucket = new Date(minute);
    const rows: ResourceRow[] = [...this.accumulators.values()].map(({ row, acc }) => ({
      ...row,
      bucket,
      samples: acc.samples,
      values: acc.values(),
    }));
    return writeResourceMinute(this.services.db, rows);
  }

  /** The `metric` event: the server now and each app's last full minute of requests, cut to fit NOTIFY. */
  private async publish(now: number, minute: number, names: Array<{ id: string; name: string }>, slots: SlotSample[]): Promise<void> {
    const { db, events } = this.services;
    const requests = await requestsInMinute(db, new Date(minute - 60_000));
    const apps = names.map(({ id, name }) => {
      const own = slots.filter((s) => s.appId === id);
      const sum = (pick: (s: SlotSample) => number | null) => {
        const values = own.map(pick).filter((v): v is number => v !== null);
        return values.length ? Math.round(values.reduce((a, b) => a + b, 0) * 10_000) / 10_000 : null;
      };
      return {
        appId: id,
        app: name,
        requests: requests.get(id)?.requests ?? 0,
        errors: requests.get(id)?.errors ?? 0,
        cpu: sum((s) => s.cpu),
        memory: sum((s) => s.memory),
        restarts: own.reduce((n, s) => n + s.restarts, 0),
      };
    });
    // The busiest first, so the apps left out of a long list are the quiet ones.
    apps.sort((a, b) => b.requests - a.requests || (b.memory ?? 0) - (a.memory ?? 0) || a.app.localeCompare(b.app));
    const system = this.current?.system ?? null;
    const event = fitToBudget(
      apps,
      (list): EventOf<"metric"> => ({
        type: "metric",
        at: new Date(now).toISOString(),
        system: system && { cpu: system.cpu, load1: system.load1, memoryUsed: system.memoryUsed, memoryTotal: system.memoryTotal },
        apps: list,
      }),
      EVENT_BUDGET,
    );
    await events.publish(event);
  }
}

/** What disk use depends on: the apps and the release in each slot. */
function diskSignature(names: Array<{ name: string }>, slots: Array<{ app: string; color: string; releaseId: string | null }>): string {
  return JSON.stringify([names.map((a) => a.name), slots.map((s) => `${s.app}/${s.color}/${s.releaseId ?? ""}`)]);
}
