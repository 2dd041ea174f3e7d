/**
 * `switchyard db …` and the panel's own backup and restore. The db commands and backup-panel talk to
 * the running panel's API with an API token (SWITCHYARD_TOKEN), as any client would: the panel runs
 * the jobs, and an embedded database is never opened by a second process. restore-panel works on a
 * stopped panel, directly on its data.
 */
import { join } from "node:path";
import { installPgliteDump, panelDumpFormat } from "./adapters/backups/panel.ts";
import { restorePostgres } from "./adapters/databases/backup-postgres.ts";
import type { Config } from "./config.ts";

export class CliFailure extends Error {}

export const DB_USAGE = `  db list                        the app databases, with their last backup
  db backup NAME                 back NAME up now (dump, then a verifying restore); prints the log
  db restore NAME BACKUP_ID [--new NEW_NAME]
                                 restore a verified backup into NAME (a safety backup first, the
                                 attached apps stopped meanwhile), or into a new database NEW_NAME
  db backups NAME                list NAME's backups
  backup-panel                   back up the panel's own database now and verify it
  restore-panel FILE             put a panel backup (a PGlite .tar or a pg_dump .dump) in place
                                 of the panel's database; the panel must be stopped
  (db and backup-panel reach the running panel at SWITCHYARD_URL, default the public URL, with
   the API token in SWITCHYARD_TOKEN: create one under Account → API tokens)
`;

export interface Api {
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export function api(config: Config, env: Record<string, string | undefined>): Api {
  const base = (env.SWITCHYARD_URL ?? config.publicUrl.origin).replace(/\/+$/, "");
  const token = env.SWITCHYARD_TOKEN;
  if (!token) throw new CliFailure("set SWITCHYARD_TOKEN to an API token (Account → API tokens in the panel)");
  return {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        throw new CliFailure(`the panel at ${base} does not answer (${(error as Error).message}); set SWITCHYARD_URL`);
      }
      const text = await res.text();
      const data = text ? JSON.parse(text) : null;
      if (!res.ok) throw new CliFailure(data?.error?.message ?? `${method} ${path} answered ${res.status}`);
      return data as T;
    },
  };
}

export interface JobJson {
  id: string;
  status: string;
  error: string | null;
  result?: Record<string, unknown> | null;
}

/** Prints the job's log as it runs; fails when the job does not succeed. */
export async function follow(client: Api, job: JobJson): Promise<JobJson> {
  let after = 0;
  for (;;) {
    const page = await client.call<{ job: JobJson; lines: Array<{ seq: number; line: string }>; next: number; done: boolean }>(
      "GET",
      `/api/v1/jobs/${job.id}/logs?after=${after}`,
    );
    for (const line of page.lines) console.log(line.line);
    after = page.next;
    if (page.done) {
      if (page.job.status !== "succeeded") throw new CliFailure(page.job.error ?? `the job ${page.job.status}`);
      return page.job;
    }
    if (page.lines.length === 0) await Bun.sleep(500);
  }
}

interface BackupJson {
  id: string;
  kind: string;
  status: string;
  verified: string;
  good: boolean;
  error: string | null;
  location: string | null;
  sizeBytes: number | null;
  startedAt: string;
}

function backupLine(b: BackupJson): string {
  const state = b.good ? "verified" : b.status === "running" ? "running" : `FAILED${b.error ? `: ${b.error}` : ""}`;
  return `${b.id}  ${b.startedAt.slice(0, 19).replace("T", " ")}  ${b.kind.padEnd(9)} ${String(b.sizeBytes ?? "-").padStart(12)}  ${state}  ${b.location ?? ""}`;
}

export async function dbCommand(config: Config, args: string[], env = process.env): Promise<void> {
  const [sub, ...rest] = args;
  const client = api(config, env);
  switch (sub) {
    case "list": {
      const { databases } = await client.call<{
        databases: Array<{ name: string; engine: string; status: string; sizeBytes: number | null; lastBackup: BackupJson | null }>;
      }>("GET", "/api/v1/databases");
      if (databases.length === 0) console.log("No databases.");
      for (const d of databases) {
        const last = d.lastBackup
          ? `${d.lastBackup.good ? "last backup verified" : "LAST BACKUP FAILED"} ${d.lastBackup.startedAt}`
          : "never backed up";
        console.log(
          `${d.name.padEnd(40)} ${d.engine.padEnd(9)} ${d.status.padEnd(13)} ${String(d.sizeBytes ?? "-").padStart(12)}  ${last}`,
        );
      }
      return;
    }
    case "backups": {
      const name = rest[0];
      if (!name) throw new CliFailure("usage: db backups NAME");
      const { backups } = await client.call<{ backups: BackupJson[] }>("GET", `/api/v1/databases/${encodeURIComponent(name)}/backups`);
      if (backups.length === 0) console.log("No backups.");
      for (const b of backups) console.log(backupLine(b));
      return;
    }
    case "backup": {
      const name = rest[0];
      if (!name) throw new CliFailure("usage: db backup NAME");
      const { job } = await client.call<{ job: JobJson }>("POST", `/api/v1/databases/${encodeURIComponent(name)}/backups`, {});
      const done = await follow(client, job);
      console.log(`Backup ${String(done.result?.backupId ?? "")} verified.`);
      return;
    }
    case "restore": {
      const [name, backupId] = rest;
      const flag = rest.indexOf("--new");
      const newName = flag >= 0 ? rest[flag + 1] : undefined;
      if (!name || !backupId || (flag >= 0 && !newName)) throw new CliFailure("usage: db restore NAME BACKUP_ID [--new NEW_NAME]");
      const body = newName ? { target: "new", name: newName } : { target: "same" };
      const { job } = await client.call<{ job: JobJson }>(
        "POST",
        `/api/v1/databases/${encodeURIComponent(name)}/backups/${backupId}/restore`,
        body,
      );
      await follow(client, job);
      console.log(newName ? `Restored into the new database ${newName}.` : `Restored into ${name}.`);
      return;
    }
    default:
      throw new CliFailure(`unknown db command '${sub ?? ""}'\n\n${DB_USAGE}`);
  }
}

export async function backupPanelCommand(config: Config, env = process.env): Promise<void> {
  const client = api(config, env);
  const { backup } = await client.call<{ backup: BackupJson }>("POST", "/api/v1/system/backups", {});
  console.log(`Backing up the panel's database (backup ${backup.id})…`);
  for (;;) {
    const { backups } = await client.call<{ backups: BackupJson[] }>("GET", "/api/v1/system/backups");
    const now = backups.find((b) => b.id === backup.id);
    if (!now) throw new CliFailure("the backup disappeared");
    if (now.status !== "running" && now.verified !== "pending") {
      console.log(backupLine(now));
      if (!now.good) throw new CliFailure(now.error ?? "the backup did not verify");
      console.log(
        `Verified. Keep this file together with ${join(config.dataDir, "secret.key")}: without the key the secrets in it cannot be read.`,
      );
      return;
    }
    await Bun.sleep(500);
  }
}

/** Whether a panel answers here: on its TCP port, or (a server) on the socket nginx reaches it through. */
async function panelAnswers(config: Config): Promise<boolean> {
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const sockets = [config.socket, join(config.dataDir, "sock", "panel.sock")].filter((s): s is string => Boolean(s));
  const tries = [
    fetch(`http://${host}:${config.port}/api/v1/health`, { signal: AbortSignal.timeout(2000) }),
    ...sockets.map((unix) => fetch("http://localhost/api/v1/health", { unix, signal: AbortSignal.timeout(2000) })),
  ];
  const answers = await Promise.all(
    tries.map((t) =>
      t.then(
        (r) => r.ok,
        () => false,
      ),
    ),
  );
  return answers.some(Boolean);
}

/** Puts a panel backup in place (the panel stopped): PGlite's data dir, or a pg_dump into DATABASE_URL. */
export async function restorePanelCommand(config: Config, file: string | undefined): Promise<void> {
  if (!file) throw new CliFailure("usage: restore-panel FILE");
  const format = await panelDumpFormat(file);
  if (!format) throw new CliFailure(`${file} is not a panel backup (neither a PGlite data dir archive nor a pg_dump custom-format file)`);
  const running = await panelAnswers(config);
  if (running) throw new CliFailure("a panel is running on this data dir: stop it first (server: systemctl stop 'switchyard@*')");
  if (format === "pglite") {
    if (config.databaseUrl) throw new CliFailure("this is a backup of an embedded (PGlite) panel, and DATABASE_URL points at PostgreSQL");
    const dir = join(config.dataDir, "pg");
    const kept = await installPgliteDump(file, dir);
    console.log(`Restored the panel's database into ${dir}.${kept ? ` The one that was there is kept in ${kept}.` : ""}`);
  } else {
    if (!config.databaseUrl)
      throw new CliFailure("this is a pg_dump of a PostgreSQL panel: set DATABASE_URL to the (empty or old) database to restore into");
    await restorePostgres(config.databaseUrl, Bun.file(file).stream(), { clean: true, sha256: null });
    console.log("Restored the panel's database (pg_restore --clean, in one transaction).");
  }
  console.log(`Put the old server's secret.key in ${join(config.dataDir, "secret.key")} (0600) before starting the panel.`);
}
