import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccessLogReader, parseAccessLine } from "../../backend/adapters/access-log.ts";

const dir = mkdtempSync(join(tmpdir(), "sy-access-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `app${++n}.access.log`);

/** A line as nginx writes it with the switchyard_json format. */
function line(uri: string, status = 200, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({
    time: "2026-11-28T09:00:00+00:00",
    msec: 1795856400.123,
    host: "shop.localhost",
    method: "GET",
    uri,
    status,
    bytes: 2,
    request_time: 0.004,
    upstream: "unix:/var/lib/switchyard/sock/shop.sock",
    upstream_status: String(status),
    upstream_time: "0.003",
    ...extra,
  })}\n`;
}

describe("access-log reader", () => {
  test("reads only what was added since the last read, parsed", async () => {
    const path = fresh();
    writeFileSync(path, line("/old"));
    const reader = createAccessLogReader(path, { from: "end" });
    expect(await reader.read()).toEqual([]);
    appendFileSync(path, line("/a") + line("/b", 502, { upstream_time: "0.001, 0.002", upstream: "unix:/s/shop-green.sock" }));
    const entries = await reader.read();
    expect(entries.map((e) => e.uri)).toEqual(["/a", "/b"]);
    expect(entries[0]).toMatchObject({ at: 1795856400123, status: 200, upstreamMs: 3, requestMs: 4, method: "GET" });
    expect(entries[0]?.slot).toBeUndefined();
    expect(entries[1]).toMatchObject({ status: 502, upstreamMs: 3, slot: "green" });
    expect(await reader.read()).toEqual([]);
    reader.close();

    const fromStart = createAccessLogReader(path, { from: "start" });
    expect((await fromStart.read()).map((e) => e.uri)).toEqual(["/old", "/a", "/b"]);
    fromStart.close();
  });

  test("a last line without its newline waits for the rest of it", async () => {
    const path = fresh();
    writeFileSync(path, "");
    const reader = createAccessLogReader(path);
    const text = line("/split/é");
    appendFileSync(path, text.slice(0, 40));
    expect(await reader.read()).toEqual([]);
    expect(reader.offset()).toBe(0);
    appendFileSync(path, text.slice(40));
    expect((await reader.read()).map((e) => e.uri)).toEqual(["/split/é"]);
    expect(reader.offset()).toBe(Buffer.byteLength(text));
    reader.close();
  });

  test("after a rotation it finishes the old file, then reads the new one from its start", async () => {
    const path = fresh();
    writeFileSync(path, line("/before"));
    const reader = createAccessLogReader(path);
    expect((await reader.read()).map((e) => e.uri)).toEqual(["/before"]);
    appendFileSync(path, line("/late-in-old"));
    renameSync(path, `${path}.1`);
    // nginx writes to the old file until it reopens its logs.
    appendFileSync(`${path}.1`, line("/still-old"));
    writeFileSync(path, line("/new-1") + line("/new-2"));
    expect((await reader.read()).map((e) => e.uri)).toEqual(["/late-in-old", "/still-old", "/new-1", "/new-2"]);
    appendFileSync(path, line("/new-3"));
    expect((await reader.read()).map((e) => e.uri)).toEqual(["/new-3"]);
    reader.close();
  });

  test("after a truncation it reads again from the start", async () => {
    const path = fresh();
    writeFileSync(path, line("/one") + line("/two"));
    const reader = createAccessLogReader(path);
    expect(await reader.read()).toHaveLength(2);
    truncateSync(path, 0);
    appendFileSync(path, line("/three"));
    expect((await reader.read()).map((e) => e.uri)).toEqual(["/three"]);
    reader.close();
  });

  test("a log that does not exist yet is read from its start once it appears", async () => {
    const path = fresh();
    const reader = createAccessLogReader(path, { from: "end" });
    expect(await reader.read()).toEqual([]);
    writeFileSync(path, line("/first"));
    expect((await reader.read()).map((e) => e.uri)).toEqual(["/first"]);
    reader.close();
  });

  test("a checkpoint carries on in another reader, through the rotated file when the path was rotated since", async () => {
    const path = fresh();
    writeFileSync(path, line("/a") + line("/b"));
    const first = createAccessLogReader(path, { from: "start" });
    expect(await first.read()).toHaveLength(2);
    const checkpoint = first.checkpoint();
    first.close();
    appendFileSync(path, line("/c"));
    const second = createAccessLogReader(path, { from: checkpoint });
    expect((await second.read()).map((e) => e.uri)).toEqual(["/c"]);
    second.close();
    renameSync(path, `${path}.1`);
    writeFileSync(path, line("/d"));
    // The rest of the rotated file (<path>.1 has the checkpoint's inode), then the new file from its start.
    const third = createAccessLogReader(path, { from: checkpoint });
    expect((await third.read()).map((e) => e.uri)).toEqual(["/c", "/d"]);
    const after = third.checkpoint();
    third.close();
    appendFileSync(path, line("/e"));
    const fourth = createAccessLogReader(path, { from: after });
    expect((await fourth.read()).map((e) => e.uri)).toEqual(["/e"]);
    fourth.close();
  });

  test("a checkpoint two rotations old reads .2 on from its offset, then .1 and the path whole", async () => {
    const path = fresh();
    writeFileSync(path, line("/a"));
    const first = createAccessLogReader(path, { from: "start" });
    expect(await first.read()).toHaveLength(1);
    const checkpoint = first.checkpoint();
    first.close();
    appendFileSync(path, line("/b"));
    renameSync(path, `${path}.1`);
    writeFileSync(path, line("/c"));
    renameSync(`${path}.1`, `${path}.2`);
    renameSync(path, `${path}.1`);
    writeFileSync(path, line("/d"));
    const reader = createAccessLogReader(path, { from: checkpoint });
    expect((await reader.read()).map((e) => e.uri)).toEqual(["/b", "/c", "/d"]);
    reader.close();
  });

  test("a checkpoint whose file is gone (compressed or removed) starts the path from its start", async () => {
    const path = fresh();
    writeFileSync(path, line("/a"));
    const first = createAccessLogReader(path, { from: "start" });
    await first.read();
    const checkpoint = first.checkpoint();
    first.close();
    // Compressed: no longer a file the reader can read (kept here only so its inode is not reused).
    renameSync(path, `${path}.2.gz`);
    writeFileSync(path, line("/b"));
    const reader = createAccessLogReader(path, { from: checkpoint });
    expect((await reader.read()).map((e) => e.uri)).toEqual(["/b"]);
    reader.close();
  });

  test("maxBytes bounds one read; the checkpoint is at the last whole line, and the next read carries on", async () => {
    const path = fresh();
    const lines = Array.from({ length: 50 }, (_, i) => line(`/n${i}`));
    writeFileSync(path, lines.join(""));
    const seen: string[] = [];
    let checkpoint: { ino: number; offset: number } | "start" = "start";
    let reads = 0;
    for (;;) {
      const reader = createAccessLogReader(path, { from: checkpoint, maxBytes: 1000 });
      seen.push(...(await reader.read()).map((e) => e.uri));
      checkpoint = reader.checkpoint();
      const more = reader.more();
      reader.close();
      reads++;
      if (!more) break;
    }
    expect(seen).toEqual(lines.map((_, i) => `/n${i}`));
    expect(reads).toBeGreaterThan(5);
  });

  test("bytes in and out are parsed; an older line without them counts its body bytes out", () => {
    expect(parseAccessLine(line("/x", 200, { bytes_in: 431, bytes_out: 220 }).trim())).toMatchObject({ bytesIn: 431, bytesOut: 220 });
    expect(parseAccessLine(line("/x").trim())).toMatchObject({ bytesIn: 0, bytesOut: 2 });
  });

  test("lines that are not entries are skipped", () => {
    for (const bad of ["", "not json", "{broken", '{"status":"200"}', '{"uri":"/x"}']) expect(parseAccessLine(bad)).toBeNull();
    expect(parseAccessLine(line("/x", 200, { upstream_time: "-" }).trim())?.upstreamMs).toBeNull();
  });
});
