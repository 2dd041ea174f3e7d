/**
 * Volume backups: a volume archived with real tar to the data dir and to an S3 server, proven by
 * an extraction compared with what was archived, restored (after a safety backup) over changed
 * contents to give back the originals, pruned by retention, queued by a schedule; archives that
 * would write outside the volume are refused; bad input gets a 4xx naming the field.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { appUserFor } from "../../backend/adapters/app-user.ts";
import { ArchiveRefused, archiveListed, directoryManifest, extractArchive } from "../../backend/adapters/volume-archive.ts";
import { backups } from "../../backend/db/schema/index.ts";
import { queueDueVolumeBackups } from "../../backend/jobs/volume-backups.ts";
import { TEST_DB } from "../helpers/database.ts";
import { bunApp, createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const ROOT = join(import.meta.dir, "..", "..");
const S3_KEY = "S3RVER";

/** s3rver (an S3-protocol server) on a port from the OS, its buckets in a temp dir. */
async function startS3(bucket: string) {
  const dir = mkdtempSync(join(tmpdir(), "sy-s3-"));
  const port = freePort();
  const proc = Bun.spawn(
    [
      process.execPath,
      join(ROOT, "node_modules", "s3rver", "bin", "s3rver.js"),
      ...["-d", dir, "-a", "127.0.0.1", "-p", String(port), "--silent", "--configure-bucket", bucket],
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new Bun.S3Client({ endpoint, bucket, accessKeyId: S3_KEY, secretAccessKey: S3_KEY, region: "us-east-1" });
  await waitFor(
    async () => {
      await client.exists("ping");
      return true;
    },
    { what: "s3rver to answer", timeoutMs: 60_000 },
  );
  return {
    endpoint,
    stop: async () => {
      proc.kill();
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function tar(args: string[], cwd: string): void {
  const r = Bun.spawnSync(["tar", ...args], { cwd, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`tar ${args.join(" ")}: ${r.stderr.toString()}`);
}

describe(`volume backups (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;
  let s3: Awaited<ReturnType<typeof startS3>>;
  const repos: TestRepo[] = [];
  const scratch = mkdtempSync(join(tmpdir(), "sy-vb-"));
  let volume: string;
  let original: Awaited<ReturnType<typeof directoryManifest>>;
  let localBackupId: string;

  beforeAll(async () => {
    s3 = await startS3("volumes");
    api = await createTestApi({ background: true });
    cookie = await api.setupOwner();
    for (const name of ["keeper", "other"]) {
      const r = await createRepo(bunApp("v1"));
      repos.push(r);
      const created = await api.request("POST", "/api/v1/apps", { cookie, body: { name, repoUrl: r.url, volumes: [{ path: "data" }] } });
      expect(created.status).toBe(201);
    }
    // The app's files, as a running app would have written them (the volume is made at its first start).
    volume = join(api.config.dataDir, "apps", "keeper", "volumes", "data");
    mkdirSync(join(volume, "uploads", "2026"), { recursive: true, mode: 0o700 });
    writeFileSync(join(volume, "notes.txt"), "first note\n");
    writeFileSync(join(volume, "uploads", "2026", "photo.bin"), crypto.getRandomValues(new Uint8Array(300_000)));
    writeFileSync(join(volume, "-starts-with-a-dash"), "x");
    symlinkSync("notes.txt", join(volume, "latest"));
    symlinkSync("/etc/passwd", join(volume, "escape"));
    mkdirSync(join(api.config.dataDir, "apps", "other", "volumes", "data"), { recursive: true });
  });

  afterAll(async () => {
    await api?.close();
    await s3?.stop();
    for (const r of repos) r.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  async function jobDone(res: { status: number; body: any }, expected: "succeeded" | "failed" = "succeeded") {
    expect(res.status).toBe(202);
    const job = await api.services.orchestrator.waitFor(res.body.job.id, 300_000);
    const lines = (await api.request("GET", `/api/v1/jobs/${job.id}/logs`, { cookie })).body.lines as Array<{ line: string }>;
    const log = lines.map((l) => l.line).join("\n");
    if (job.status !== expected) console.error(log);
    expect(job.status).toBe(expected);
    return { job, log };
  }

  const list = async (app = "keeper") =>
    (await api.request("GET", `/api/v1/apps/${app}/volumes/data/backups`, { cookie })).body.backups as any[];

  test("bad input is refused naming the field: unknown app, volume or backup, another app's backup, bad ids and schedules", async () => {
    const unknownApp = await api.request("POST", "/api/v1/apps/nope/volumes/data/backups", { cookie, body: {} });
    expect(unknownApp.status).toBe(404);
    const unknownVolume = await api.request("POST", "/api/v1/apps/keeper/volumes/nothing/backups", { cookie, body: {} });
    expect(unknownVolume.status).toBe(404);
    expect(unknownVolume.body.error.message).toContain("nothing");
    const listUnknown = await api.request("GET", "/api/v1/apps/keeper/volumes/nothing/backups", { cookie });
    expect(listUnknown.status).toBe(404);
    const badName = await api.request("POST", "/api/v1/apps/keeper/volumes/..%2Fx/backups", { cookie, body: {} });
    expect([400, 404]).toContain(badName.status);
    const badDestination = await api.request("POST", "/api/v1/apps/keeper/volumes/data/backups", { cookie, body: { destinationId: "s3" } });
    expect(badDestination.status).toBe(400);
    expect(badDestination.body.error.message).toStartWith("destinationId");
    const unknownDestination = await api.request("POST", "/api/v1/apps/keeper/volumes/data/backups", {
      cookie,
      body: { destinationId: crypto.randomUUID() },
    });
    expect(unknownDestination.status).toBe(400);
    expect(unknownDestination.body.error.message).toStartWith("destinationId");
    const noBackupId = await api.request("POST", "/api/v1/apps/keeper/volumes/data/restore", { cookie, body: {} });
    expect(noBackupId.status).toBe(400);
    expect(noBackupId.body.error.message).toContain("backupId");
    const unknownBackup = await api.request("POST", "/api/v1/apps/keeper/volumes/data/restore", {
      cookie,
      body: { backupId: crypto.randomUUID() },
    });
    expect(unknownBackup.status).toBe(404);
    expect(unknownBackup.body.error.message).toStartWith("backupId");
    const badRestart = await api.request("POST", "/api/v1/apps/keeper/volumes/data/restore", {
      cookie,
      body: { backupId: crypto.randomUUID(), restart: "yes" },
    });
    expect(badRestart.status).toBe(400);
    expect(badRestart.body.error.message).toStartWith("restart");
    for (const [body, field] of [
      [{ cron: "61 * * * *", keep: 2, keepDays: 30, destinationId: null }, "cron"],
      [{ cron: null, keep: 0, keepDays: 30, destinationId: null }, "keep"],
      [{ cron: null, keep: 2, keepDays: 30, destinationId: crypto.randomUUID() }, "destinationId"],
    ] as const) {
      const res = await api.request("PUT", "/api/v1/apps/keeper/volume-backups/schedule", { cookie, body });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toStartWith(field);
    }
    const schedule = await api.request("GET", "/api/v1/apps/keeper/volume-backups/schedule", { cookie });
    expect(schedule.body.schedule).toEqual({ cron: null, keep: 7, keepDays: 30, destinationId: null, next: null });
  });

  test("a backup to the data dir is verified by an extraction; a restore over changed files gives back the originals", async () => {
    original = await directoryManifest(volume);
    const { log } = await jobDone(await api.request("POST", "/api/v1/apps/keeper/volumes/data/backups", { cookie, body: {} }));
    expect(log).toContain("Left out escape: a link with an absolute target (/etc/passwd)");
    expect(log).toContain("Verified in");
    const [backup] = await list();
    expect(backup).toMatchObject({
      engine: "volume",
      databaseName: "keeper/data",
      kind: "manual",
      status: "succeeded",
      verified: "verified",
      good: true,
    });
    expect(backup.sizeBytes).toBeGreaterThan(0);
    expect(backup.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(backup.location)).toBe(true);
    // The escaping link is left out; everything else is archived and came back the same.
    expect(backup.details.source).toMatchObject({ files: original.files, dirs: original.dirs, links: original.links - 1 });
    expect(backup.details.restored.digest).toBe(backup.details.source.digest);
    localBackupId = backup.id;

    // The app goes on writing, deletes a directory, adds a file.
    writeFileSync(join(volume, "notes.txt"), "overwritten\n");
    rmSync(join(volume, "uploads"), { recursive: true });
    writeFileSync(join(volume, "later.txt"), "written after the backup");
    const restored = await jobDone(
      await api.request("POST", "/api/v1/apps/keeper/volumes/data/restore", { cookie, body: { backupId: localBackupId } }),
    );
    expect(restored.job.result).toMatchObject({ backupId: localBackupId, restartJobId: null });
    expect(readFileSync(join(volume, "notes.txt"), "utf8")).toBe("first note\n");
    expect(existsSync(join(volume, "later.txt"))).toBe(false);
    expect(existsSync(join(volume, "escape"))).toBe(false);
    const now = await directoryManifest(volume);
    expect(now.digest).toBe(backup.details.source.digest);
    // The contents before the restore are kept as a verified safety backup.
    const safety = (await list()).find((b) => b.id === restored.job.result?.safetyBackupId);
    expect(safety).toMatchObject({ kind: "safety", good: true });
    expect(safety.details.source.files).toBe(original.files);
    // Nothing left beside the volume.
    expect(existsSync(join(api.config.dataDir, "apps", "keeper", ".volume-restore", restored.job.id))).toBe(false);
  });

  test("a backup to S3 is read back from the bucket to verify, and restores", async () => {
    const made = await api.request("POST", "/api/v1/backup-destinations", {
      cookie,
      body: { kind: "s3", name: "s3", endpoint: s3.endpoint, bucket: "volumes", accessKeyId: S3_KEY, secretAccessKey: S3_KEY },
    });
    expect(made.status).toBe(201);
    const destinationId = made.body.destination.id as string;
    const done = await jobDone(await api.request("POST", "/api/v1/apps/keeper/volumes/data/backups", { cookie, body: { destinationId } }));
    const backup = (await list()).find((b) => b.id === done.job.result?.backupId);
    expect(backup).toMatchObject({ good: true, destination: { id: destinationId, kind: "s3" } });
    expect(backup.location).toStartWith("s3://volumes/volumes/keeper/data/");
    writeFileSync(join(volume, "notes.txt"), "changed again\n");
    await jobDone(await api.request("POST", "/api/v1/apps/keeper/volumes/data/restore", { cookie, body: { backupId: backup.id } }));
    expect(readFileSync(join(volume, "notes.txt"), "utf8")).toBe("first note\n");

    // A destination the app's volume schedule names cannot be deleted.
    const named = await api.request("PUT", "/api/v1/apps/keeper/volume-backups/schedule", {
      cookie,
      body: { cron: null, keep: 7, keepDays: 30, destinationId },
    });
    expect(named.status).toBe(200);
    const inUse = await api.request("DELETE", `/api/v1/backup-destinations/${destinationId}`, { cookie });
    expect(inUse.status).toBe(409);
    expect(inUse.body.error.message).toContain("volumes of keeper");
  });

  test("another app's backup cannot be restored into this one", async () => {
    const res = await api.request("POST", "/api/v1/apps/other/volumes/data/restore", { cookie, body: { backupId: localBackupId } });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toStartWith("backupId");
  });

  test("archives that would write outside the volume are refused, and the volume is left as it was", async () => {
    const outside = join(scratch, "outside.txt");
    writeFileSync(outside, "must not be overwritten");
    const src = join(scratch, "src");
    mkdirSync(src);
    writeFileSync(join(src, "fine.txt"), "fine");
    symlinkSync("../..", join(src, "out"));
    // A link inside, then a file written through it (a second tar run appends it under the link's name).
    const through = join(scratch, "through");
    mkdirSync(join(through, "d"), { recursive: true });
    writeFileSync(join(through, "d", "x.txt"), "x");
    symlinkSync(".", join(through, "l"));
    // A link that reads as inside, but leads out through another link of the archive.
    const via = join(scratch, "via");
    mkdirSync(via);
    writeFileSync(join(via, "fine.txt"), "fine");
    symlinkSync(".", join(via, "sub"));
    symlinkSync("sub/..", join(via, "x"));
    // GNU tar keeps `..` and absolute names with -P: made by hand, as an attacker would.
    const evil = {
      dotdot: join(scratch, "dotdot.tar.gz"),
      absolute: join(scratch, "absolute.tar.gz"),
      link: join(scratch, "link.tar.gz"),
      through: join(scratch, "through.tar.gz"),
      via: join(scratch, "via.tar.gz"),
    };
    tar(["-czf", evil.via, "sub", "x", "fine.txt"], via);
    tar(["-czPf", evil.dotdot, "fine.txt", "../outside.txt"], src);
    tar(["-czPf", evil.absolute, "fine.txt", outside], src);
    tar(["-czf", evil.link, "out", "fine.txt"], src);
    tar(["-cf", join(scratch, "through.tar"), "l"], through);
    tar(["-rf", join(scratch, "through.tar"), "--transform=s,^d,l,", "d/x.txt"], through);
    Bun.spawnSync(["gzip", join(scratch, "through.tar")]);
    for (const [kind, path] of Object.entries(evil)) {
      const into = join(scratch, `into-${kind}`);
      const error = await extractArchive(path, into).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ArchiveRefused);
      expect(existsSync(join(into, "fine.txt"))).toBe(false);
    }
    expect(((await extractArchive(evil.dotdot, join(scratch, "x")).catch((e: Error) => e)) as Error).message).toContain("a .. segment");
    expect(((await extractArchive(evil.absolute, join(scratch, "x")).catch((e: Error) => e)) as Error).message).toContain(
      "an absolute path",
    );
    expect(((await extractArchive(evil.link, join(scratch, "x")).catch((e: Error) => e)) as Error).message).toContain("outside the volume");
    expect(((await extractArchive(evil.through, join(scratch, "x")).catch((e: Error) => e)) as Error).message).toContain(
      "written through the link l",
    );
    expect(((await extractArchive(evil.via, join(scratch, "x")).catch((e: Error) => e)) as Error).message).toContain("outside the volume");

    // GNU tar's own guards, beneath the check above: it skips a `..` member and strips a leading /.
    const bare = join(scratch, "bare");
    mkdirSync(bare);
    const plain = Bun.spawnSync(["tar", "-xzf", evil.dotdot, "-C", bare], { stderr: "pipe" });
    expect(plain.exitCode).not.toBe(0);
    expect(plain.stderr.toString()).toContain("..");
    Bun.spawnSync(["tar", "-xzf", evil.absolute, "-C", bare], { stderr: "pipe" });
    expect(existsSync(join(bare, outside))).toBe(true);
    expect(readFileSync(outside, "utf8")).toBe("must not be overwritten");

    // Through the API: a stored backup whose file was swapped for the `..` archive (its checksum made to match).
    const bytes = readFileSync(evil.dotdot);
    const stored = (await list()).find((b) => b.id === localBackupId);
    writeFileSync(stored.location, bytes);
    await api.services.db
      .update(backups)
      .set({ sha256: new Bun.CryptoHasher("sha256").update(bytes).digest("hex"), sizeBytes: bytes.length })
      .where(eq(backups.id, localBackupId));
    const before = await directoryManifest(volume);
    const { log } = await jobDone(
      await api.request("POST", "/api/v1/apps/keeper/volumes/data/restore", { cookie, body: { backupId: localBackupId } }),
      "failed",
    );
    expect(log).toContain("The archive is refused");
    expect(log).toContain("The volume was not changed");
    expect((await directoryManifest(volume)).digest).toBe(before.digest);
    expect(readFileSync(outside, "utf8")).toBe("must not be overwritten");
  });

  test("retention keeps the newest N per volume and deletes the older files; a schedule queues backups of every volume", async () => {
    const set = await api.request("PUT", "/api/v1/apps/keeper/volume-backups/schedule", {
      cookie,
      body: { cron: "0 3 * * *", keep: 2, keepDays: 30, destinationId: null },
    });
    expect(set.status).toBe(200);
    expect(set.body.schedule).toMatchObject({ cron: "0 3 * * *", keep: 2, keepDays: 30, destinationId: null });
    expect(set.body.schedule.next).toMatch(/T03:00:00/);
    const localFiles = (await list()).filter((b) => !b.destination && b.location).map((b) => b.location as string);
    for (let i = 0; i < 2; i++) {
      writeFileSync(join(volume, "notes.txt"), `note ${i}\n`);
      await jobDone(await api.request("POST", "/api/v1/apps/keeper/volumes/data/backups", { cookie, body: {} }));
    }
    const good = (await list()).filter((b) => b.good);
    expect(good.length).toBe(2);
    for (const path of localFiles) expect(existsSync(path)).toBe(false);
    for (const b of good) if (!b.destination) expect(existsSync(b.location)).toBe(true);

    // The schedule's next run is judged from when it was set: two days on, it is due.
    const queued = await queueDueVolumeBackups(api.services, new Date(Date.now() + 2 * 86_400_000));
    expect(queued).toBe(1);
    await waitFor(async () => (await list()).some((b) => b.kind === "scheduled" && b.good), {
      what: "a scheduled backup",
      timeoutMs: 120_000,
    });
    const other = await list("other");
    expect(other).toEqual([]);
  });

  test("a restore interrupted between its two renames is put right by the app's next volume job", async () => {
    const before = await directoryManifest(volume);
    // As a crash would leave it: the old contents aside, the extracted tree still staged, and an
    // empty directory a deploy made since in the volume's place.
    const staging = join(api.config.dataDir, "apps", "keeper", ".volume-restore", crypto.randomUUID());
    mkdirSync(join(staging, "tree"), { recursive: true });
    writeFileSync(join(staging, "tree", "half.txt"), "never swapped in");
    writeFileSync(join(staging, "volume"), "data");
    renameSync(volume, join(staging, "previous"));
    mkdirSync(volume);
    const { job, log } = await jobDone(await api.request("POST", "/api/v1/apps/keeper/volumes/data/backups", { cookie, body: {} }));
    expect(log).toContain("a restore was interrupted during its swap; the contents from before it are back");
    expect((await directoryManifest(volume)).digest).toBe(before.digest);
    expect(existsSync(staging)).toBe(false);
    const backup = (await list()).find((b) => b.id === job.result?.backupId);
    expect(backup.details.source.digest).toBe(before.digest);
  });

  test("a restore under a running app swaps its files and restarts it blue-green", async () => {
    const server = `import { readFileSync } from "node:fs";
const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  fetch(req) {
    if (new URL(req.url).pathname === "/read") return new Response(readFileSync("data/notes.txt", "utf8"));
    return new Response("ok");
  },
});
process.on("SIGTERM", () => { server.stop(); process.exit(0); });
`;
    const r = await createRepo({ ...bunApp("v1"), "server.ts": server, "data/notes.txt": "from the repository" });
    repos.push(r);
    const created = await api.request("POST", "/api/v1/apps", {
      cookie,
      body: { name: "live", repoUrl: r.url, healthTimeoutSec: 20, watchSeconds: 1, drainSeconds: 2, volumes: [{ path: "data" }] },
    });
    expect(created.status).toBe(201);
    await jobDone(await api.request("POST", "/api/v1/apps/live/deploy", { cookie, body: {} }));
    const read = async () => {
      const res = await fetch(`http://127.0.0.1:${api.config.proxyPort}/read`, {
        headers: { host: "live.localhost", connection: "close" },
      });
      expect(res.status).toBe(200);
      return res.text();
    };
    expect(await read()).toBe("from the repository");
    const liveVolume = join(api.config.dataDir, "apps", "live", "volumes", "data");
    writeFileSync(join(liveVolume, "notes.txt"), "kept in the backup");
    const backup = await jobDone(await api.request("POST", "/api/v1/apps/live/volumes/data/backups", { cookie, body: {} }));
    writeFileSync(join(liveVolume, "notes.txt"), "written later");
    expect(await read()).toBe("written later");
    const restored = await jobDone(
      await api.request("POST", "/api/v1/apps/live/volumes/data/restore", { cookie, body: { backupId: backup.job.result?.backupId } }),
    );
    const restartJobId = restored.job.result?.restartJobId as string;
    expect(restartJobId).toBeString();
    const restart = await api.services.orchestrator.waitFor(restartJobId, 300_000);
    expect(restart.status).toBe("succeeded");
    expect(await read()).toBe("kept in the backup");
  });
  test("run as root, a restore into a volume with no directory gives it to the app user, and no file comes out setuid", async () => {
    const user = await appUserFor(api.config.appUser, api.config.dataDir);
    if (!user) return; // Not root: nothing runs as another user.
    const dir = join(api.config.dataDir, "apps", "other", "volumes", "data");
    mkdirSync(join(dir, "bin"), { recursive: true });
    writeFileSync(join(dir, "bin", "tool"), "#!/bin/sh\nid\n");
    expect(Bun.spawnSync(["chown", "-R", `${user.uid}:${user.gid}`, dir]).exitCode).toBe(0);
    // The app may make its own file setuid (to itself): the backup holds that mode.
    chmodSync(join(dir, "bin", "tool"), 0o4755);
    chmodSync(join(dir, "bin"), 0o3775);
    const made = await jobDone(await api.request("POST", "/api/v1/apps/other/volumes/data/backups", { cookie, body: {} }));
    rmSync(dir, { recursive: true });
    const restored = await jobDone(
      await api.request("POST", "/api/v1/apps/other/volumes/data/restore", {
        cookie,
        body: { backupId: made.job.result?.backupId, restart: false },
      }),
    );
    expect(restored.log).toContain("has no directory: nothing to keep");
    for (const path of [dir, join(dir, "bin"), join(dir, "bin", "tool")]) {
      const stat = statSync(path);
      expect({ path, uid: stat.uid, gid: stat.gid }).toEqual({ path, uid: user.uid, gid: user.gid });
      expect({ path, special: stat.mode & 0o7000 }).toEqual({ path, special: 0 });
    }
    expect(statSync(join(dir, "bin", "tool")).mode & 0o777).toBe(0o755);
  });

  test("run as root, tar reads a volume as the app user: a directory swapped for a link after the listing reaches nothing else", async () => {
    const user = await appUserFor(api.config.appUser, api.config.dataDir);
    if (!user) return;
    const secret = join(scratch, "root-only");
    mkdirSync(secret, { mode: 0o700 });
    writeFileSync(join(secret, "key"), "the panel's secret", { mode: 0o600 });
    const dir = join(api.config.dataDir, "apps", "other", "volumes", "swapped");
    mkdirSync(dir, { recursive: true });
    // Listed as a directory holding `key`; by the time tar reads it, the app has made it a link.
    symlinkSync(secret, join(dir, "a"));
    expect(Bun.spawnSync(["chown", "-hR", `${user.uid}:${user.gid}`, dir]).exitCode).toBe(0);
    const chunks: Uint8Array[] = [];
    const write = async (source: AsyncIterable<Uint8Array>) => {
      for await (const chunk of source) chunks.push(chunk);
      return { location: "memory", sizeBytes: 0, sha256: "" };
    };
    const error = await archiveListed(dir, { entries: ["a/key"], skipped: [] }, write, { user }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain("could not be read");
    const archive = new TextDecoder().decode(Bun.gunzipSync(Buffer.concat(chunks)));
    expect(archive).not.toContain("the panel's secret");
    rmSync(dir, { recursive: true });
  });
});
