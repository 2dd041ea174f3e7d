import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFileLogReader, pruneLogFiles, slotLogDir } from "../../backend/adapters/runtime-logs/files.ts";
import {
  compareFileCursors,
  encodeFileCursor,
  formatLogLine,
  parseFileCursor,
  parseLogLine,
} from "../../backend/adapters/runtime-logs/format.ts";
import { createJournalLogReader, entryLine, type JournalEntry, parseJournalCursor } from "../../backend/adapters/runtime-logs/journal.ts";
import { NO_FILTER } from "../../backend/adapters/runtime-logs/types.ts";
import { SegmentWriter } from "../../backend/adapters/runtime-logs/writer.ts";
import { type JournalQuery, journalHelperArgs, journalQueryArgv, UnitError } from "../../backend/commands/systemd.ts";
import type { RuntimeLogLine } from "../../backend/contract/api.ts";
import { createMatcher, SearchError } from "../../backend/domain/log-search.ts";

const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sy-runtime-logs-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

/** Writes lines as a supervisor would, with explicit times. */
function write(
  dir: string,
  app: string,
  slot: "blue" | "green",
  lines: Array<[number, string, string | null, string]>,
  segmentBytes = 4096,
) {
  const writer = new SegmentWriter(slotLogDir(dir, app, slot), segmentBytes);
  for (const [ms, stream, release, text] of lines) writer.append(formatLogLine(iso(ms), stream, release, text), ms);
  return writer;
}

async function readAllPages(reader: ReturnType<typeof createFileLogReader>, app: string, limit: number, filter = NO_FILTER) {
  const seen: RuntimeLogLine[] = [];
  let before: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const page = await reader.page(app, filter, { before, limit });
    seen.unshift(...page.lines);
    if (!page.more) break;
    before = page.before;
  }
  return seen;
}

describe("the log file format", () => {
  test("a line is time, stream, release and text; anything else is not a line", () => {
    const text = formatLogLine("2026-03-01T10:00:00.000Z", "stdout", "rel-1", "hello  world");
    expect(text).toBe("2026-03-01T10:00:00.000Z stdout rel-1 hello  world\n");
    expect(parseLogLine(text.trimEnd())).toEqual({
      at: "2026-03-01T10:00:00.000Z",
      stream: "stdout",
      releaseId: "rel-1",
      process: "web",
      text: "hello  world",
    });
    expect(parseLogLine("2026-03-01T10:00:00.000Z supervisor - starting")).toMatchObject({ stream: "system", releaseId: null });
    // Every process but the web's only instance says which it is.
    expect(parseLogLine("2026-03-01T10:00:00.000Z stdout:worker.2 rel-1 job done")).toMatchObject({
      stream: "stdout",
      process: "worker.2",
      text: "job done",
    });
    expect(parseLogLine("2026-03-01T10:00:00.000Z supervisor:worker rel-1 stopping")).toMatchObject({
      stream: "system",
      process: "worker",
    });
    expect(parseLogLine("2026-03-01T10:00:00.000Z stdout:Bad/Name rel-1 x")).toBeNull();
    expect(parseLogLine("2026-03-01T10:00:00.000Z stderr r ")).toMatchObject({ stream: "stderr", text: "" });
    for (const junk of ["", "half a line", "2026-03-01T10:00:00.000Z other r x", "2026-03-01 10:00:00.000Z stdout r x"]) {
      expect(parseLogLine(junk)).toBeNull();
    }
  });

  test("cursors round-trip and order by time, slot, then place", () => {
    const a = { atMs: T0, slot: "blue" as const, segment: T0, offset: 10 };
    expect(parseFileCursor(encodeFileCursor(a))).toEqual(a);
    expect(parseFileCursor("1.red.2.3")).toBeNull();
    expect(parseFileCursor("x")).toBeNull();
    expect(compareFileCursors(a, { ...a, slot: "green" })).toBeLessThan(0);
    expect(compareFileCursors(a, { ...a, offset: 11 })).toBeLessThan(0);
    expect(compareFileCursors({ ...a, atMs: T0 + 1 }, { ...a, slot: "green" })).toBeGreaterThan(0);
  });
});

describe("the segment writer", () => {
  test("starts a new file past the segment size, named by its first line's time, and a later writer goes on in the newest", () => {
    const dir = dataDir();
    const lines: Array<[number, string, string | null, string]> = [];
    for (let i = 0; i < 200; i++) lines.push([T0 + i * 1000, "stdout", "r1", `line ${i} ${"x".repeat(40)}`]);
    write(dir, "shop", "blue", lines, 4096);
    const files = readdirSync(slotLogDir(dir, "shop", "blue")).sort();
    expect(files.length).toBeGreaterThan(3);
    expect(files[0]).toBe(`${String(T0).padStart(13, "0")}.log`);
    for (const f of files.slice(0, -1)) expect(statSync(join(slotLogDir(dir, "shop", "blue"), f)).size).toBeLessThanOrEqual(4096);
    const again = new SegmentWriter(slotLogDir(dir, "shop", "blue"), 4096);
    expect(again.current).toBe(join(slotLogDir(dir, "shop", "blue"), files.at(-1) as string));
  });

  test("the web's and the workers' supervisors write one slot's segments side by side", () => {
    const dir = slotLogDir(dataDir(), "shop", "blue");
    const web = new SegmentWriter(dir, 4096);
    const worker = new SegmentWriter(dir, 4096);
    for (let i = 0; i < 400; i++) {
      // A second apart: each writer looks at the directory again, and joins what the other began.
      const writer = i % 2 === 0 ? web : worker;
      writer.append(
        formatLogLine(
          new Date(T0 + i * 1000).toISOString(),
          i % 2 === 0 ? "stdout" : "stdout:worker.1",
          "r1",
          `line ${i} ${"x".repeat(30)}`,
        ),
        T0 + i * 1000,
      );
    }
    const files = readdirSync(dir).sort();
    expect(files.length).toBeGreaterThan(5);
    // Neither writer grows a segment far past the size by not counting the other's lines.
    for (const f of files) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(4096 + 200);
    expect(web.current).toBe(worker.current);
  });
});

describe("the file reader", () => {
  function twoSlots(dir: string) {
    const blue: Array<[number, string, string | null, string]> = [];
    const green: Array<[number, string, string | null, string]> = [];
    for (let i = 0; i < 300; i++) {
      blue.push([T0 + i * 10, i % 3 === 0 ? "stderr" : "stdout", i < 150 ? "r1" : "r2", `blue ${i}`]);
      green.push([T0 + i * 10 + 5, "stdout", "r3", `green ${i}`]);
    }
    write(dir, "shop", "blue", blue);
    write(dir, "shop", "green", green);
  }

  test("pages newest first through both slots, every line once, in time order", async () => {
    const dir = dataDir();
    twoSlots(dir);
    const reader = createFileLogReader(dir);
    const first = await reader.page("shop", NO_FILTER, { before: null, limit: 7 });
    expect(first.lines.map((l) => l.text)).toEqual([
      "green 296",
      "blue 297",
      "green 297",
      "blue 298",
      "green 298",
      "blue 299",
      "green 299",
    ]);
    expect(first.more).toBe(true);
    const all = await readAllPages(reader, "shop", 37);
    expect(all).toHaveLength(600);
    expect(new Set(all.map((l) => l.id)).size).toBe(600);
    expect(all.map((l) => l.at)).toEqual([...all.map((l) => l.at)].sort());
    expect(all[0]).toMatchObject({ slot: "blue", releaseId: "r1", stream: "stderr", text: "blue 0" });
  });

  test("filters by slot, release, stream, text and time range", async () => {
    const dir = dataDir();
    twoSlots(dir);
    const reader = createFileLogReader(dir);
    const green = await readAllPages(reader, "shop", 50, { ...NO_FILTER, slot: "green" });
    expect(green.every((l) => l.slot === "green")).toBe(true);
    expect(green).toHaveLength(300);
    const r2 = await readAllPages(reader, "shop", 50, { ...NO_FILTER, releaseId: "r2" });
    expect(r2.map((l) => l.text)).toEqual(Array.from({ length: 150 }, (_, i) => `blue ${i + 150}`));
    const stderr = await readAllPages(reader, "shop", 50, { ...NO_FILTER, stream: "stderr" });
    expect(stderr).toHaveLength(100);
    const search = createMatcher("blue 1\\d$", { regex: true });
    const found = await readAllPages(reader, "shop", 50, { ...NO_FILTER, match: (t) => search.test(t) });
    expect(found.map((l) => l.text)).toEqual(Array.from({ length: 10 }, (_, i) => `blue 1${i}`));
    const range = await readAllPages(reader, "shop", 50, { ...NO_FILTER, from: new Date(T0 + 1000), to: new Date(T0 + 1100) });
    expect(range.map((l) => l.text)).toEqual([
      "blue 100",
      "green 100",
      "blue 101",
      "green 101",
      "blue 102",
      "green 102",
      "blue 103",
      "green 103",
      "blue 104",
      "green 104",
      "blue 105",
      "green 105",
      "blue 106",
      "green 106",
      "blue 107",
      "green 107",
      "blue 108",
      "green 108",
      "blue 109",
      "green 109",
      "blue 110",
    ]);
  });

  test("follows new lines from the end, and resumes after a cursor without losing or repeating one", async () => {
    const dir = dataDir();
    twoSlots(dir);
    const reader = createFileLogReader(dir);
    const tail = await reader.follow("shop", NO_FILTER, "end");
    expect((await tail.poll()).lines).toEqual([]);
    const later = T0 + 10_000;
    write(dir, "shop", "green", [[later, "stdout", "r3", "green new"]]);
    write(dir, "shop", "blue", [[later + 1, "stderr", "r2", "blue new"]]);
    expect((await tail.poll()).lines.map((l) => l.text)).toEqual(["green new", "blue new"]);
    expect((await tail.poll()).lines).toEqual([]);

    const all = await readAllPages(reader, "shop", 1000);
    const cut = all[400] as RuntimeLogLine;
    const resumed = await reader.follow("shop", NO_FILTER, { after: cut.id });
    const rest: RuntimeLogLine[] = [];
    for (;;) {
      const batch = await resumed.poll(50);
      rest.push(...batch.lines);
      if (!batch.more) break;
    }
    expect(rest.map((l) => l.id)).toEqual(all.slice(401).map((l) => l.id));

    const from = await reader.follow("shop", NO_FILTER, { at: new Date(T0 + 2990) });
    expect((await from.poll()).lines.map((l) => l.text)).toEqual(["blue 299", "green 299", "green new", "blue new"]);
  });

  test("the process runtime's tail keeps its old shape", async () => {
    const dir = dataDir();
    write(dir, "shop", "blue", [
      [T0, "supervisor", "r1", "starting"],
      [T0 + 1, "stdout", "r1", "listening"],
    ]);
    const page = await createFileLogReader(dir).page("shop", { ...NO_FILTER, slot: "blue" }, { before: null, limit: 200 });
    expect(page.lines.map((l) => `${l.at} ${l.stream === "system" ? "supervisor" : l.stream} ${l.text}`)).toEqual([
      "2026-03-01T10:00:00.000Z supervisor starting",
      "2026-03-01T10:00:00.001Z stdout listening",
    ]);
  });
});

describe("retention of the log files", () => {
  test("removes segments whose last line is older than the age limit, then the oldest beyond the size limit", () => {
    const dir = dataDir();
    const lines: Array<[number, string, string | null, string]> = [];
    for (let i = 0; i < 400; i++) lines.push([T0 + i, "stdout", "r", `line ${i} ${"y".repeat(60)}`]);
    write(dir, "shop", "blue", lines, 4096);
    write(dir, "shop", "green", lines.slice(0, 50), 4096);
    const blueDir = slotLogDir(dir, "shop", "blue");
    const files = readdirSync(blueDir).sort();
    const old = new Date(Date.now() - 20 * 86_400_000);
    for (const f of files.slice(0, 3)) utimesSync(join(blueDir, f), old, old);
    const byAge = pruneLogFiles(dir, { maxBytes: 1e9, maxAgeMs: 14 * 86_400_000 });
    expect(byAge.files).toBe(3);
    expect(readdirSync(blueDir).sort()).toEqual(files.slice(3));
    const bySize = pruneLogFiles(dir, { maxBytes: 10_000, maxAgeMs: 14 * 86_400_000 });
    expect(bySize.files).toBeGreaterThan(0);
    const left = [...readdirSync(blueDir), ...readdirSync(slotLogDir(dir, "shop", "green"))];
    // Each slot's newest segment stays; they fit the limit.
    expect(readdirSync(blueDir)).toContain(files.at(-1) as string);
    expect(left.length).toBeLessThanOrEqual(4);
  });
});

describe("the journal reader", () => {
  const entry = (over: Partial<JournalEntry>): JournalEntry => ({
    __CURSOR: "s=abc;i=1f",
    __REALTIME_TIMESTAMP: String(T0 * 1000 + 123),
    MESSAGE: "hello",
    PRIORITY: "6",
    _TRANSPORT: "stdout",
    _SYSTEMD_UNIT: "sy-shop-green.service",
    SWITCHYARD_RELEASE: "rel-7",
    ...over,
  });

  test("maps an entry to a line: slot from the unit, stream from transport and priority, text masked", () => {
    const mask = (t: string) => t.replaceAll("s3cret", "••••");
    expect(entryLine("shop", entry({ MESSAGE: "key s3cret" }), mask)).toEqual({
      id: `${T0 * 1000 + 123}~s=abc;i=1f`,
      at: "2026-03-01T10:00:00.000Z",
      slot: "green",
      releaseId: "rel-7",
      stream: "stdout",
      process: "web",
      text: "key ••••",
    });
    expect(entryLine("shop", entry({ PRIORITY: "3" }), mask)?.stream).toBe("stderr");
    expect(
      entryLine("shop", entry({ _TRANSPORT: "journal", _SYSTEMD_UNIT: "init.scope", UNIT: "sy-shop-blue.service" }), mask),
    ).toMatchObject({
      slot: "blue",
      stream: "system",
    });
    expect(entryLine("shop", entry({ MESSAGE: [104, 105] }), mask)?.text).toBe("hi");
    expect(entryLine("shop", entry({ _SYSTEMD_UNIT: "sy-other-blue.service" }), mask)).toBeNull();
    // Other web instances and workers: the unit names the process.
    expect(entryLine("shop", entry({ _SYSTEMD_UNIT: "sy-shop-blue_worker_2.service" }), mask)).toMatchObject({
      slot: "blue",
      process: "worker.2",
    });
    expect(entryLine("shop", entry({ _SYSTEMD_UNIT: "sy-shop-green_web_3.service" }), mask)).toMatchObject({
      slot: "green",
      process: "web.3",
    });
    expect(entryLine("shop", entry({ _SYSTEMD_UNIT: "sy-shop-green-socket.service" }), mask)).toBeNull();
    expect(parseJournalCursor("12~s=ab;i=3")).toEqual({ us: 12, cursor: "s=ab;i=3" });
    expect(parseJournalCursor("12~s=ab;rm -rf")).toBeNull();
  });

  test("pages back with --until and --reverse, masking with every secret the app had", async () => {
    const queries: JournalQuery[] = [];
    const journal: JournalEntry[] = Array.from({ length: 5 }, (_, i) =>
      entry({ __CURSOR: `s=a;i=${i}`, __REALTIME_TIMESTAMP: String((T0 + i) * 1000), MESSAGE: `line ${i} old-secret` }),
    );
    const reader = createJournalLogReader({
      secrets: () => ["old-secret"],
      async read(q) {
        queries.push(q);
        let rows = journal.filter(
          (e) =>
            (q.until == null || Number(e.__REALTIME_TIMESTAMP) <= q.until) &&
            (q.since == null || Number(e.__REALTIME_TIMESTAMP) >= q.since),
        );
        if (q.afterCursor) rows = rows.slice(rows.findIndex((e) => e.__CURSOR === q.afterCursor) + 1);
        rows = q.reverse ? rows.reverse().slice(0, q.lines) : rows.slice(0, q.lines);
        return {
          code: 0,
          signalCode: null,
          ms: 1,
          timedOut: false,
          cancelled: false,
          stdout: rows.map((r) => JSON.stringify(r)).join("\n"),
          stderr: "",
        };
      },
    });
    const first = await reader.page("shop", NO_FILTER, { before: null, limit: 2 });
    expect(first.lines.map((l) => l.text)).toEqual(["line 3 ••••", "line 4 ••••"]);
    const second = await reader.page("shop", NO_FILTER, { before: first.before, limit: 2 });
    expect(second.lines.map((l) => l.text)).toEqual(["line 1 ••••", "line 2 ••••"]);
    // Each slot's own unit, and the pattern of its other web instances and workers.
    expect(queries[1]).toMatchObject({
      units: ["sy-shop-blue.service", "sy-shop-blue_*.service", "sy-shop-green.service", "sy-shop-green_*.service"],
      until: (T0 + 3) * 1000,
      reverse: true,
    });
    const tail = await reader.follow("shop", NO_FILTER, { after: second.lines[1]?.id as string });
    expect((await tail.poll()).lines.map((l) => l.text)).toEqual(["line 3 ••••", "line 4 ••••"]);
  });

  test("the helper's journal arguments are checked and become one journalctl argv", () => {
    const q: JournalQuery = {
      units: ["sy-shop-blue.service", "sy-shop-green.service"],
      since: 1_764_337_737_123_456,
      afterCursor: "s=ab;i=12",
      lines: 200,
      reverse: true,
    };
    expect(journalHelperArgs(q)).toEqual([
      "journal",
      "--json",
      "--unit",
      "sy-shop-blue.service",
      "--unit",
      "sy-shop-green.service",
      "--since",
      "@1764337737.123456",
      "--after-cursor",
      "s=ab;i=12",
      "--lines",
      "200",
      "--reverse",
    ]);
    expect(journalQueryArgv({ units: ["sy-shop-blue.service"], until: 5, lines: 1 })).toEqual([
      "journalctl",
      "--no-pager",
      "--output",
      "json",
      "--unit",
      "sy-shop-blue.service",
      "--until",
      "@0.000005",
      "--lines",
      "1",
    ]);
    expect(() => journalHelperArgs({ units: ["nginx.service"], lines: 1 })).toThrow(UnitError);
    expect(() => journalHelperArgs({ units: ["sy-shop-blue-socket.service"], lines: 1 })).toThrow(UnitError);
    expect(() => journalHelperArgs({ units: [], lines: 1 })).toThrow(UnitError);
    expect(() => journalHelperArgs({ units: ["sy-shop-blue.service"], lines: 10_001 })).toThrow(UnitError);
    expect(() => journalHelperArgs({ units: ["sy-shop-blue.service"], lines: 1, afterCursor: "s=1;--x" })).toThrow(UnitError);
  });
});

describe("log search", () => {
  test("substring is case-insensitive; regexes that backtrack exponentially or do not parse are refused", () => {
    expect(createMatcher("ERROR", { regex: false }).test("an error here")).toBe(true);
    expect(createMatcher("^an? err", { regex: true }).test("An error")).toBe(true);
    for (const bad of ["(a+)+$", "(\\w*\\s?)*x", "((ab)*)+", "(x)\\1", "[", "a{2,1}", "x".repeat(201)]) {
      expect(() => createMatcher(bad, { regex: true })).toThrow(SearchError);
    }
    for (const fine of ["(foo|bar)+", "(a+)?b", "[(+*]+x", "\\(a+\\)+", "^\\d{4}-\\d{2}"]) {
      expect(() => createMatcher(fine, { regex: true })).not.toThrow();
    }
  });

  test("a search over its time budget stops with an error", () => {
    const m = createMatcher("a.*a.*a.*b", { regex: true, budgetMs: 1 });
    expect(() => {
      for (let i = 0; i < 1000; i++) m.test("a".repeat(150));
    }).toThrow(SearchError);
  });
});
