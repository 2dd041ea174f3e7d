/**
 * Request metrics from nginx's per-app JSON access logs: each app's file is read on from the
 * checkpoint stored in the database, aggregated per slot × release × minute, and written with the
 * new checkpoint in one transaction (see ingestBatch): a restarted panel carries on exactly where
 * the last commit left off, and of two panels on one database only the lock holder writes.
 */

import { type AccessEntry, accessLogState, createAccessLogReader } from "../adapters/access-log.ts";
import { confirmHostname } from "../commands/nginx.ts";
import {
  accessSource,
  appsWithCheckpoints,
  attributionOf,
  type Checkpoint,
  type IngestOutcome,
  ingestBatch,
  type MinuteGroup,
  removeOrphanCheckpoints,
} from "../db/queries/request-stats.ts";
import {
  addRequest,
  addToHistogram,
  attribute,
  bucketOf,
  emptyAggregate,
  emptyHistogram,
  type RequestAggregate,
} from "../domain/metrics.ts";
import type { Services } from "../services.ts";

/** At most this much of one log is read per pass, so a backlog is taken in bounded steps. */
export const INGEST_MAX_BYTES = 8 * 1024 * 1024;
/** Orphaned checkpoints (of deleted apps) are looked for every this many passes. */
const ORPHAN_EVERY = 60;
/**
 * A background pass is skipped while no log grew, but at least every this many passes one runs
 * in full: it finds an app whose creation this panel did not hear of.
 */
const FULL_PASS_EVERY = 12;
/** Lines are aggregated in runs of this many, letting other work (API requests) in between. */
const YIELD_EVERY = 2_000;

type S = Pick<Services, "db" | "proxy" | "log">;

export interface IngestTally {
  apps: number;
  requests: number;
  /** True when another panel held the lock (it ingests instead). */
  locked: boolean;
  /** True when some log has more to read than one pass takes. */
  more: boolean;
  /**
   * Every log of the pass by its path: what it was ("inode:size", "none" when missing) before a
   * read that took it to its end and committed, or null when something may be left in it.
   */
  settled?: Map<string, string | null>;
}

/** The slot an upstream address names, when it is one of the app's slot sockets (a preview host). */
function previewSlot(s: S, app: string, entry: AccessEntry): "blue" | "green" | undefined {
  const last = entry.upstream.split(", ").at(-1) ?? "";
  for (const color of ["blue", "green"] as const) if (last === `unix:${s.proxy.paths.slotSocket(app, color)}`) return color;
  return undefined;
}

/** One pass over one app's log. */
async function ingestApp(
  s: S,
  app: { id: string; name: string },
  from: Checkpoint | null,
  maxBytes: number,
): Promise<{ requests: number; locked: boolean; more: boolean; outcome: IngestOutcome | "none" }> {
  const path = s.proxy.paths.accessLog(app.name);
  const reader = createAccessLogReader(path, { from: from ?? "start", maxBytes });
  let entries: AccessEntry[];
  let next: Checkpoint;
  let more: boolean;
  try {
    entries = await reader.read();
    next = reader.checkpoint();
    more = reader.more();
  } finally {
    reader.close();
  }
  if (next.ino < 0) return { requests: 0, locked: false, more: false, outcome: "none" };
  if (from && from.ino === next.ino && from.offset === next.offset) return { requests: 0, locked: false, more: false, outcome: "none" };

  const confirm = confirmHostname(app.name);
  const counted = entries.filter((e) => e.host !== confirm);
  const groups = new Map<string, MinuteGroup>();
  const totals: RequestAggregate & { histogram: number[] } = { ...emptyAggregate(), histogram: emptyHistogram() };
  if (counted.length > 0) {
    const { switches, running } = await attributionOf(s.db, app.id);
    let done = 0;
    for (const entry of counted) {
      if (++done % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      const slot = previewSlot(s, app.name, entry);
      const owner = attribute(switches, { at: entry.at, requestMs: entry.requestMs, ...(slot ? { slot } : {}) }, running);
      const bucket = bucketOf(entry.at, "minute");
      const k = `${bucket}|${owner.slot}|${owner.releaseId ?? ""}`;
      let group = groups.get(k);
      if (!group) {
        group = { bucket: new Date(bucket), slot: owner.slot, releaseId: owner.releaseId, agg: emptyAggregate() };
        groups.set(k, group);
      }
      addRequest(group.agg, entry);
      addRequest(totals, entry);
      if (entry.upstreamMs !== null && entry.upstreamMs >= 0) addToHistogram(totals.histogram, entry.upstreamMs);
    }
  }
  const outcome = await ingestBatch(s.db, {
    appId: app.id,
    source: accessSource(app.name),
    readFrom: from,
    next,
    groups: [...groups.values()],
    totals,
  });
  if (outcome !== "written") return { requests: 0, locked: outcome === "locked", more: false, outcome };
  return { requests: counted.length, locked: false, more, outcome };
}

/** One pass over every app's log (or the named ones). */
export async function ingestOnce(s: S, options: { only?: string[]; maxBytes?: number } = {}): Promise<IngestTally> {
  const tally: IngestTally = { apps: 0, requests: 0, locked: false, more: false, settled: new Map() };
  if (!s.proxy.enabled) return tally;
  for (const app of await appsWithCheckpoints(s.db)) {
    if (options.only && !options.only.includes(app.name)) continue;
    const path = s.proxy.paths.accessLog(app.name);
    const before = accessLogState(path);
    const result = await ingestApp(s, app, app.checkpoint, options.maxBytes ?? INGEST_MAX_BYTES);
    const read = !result.more && (result.outcome === "none" || result.outcome === "written");
    tally.settled?.set(path, read ? before : null);
    tally.apps++;
    tally.requests += result.requests;
    tally.locked ||= result.locked;
    tally.more ||= result.more;
    if (result.locked) break;
  }
  return tally;
}

/**
 * Ingests every `intervalMs` in the background; `ingestNow()` (the post-switch watch, tests)
 * waits for a pass under way and makes one more, so every line written before the call is in.
 * Passes never overlap within a panel.
 */
export class Ingester {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private passes = 0;
  private stopped = true;
  /**
   * After a full pass: each app's log as it was when read to its end (see IngestTally.settled);
   * null when unknown (before the first pass, after an app was created or deleted).
   */
  private settled: Map<string, string | null> | null = null;
  /** Counts app creations and deletions heard of (and stops): a pass that saw one does not set `settled`. */
  private generation = 0;
  private unsubscribe: (() => void) | null = null;
  private skipped = 0;

  constructor(
    private readonly s: S,
    private readonly options: { intervalMs: number; maxBytes?: number } = { intervalMs: 1_000 },
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const events = (this.s as Partial<Services>).events;
    if (events) {
      this.unsubscribe = events.subscribe((event) => {
        if (event.type === "app.created" || event.type === "app.deleted") this.forget();
      });
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.forget();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.chain.catch(() => {});
  }

  /** One pass after any under way; resolves with what it read (the whole backlog when `all`). */
  ingestNow(options: { only?: string[]; all?: boolean } = {}): Promise<IngestTally> {
    const run = async (): Promise<IngestTally> => {
      const total: IngestTally = { apps: 0, requests: 0, locked: false, more: false };
      for (let round = 0; round < 100; round++) {
        const tally = await this.pass(options.only);
        total.apps = Math.max(total.apps, tally.apps);
        total.requests += tally.requests;
        total.locked ||= tally.locked;
        total.more = tally.more;
        if (!options.all || !tally.more || tally.locked) break;
      }
      return total;
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }

  private async pass(only?: string[]): Promise<IngestTally> {
    this.passes++;
    if (this.passes % ORPHAN_EVERY === 1) {
      const removed = await removeOrphanCheckpoints(this.s.db);
      if (removed > 0) this.s.log.debug("access-log checkpoints of deleted apps removed", { removed });
    }
    const generation = this.generation;
    const tally = await ingestOnce(this.s, {
      ...(only ? { only } : {}),
      ...(this.options.maxBytes ? { maxBytes: this.options.maxBytes } : {}),
    });
    // An app created or deleted during the pass keeps the next pass full.
    if (!only && this.generation === generation) this.settled = tally.settled ?? null;
    return tally;
  }

  private forget(): void {
    this.generation++;
    this.settled = null;
  }

  /**
   * Whether every app's log is as it was when last read to its end: then a background pass has
   * nothing to do and makes no query at all (one stat per log).
   */
  private idle(): boolean {
    if (!this.settled || !this.unsubscribe) return false;
    for (const [path, state] of this.settled) if (state === null || accessLogState(path) !== state) return false;
    return true;
  }

  /** A background pass: skipped when no log grew since it was last read to its end. */
  private tick(): Promise<IngestTally> {
    if (this.skipped < FULL_PASS_EVERY - 1 && this.idle()) {
      this.skipped++;
      return Promise.resolve({ apps: 0, requests: 0, locked: false, more: false });
    }
    this.skipped = 0;
    return this.ingestNow();
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.tick()
        .then((tally) => this.schedule(tally.more ? 0 : this.options.intervalMs))
        .catch((error: unknown) => {
          this.s.log.warn("request metrics ingestion failed", { error });
          this.schedule(this.options.intervalMs);
        });
    }, delay);
  }
}

const ingesters = new WeakMap<object, Ingester>();

/** The panel's ingester (one per services; created on first use, started by startBackground). */
export function ingesterOf(s: S & object): Ingester {
  let ingester = ingesters.get(s);
  if (!ingester) {
    const intervalMs = (s as Partial<Services>).config?.metrics.ingestMs ?? 5_000;
    ingester = new Ingester(s, { intervalMs });
    ingesters.set(s, ingester);
  }
  return ingester;
}
