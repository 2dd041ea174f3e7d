import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

/** Where a destination keeps its files; nothing secret (the keys come separately). */
export type DestinationConfig =
  | { kind: "local"; path: string }
  | { kind: "s3"; endpoint: string; bucket: string; prefix: string; region: string };

export interface S3Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

/** What a write produced: the bytes counted and hashed as they streamed through. */
export interface Written {
  location: string;
  sizeBytes: number;
  sha256: string;
}

/** A place backup files go to. Writes and reads stream: a dump is never held in memory. */
export interface BackupStore {
  /** Where a key lives, as a path or s3://bucket/key. */
  location(key: string): string;
  write(key: string, source: AsyncIterable<Uint8Array>): Promise<Written>;
  read(key: string): ReadableStream<Uint8Array>;
  remove(key: string): Promise<void>;
  /** Writes, reads back and deletes a small object; throws a DestinationError naming the field at fault. */
  probe(): Promise<void>;
}

/** A destination that cannot be used, with the request field that is the likely cause. */
export class DestinationError extends Error {
  override name = "DestinationError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Bytes per S3 multipart part: the least S3 accepts, so a dump in flight holds at most this much. */
const PART_SIZE = 5 * 1024 * 1024;
/** How long a destination's check may take before the endpoint counts as unreachable. */
const PROBE_TIMEOUT_MS = 20_000;

/** `spoolDir`: where an S3 upload is staged on disk (the data dir's tmp, by default the system's). */
export function openStore(config: DestinationConfig, keys: S3Keys | null, spoolDir: string = tmpdir()): BackupStore {
  return config.kind === "local" ? localStore(config.path) : s3Store(config, keys, spoolDir);
}

/** Counts and hashes bytes on their way through. */
export class HashingCounter {
  private readonly hasher = new Bun.CryptoHasher("sha256");
  size = 0;
  add(chunk: Uint8Array): void {
    this.hasher.update(chunk);
    this.size += chunk.byteLength;
  }
  digest(): string {
    return this.hasher.digest("hex");
  }
}

/** Writes a stream to a new 0600 file, counting and hashing it on the way; the file is closed however it ends. */
export async function writeHashed(source: AsyncIterable<Uint8Array>, path: string): Promise<HashingCounter> {
  const file = await open(path, "w", 0o600);
  const h = new HashingCounter();
  try {
    for await (const chunk of source) {
      h.add(chunk);
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
  return h;
}

/** The sha256 of a stored object, read back as a stream. */
export async function hashStream(stream: ReadableStream<Uint8Array>): Promise<{ sha256: string; sizeBytes: number }> {
  const h = new HashingCounter();
  for await (const chunk of stream) h.add(chunk);
  return { sha256: h.digest(), sizeBytes: h.size };
}

function safeKey(key: string): string {
  if (!/^[A-Za-z0-9._/-]+$/.test(key) || key.split("/").some((part) => part === "" || part === "." || part === "..")) {
    throw new Error(`Not a valid backup key: ${key}`);
  }
  return key;
}

function localStore(root: string): BackupStore {
  const base = resolve(root);
  const pathOf = (key: string) => join(base, safeKey(key));
  const ensure = (dir: string) => {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  };
  return {
    location: pathOf,
    async write(key, source) {
      const path = pathOf(key);
      ensure(base);
      ensure(dirname(path));
      const partial = `${path}.partial`;
      const file = await open(partial, "w", 0o600);
      const h = new HashingCounter();
      try {
        for await (const chunk of source) {
          h.add(chunk);
          await file.write(chunk);
        }
        await file.sync();
      } catch (error) {
        await file.close();
        rmSync(partial, { force: true });
        throw error;
      }
      await file.close();
      renameSync(partial, path);
      return { location: path, sizeBytes: h.size, sha256: h.digest() };
    },
    read(key) {
      return Bun.file(pathOf(key)).stream();
    },
    async remove(key) {
      rmSync(pathOf(key), { force: true });
    },
    async probe() {
      try {
        if (!existsSync(base) && !existsSync(dirname(base))) throw new Error(`its parent directory ${dirname(base)} does not exist`);
        ensure(base);
        const key = `.probe-${crypto.randomUUID()}`;
        await this.write(
          key,
          (async function* () {
            yield new TextEncoder().encode("switchyard");
          })(),
        );
        const back = await Bun.file(pathOf(key)).text();
        await this.remove(key);
        if (back !== "switchyard") throw new Error("what was read back differs from what was written");
        if (!statSync(base).isDirectory()) throw new Error("not a directory");
      } catch (error) {
        throw new DestinationError("path", `The directory ${base} cannot be used for backups: ${(error as Error).message}.`);
      }
    },
  };
}

function s3Store(config: Extract<DestinationConfig, { kind: "s3" }>, keys: S3Keys | null, spoolDir: string): BackupStore {
  if (!keys) throw new DestinationError("accessKeyId", "An S3 destination needs an access key id and a secret access key.");
  const client = new Bun.S3Client({
    endpoint: config.endpoint,
    bucket: config.bucket,
    region: config.region || "us-east-1",
    accessKeyId: keys.accessKeyId,
    secretAccessKey: keys.secretAccessKey,
    // Path-style URLs (endpoint/bucket/key): what MinIO, Garage and most self-hosted servers expect.
    virtualHostedStyle: false,
  });
  const prefix = config.prefix.replace(/^\/+|\/+$/g, "");
  const keyOf = (key: string) => (prefix ? `${prefix}/${safeKey(key)}` : safeKey(key));
  return {
    location: (key) => `s3://${config.bucket}/${keyOf(key)}`,
    async write(key, source) {
      // Spooled to a 0600 file first, then uploaded from it in multipart parts: a stream written
      // straight into the S3 writer is buffered in memory as fast as it comes (measured: all of a
      // 300 MB stream), while an upload from a file reads it part by part.
      mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
      const spool = join(spoolDir, `upload-${crypto.randomUUID()}`);
      try {
        const h = await writeHashed(source, spool);
        try {
          await client.write(keyOf(key), Bun.file(spool), { partSize: PART_SIZE, queueSize: 2, retry: 3 });
        } catch (error) {
          throw s3Failure(error, config);
        }
        return { location: `s3://${config.bucket}/${keyOf(key)}`, sizeBytes: h.size, sha256: h.digest() };
      } finally {
        rmSync(spool, { force: true });
      }
    },
    read(key) {
      return client.file(keyOf(key)).stream();
    },
    async remove(key) {
      try {
        await client.delete(keyOf(key));
      } catch (error) {
        throw s3Failure(error, config);
      }
    },
    async probe() {
      const key = keyOf(`.probe-${crypto.randomUUID()}`);
      const check = async () => {
        await client.write(key, "switchyard");
        const back = await client.file(key).text();
        await client.delete(key);
        if (back !== "switchyard")
          throw new DestinationError("endpoint", "What was read back from the bucket differs from what was written.");
      };
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new DestinationError("endpoint", `The S3 endpoint ${config.endpoint} did not answer within ${PROBE_TIMEOUT_MS / 1000} s.`),
            ),
          PROBE_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([check(), timeout]);
      } catch (error) {
        throw s3Failure(error, config);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** An S3 error as a sentence naming the field to fix. */
export function s3Failure(error: unknown, config: { endpoint: string; bucket: string }): DestinationError {
  if (error instanceof DestinationError) return error;
  const e = error as { code?: string; message?: string };
  const code = e?.code ?? "";
  const detail = e?.message ? ` (${code ? `${code}: ` : ""}${e.message})` : code ? ` (${code})` : "";
  if (/InvalidAccessKeyId|AccessKeyId|InvalidClientTokenId/.test(code)) {
    return new DestinationError("accessKeyId", `The S3 server does not know this access key id${detail}.`);
  }
  if (/SignatureDoesNotMatch/.test(code)) return new DestinationError("secretAccessKey", `The secret access key is wrong${detail}.`);
  if (/NoSuchBucket/.test(code)) return new DestinationError("bucket", `The bucket ${config.bucket} does not exist${detail}.`);
  if (/AccessDenied|Forbidden|AllAccessDisabled/.test(code)) {
    return new DestinationError("bucket", `The S3 server refused access to the bucket ${config.bucket}${detail}.`);
  }
  return new DestinationError("endpoint", `The S3 endpoint ${config.endpoint} could not be used${detail}.`);
}
