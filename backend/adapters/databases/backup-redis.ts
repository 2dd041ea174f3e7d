import { existsSync, mkdirSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Written, writeHashed } from "../backups/destinations.ts";
import { osFreePorts } from "../ports.ts";

/** Keys per logical database (`db0` …), with how many of them carry a TTL. */
export type Keyspace = Record<string, { keys: number; expires: number }>;

export interface RedisAddress {
  host: string;
  port: number;
  user: string;
  password: string;
}

function clientOf(a: RedisAddress): Bun.RedisClient {
  const auth = a.user
    ? `${encodeURIComponent(a.user)}:${encodeURIComponent(a.password)}@`
    : a.password
      ? `:${encodeURIComponent(a.password)}@`
      : "";
  return new Bun.RedisClient(`redis://${auth}${a.host}:${a.port}`, {
    autoReconnect: false,
    connectionTimeout: 10_000,
    enableOfflineQueue: false,
  });
}

async function withClient<T>(a: RedisAddress, fn: (c: Bun.RedisClient) => Promise<T>): Promise<T> {
  const c = clientOf(a);
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.close();
  }
}

/** `INFO keyspace` as numbers. */
export function parseKeyspace(info: string): Keyspace {
  const out: Keyspace = {};
  for (const m of info.matchAll(/^(db\d+):keys=(\d+),expires=(\d+)/gm)) out[m[1] as string] = { keys: Number(m[2]), expires: Number(m[3]) };
  return out;
}

export async function keyspaceOf(a: RedisAddress): Promise<Keyspace> {
  return withClient(a, async (c) => parseKeyspace(String(await c.send("INFO", ["keyspace"]))));
}

export const totalKeys = (k: Keyspace): number => Object.values(k).reduce((n, d) => n + d.keys, 0);
const totalExpires = (k: Keyspace): number => Object.values(k).reduce((n, d) => n + d.expires, 0);

/**
 * Whether a restored key count fits the source at snapshot time. The source is counted right
 * before and right after the snapshot (Redis cannot count inside it): the restore must lie between
 * the two, less the keys with a TTL, which may have expired before the scratch server loaded them.
 */
export function redisCountProblem(before: Keyspace, after: Keyspace, restored: Keyspace): string | null {
  const low = Math.min(totalKeys(before), totalKeys(after)) - Math.max(totalExpires(before), totalExpires(after));
  const high = Math.max(totalKeys(before), totalKeys(after));
  const got = totalKeys(restored);
  if (got < Math.max(0, low) || got > high) {
    return low === high
      ? `the restore has ${got} keys, the source had ${high}`
      : `the restore has ${got} keys, the source had between ${Math.max(0, low)} and ${high}`;
  }
  return null;
}

/**
 * An RDB snapshot of the instance (`redis-cli --rdb`, the same transfer a replica gets), written
 * to `tmpFile` (0600) and then streamed into `write`. The keyspace is read just before and after.
 */
export async function dumpRedis(
  a: RedisAddress,
  tmpFile: string,
  write: (source: AsyncIterable<Uint8Array>) => Promise<Written>,
  signal?: AbortSignal,
): Promise<{ written: Written; before: Keyspace; after: Keyspace }> {
  // The snapshot goes out like a replica's sync, which waits 5 s for more replicas by default; these
  // instances have none.
  await withClient(a, (c) => c.send("CONFIG", ["SET", "repl-diskless-sync-delay", "0"])).catch(() => {});
  const before = await keyspaceOf(a);
  mkdirSync(dirname(tmpFile), { recursive: true, mode: 0o700 });
  rmSync(tmpFile, { force: true });
  await (await open(tmpFile, "w", 0o600)).close();
  try {
    const argv = [
      "redis-cli",
      "-h",
      a.host,
      "-p",
      String(a.port),
      "--no-auth-warning",
      ...(a.user ? ["--user", a.user] : []),
      "--rdb",
      tmpFile,
    ];
    const proc = Bun.spawn(argv, { env: { ...process.env, REDISCLI_AUTH: a.password }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const onAbort = () => proc.kill();
    signal?.addEventListener("abort", onAbort);
    const code = await proc.exited;
    signal?.removeEventListener("abort", onAbort);
    if (code !== 0) {
      const text = `${await new Response(proc.stderr).text()} ${await new Response(proc.stdout).text()}`.trim();
      throw new Error(`redis-cli --rdb exited with ${code}: ${text.slice(-1000)}`);
    }
    const after = await keyspaceOf(a);
    const written = await write(Bun.file(tmpFile).stream());
    return { written, before, after };
  } finally {
    rmSync(tmpFile, { force: true });
  }
}

/** A throwaway redis-server loaded from an RDB: on a port from the OS, in a directory of its own, with a password. */
export interface ScratchRedis {
  address: RedisAddress;
  keyspace(): Promise<Keyspace>;
  stop(): Promise<void>;
}

/**
 * Copies the RDB from `source` into `dir` (hashing it against `sha256`) and starts a redis-server
 * on it, with persistence off, so nothing it does is ever written back.
 */
export async function startScratchRedis(dir: string, source: ReadableStream<Uint8Array>, sha256: string | null): Promise<ScratchRedis> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const rdb = join(dir, "dump.rdb");
  const h = await writeHashed(source, rdb);
  if (sha256 && h.digest() !== sha256) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`The stored file's checksum (${h.digest()}) differs from the one recorded at backup (${sha256}).`);
  }
  const password = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("hex");
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = osFreePorts(1)[0] as number;
    const conf = join(dir, "scratch.conf");
    // The password goes in a 0600 file, never on the command line.
    const text = [
      "bind 127.0.0.1",
      `port ${port}`,
      `dir ${dir}`,
      "dbfilename dump.rdb",
      "appendonly no",
      'save ""',
      "daemonize no",
      "databases 16",
      `requirepass ${password}`,
      "",
    ].join("\n");
    const handle = await open(conf, "w", 0o600);
    await handle.writeFile(text);
    await handle.close();
    const proc = Bun.spawn(["redis-server", conf], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const address: RedisAddress = { host: "127.0.0.1", port, user: "", password };
    const output = new Response(proc.stdout).text();
    const deadline = Date.now() + 120_000;
    let ready = false;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        const pong = await withClient(address, (c) => c.send("PING", []));
        if (pong === "PONG") {
          ready = true;
          break;
        }
      } catch {
        // Not listening yet, or LOADING the file.
      }
      await Bun.sleep(50);
    }
    if (ready) {
      return {
        address,
        keyspace: () => keyspaceOf(address),
        stop: async () => {
          proc.kill("SIGKILL");
          await proc.exited;
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    proc.kill("SIGKILL");
    await proc.exited;
    lastError = (await output).trim().split("\n").slice(-3).join(" ");
    // A port taken between the OS handing it out and redis binding it: try another.
    if (!/Address already in use/i.test(lastError)) break;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`The scratch redis-server did not start: ${lastError || "no answer"}`);
}

/**
 * Replaces everything in `target` with the keys of `scratch`: FLUSHALL, then MIGRATE … COPY REPLACE
 * from the scratch server in batches, per logical database, keys keeping their TTLs. The commands
 * go through the instance's own protocol, so its append-only file records them.
 */
export async function copyKeys(scratch: ScratchRedis, target: RedisAddress, log: (line: string) => void): Promise<Keyspace> {
  const source = await scratch.keyspace();
  const s = clientOf(scratch.address);
  const t = clientOf(target);
  try {
    await s.connect();
    await t.connect();
    await t.send("FLUSHALL", []);
    for (const db of Object.keys(source)) {
      const index = db.slice(2);
      await s.send("SELECT", [index]);
      let cursor = "0";
      let moved = 0;
      do {
        const [next, keys] = (await s.send("SCAN", [cursor, "COUNT", "500"])) as [string, string[]];
        cursor = next;
        if (keys.length > 0) {
          const auth = target.user ? ["AUTH2", target.user, target.password] : target.password ? ["AUTH", target.password] : [];
          const answer = await s.send("MIGRATE", [
            target.host,
            String(target.port),
            "",
            index,
            "60000",
            "COPY",
            "REPLACE",
            ...auth,
            "KEYS",
            ...keys,
          ]);
          if (answer !== "OK" && answer !== "NOKEY") throw new Error(`MIGRATE answered ${String(answer)}`);
          moved += keys.length;
        }
      } while (cursor !== "0");
      log(`${db}: ${moved} keys copied`);
    }
    // The append-only file now holds the flush and every key; compact it.
    await t.send("BGREWRITEAOF", []).catch(() => {});
  } finally {
    s.close();
    t.close();
  }
  return keyspaceOf(target);
}

export function scratchDirFor(base: string): string {
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const dir = join(base, `verify-${crypto.randomUUID().slice(0, 8)}`);
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  return dir;
}
