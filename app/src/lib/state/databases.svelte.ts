/**
 * Databases as the GUI holds them: the list (with which engines can be provisioned here), and one
 * database's manager — its attachments, credentials, backups and schedule, and the job it is
 * running. Jobs are followed like deploys; their events refresh what they change.
 */

import { ApiError, deployApp } from "#lib/api/client.ts";
import {
  attachDatabase,
  backUpNow,
  createDatabase,
  type DatabaseListing,
  deleteDatabase,
  detachDatabase,
  getDatabase,
  listBackups,
  listDatabases,
  listDestinations,
  type RestoreTarget,
  restoreBackup,
  revealCredentials,
  rotatePassword,
  runReleaseCommand,
  type ScheduleInput,
  setSchedule,
} from "#lib/api/databases.ts";
import type {
  Backup,
  BackupDestination,
  DatabaseCredentials,
  DatabaseEngine,
  DatabaseRotation,
  DatabaseSummary,
  Job,
  JobKind,
} from "#lib/api/types.ts";
import { follow } from "./events.svelte.ts";
import { Busy, RefreshQueue, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

const DATABASE_JOBS = new Set<JobKind>(["db-provision", "db-backup", "db-restore", "db-rotate", "db-delete", "release-command"]);

/** A backup to mark red: it failed, or its restore did not match the source. */
export function backupIsBad(backup: Backup | null | undefined): boolean {
  if (!backup) return false;
  return backup.status === "failed" || backup.verified === "failed";
}

/** A rotation that has not ended: another is refused (409 rotation_pending) until it does; one that needs attention may be superseded. */
export function rotationBlocksRotate(rotation: DatabaseRotation | null | undefined): boolean {
  return rotation != null && rotation.state !== "needs-attention";
}

/** Why the Rotate button is off while a rotation is pending, else null. */
export function rotationPendingReason(rotation: DatabaseRotation | null | undefined): string | null {
  if (!rotation || !rotationBlocksRotate(rotation)) return null;
  const waiting = rotation.apps.filter((a) => a.status === "waiting").map((a) => a.app);
  if (rotation.state === "waiting-for-deploys" && waiting.length > 0)
    return `A rotation is waiting for the deploys of ${waiting.join(", ")}; rotate again once it has finished.`;
  return "A rotation is under way; rotate again once it has finished.";
}

/**
 * Field errors of a refused request, by the first and the last part of each issue's path (a body
 * field `config.bucket` shows on "config" and "bucket"); null when it was refused for another reason.
 */
export function fieldErrors(error: unknown): Record<string, string> | null {
  if (!(error instanceof ApiError)) return null;
  // A refusal that names the field to change (a variable already set, an app not found).
  const field = (error.details as { field?: unknown } | undefined)?.field;
  if (typeof field === "string" && error.issues.length === 0) return { [field]: error.message };
  if (error.code !== "validation_failed" && error.issues.length === 0) return null;
  const fields: Record<string, string> = { ...error.fieldErrors() };
  for (const issue of error.issues) {
    const last = issue.path.split(".").at(-1);
    if (last && !fields[last]) fields[last] = issue.message.charAt(0).toUpperCase() + issue.message.slice(1);
  }
  return Object.keys(fields).length > 0 ? fields : null;
}

export class DatabaseList {
  readonly list = new Resource<DatabaseListing>({ databases: [], engines: [] }, (signal) => listDatabases({ signal }), {
    failure: "Could not load the databases.",
  });
  readonly busy = new Busy<string>();

  get databases(): DatabaseSummary[] {
    return this.list.value.databases;
  }

  get engines() {
    return this.list.value.engines;
  }

  /** Creates a database; `{job}` to follow, or `{errors}` by field (other failures are toasted). */
  async create(name: string, engine: DatabaseEngine): Promise<{ job: Job } | { errors: Record<string, string> } | null> {
    let errors: Record<string, string> | null = null;
    const created = await this.busy.run(() => createDatabase({ name, engine }), {
      title: "Couldn't create the database",
      key: "create",
      onError: (error) => {
        errors = fieldErrors(error);
        return errors !== null;
      },
    });
    if (errors) return { errors };
    if (!created) return null;
    this.list.value = { ...this.list.value, databases: [...this.databases.filter((d) => d.name !== name), created.database] };
    return { job: created.job };
  }

  /** Keeps the list fresh while it is shown: database jobs and failed backups change it. Returns the cleanup. */
  listen(): () => void {
    const queue = new RefreshQueue(300);
    const off = follow({
      "job.updated": (e) => {
        if (DATABASE_JOBS.has(e.kind)) queue.add(this.list);
      },
      "job.created": (e) => {
        if (DATABASE_JOBS.has(e.kind)) queue.add(this.list);
      },
      "backup.failed": () => queue.add(this.list),
      "database.updated": () => queue.add(this.list),
      reconnected: () => queue.add(this.list),
    });
    return () => {
      off();
      queue.dispose();
    };
  }
}

export type DatabaseAction =
  | "attach"
  | "detach"
  | "reveal"
  | "rotate"
  | "backup"
  | "restore"
  | "schedule"
  | "delete"
  | `rerun:${string}`
  | `deploy:${string}`;

export class DatabaseManager {
  readonly name: string;
  readonly #controller = new AbortController();
  readonly database: Resource<DatabaseSummary | null>;
  readonly backups: Resource<Backup[]>;
  readonly destinations: Resource<BackupDestination[]>;
  readonly busy = new Busy<DatabaseAction>();
  #credentials = $state<DatabaseCredentials | null>(null);
  /** The job being followed on the page (provision, backup, restore, rotate, delete, release command). */
  #job = $state<{ id: string; kind: JobKind; title: string } | null>(null);

  constructor(name: string) {
    this.name = name;
    const signal = this.#controller.signal;
    this.database = new Resource<DatabaseSummary | null>(null, (s) => getDatabase(name, { signal: s }), {
      signal,
      failure: "Could not load this database.",
    });
    this.backups = new Resource<Backup[]>([], (s) => listBackups(name, { signal: s }), { signal, failure: "Could not load the backups." });
    this.destinations = new Resource<BackupDestination[]>([], (s) => listDestinations({ signal: s }), {
      signal,
      failure: "Could not load the backup destinations.",
    });
  }

  get credentials(): DatabaseCredentials | null {
    return this.#credentials;
  }

  get job(): { id: string; kind: JobKind; title: string } | null {
    return this.#job;
  }

  /** Follows this job on the page (replacing the one shown). */
  show(job: Pick<Job, "id" | "kind">, title: string): void {
    this.#job = { id: job.id, kind: job.kind, title };
  }

  closeJob(): void {
    this.#job = null;
  }

  /** A job on the page finished: what it changed is fetched again. */
  refresh(): void {
    void this.database.load();
    if (this.backups.requested) void this.backups.load();
  }

  async attach(app: string, envVar: string | null): Promise<{ ok: true } | { errors: Record<string, string> } | null> {
    let errors: Record<string, string> | null = null;
    const done = await this.busy.run(
      async () => {
        await attachDatabase(this.name, envVar ? { app, envVar } : { app });
        return true;
      },
      {
        title: `Couldn't attach ${this.name}`,
        key: "attach",
        onError: (error) => {
          errors = fieldErrors(error);
          return errors !== null;
        },
      },
    );
    if (errors) return { errors };
    if (!done) return null;
    await this.database.load();
    return { ok: true };
  }

  async detach(app: string): Promise<boolean> {
    const done = await this.busy.run(
      async () => {
        await detachDatabase(this.name, app);
        return true;
      },
      { title: `Couldn't detach ${this.name} from ${app}`, key: "detach" },
    );
    if (!done) return false;
    await this.database.load();
    toasts.success(`Detached from ${app}`, "The variable is removed; the app's next deploy runs without it.");
    return true;
  }

  /** Starts a deploy of an app that was just attached, so it gets the new variable. */
  async deploy(app: string): Promise<Job | null> {
    const job = await this.busy.run(() => deployApp(app), { title: `Couldn't deploy ${app}`, key: `deploy:${app}` });
    if (job) toasts.success(`Deploying ${app}`, "The new release gets the database's variable; traffic switches when it is healthy.");
    return job;
  }

  async reveal(): Promise<void> {
    const credentials = await this.busy.run(() => revealCredentials(this.name), {
      title: "Couldn't reveal the credentials",
      key: "reveal",
    });
    if (credentials) this.#credentials = credentials;
  }

  hide(): void {
    this.#credentials = null;
  }

  async rotate(): Promise<boolean> {
    const job = await this.busy.run(() => rotatePassword(this.name), { title: "Couldn't rotate the password", key: "rotate" });
    if (!job) {
      // Refused while a rotation is pending (409 rotation_pending): the page shows that one.
      void this.database.load();
      return false;
    }
    this.#credentials = null;
    this.show(job, "Rotating the password");
    return true;
  }

  async backUp(): Promise<boolean> {
    const job = await this.busy.run(() => backUpNow(this.name), { title: "Couldn't start a backup", key: "backup" });
    if (!job) return false;
    this.show(job, "Backing up and verifying");
    void this.backups.load();
    return true;
  }

  async restore(backup: Backup, target: RestoreTarget): Promise<{ ok: true } | { errors: Record<string, string> } | null> {
    let errors: Record<string, string> | null = null;
    const job = await this.busy.run(() => restoreBackup(this.name, backup.id, target), {
      title: "Couldn't start the restore",
      key: "restore",
      onError: (error) => {
        errors = fieldErrors(error);
        return errors !== null;
      },
    });
    if (errors) return { errors };
    if (!job) return null;
    this.show(job, target.target === "same" ? "Restoring into this database" : `Restoring into ${target.name}`);
    return { ok: true };
  }

  /** Saves the schedule; null when saved, else the server's messages by field (other failures are toasted). */
  async saveSchedule(input: ScheduleInput): Promise<Record<string, string> | null> {
    let errors: Record<string, string> | null = null;
    const done = await this.busy.run(
      async () => {
        await setSchedule(this.name, input);
        return true;
      },
      {
        title: "Couldn't save the schedule",
        key: "schedule",
        onError: (error) => {
          errors = fieldErrors(error);
          return errors !== null;
        },
      },
    );
    if (errors) return errors;
    if (done) {
      await this.database.load();
      toasts.success("Schedule saved", input.cron ? `Backups run on “${input.cron}”.` : "Scheduled backups are off.");
    }
    return null;
  }

  async remove(confirm: string): Promise<Job | null | false> {
    let job: Job | null = null;
    const done = await this.busy.run(
      async () => {
        job = await deleteDatabase(this.name, confirm);
        return true;
      },
      { title: `Couldn't delete ${this.name}`, key: "delete" },
    );
    return done ? job : false;
  }

  /** Runs an app's release command again, as a job followed on the page. */
  async rerun(app: string): Promise<void> {
    const job = await this.busy.run(() => runReleaseCommand(app), { title: `Couldn't run ${app}'s release command`, key: `rerun:${app}` });
    if (job) this.show(job, `Release command of ${app}`);
  }

  /** Database jobs and failed backups refresh what they change. Returns the cleanup. */
  listen(): () => void {
    const queue = new RefreshQueue(300);
    const off = follow({
      "job.updated": (e) => {
        // A deploy a pending password rotation waits for settles it.
        const rotation = this.database.value?.rotation;
        if (e.kind === "deploy" && rotation?.apps.some((a) => a.appId === e.appId)) queue.add(this.database);
        if (!DATABASE_JOBS.has(e.kind)) return;
        queue.add(this.database);
        if (e.kind === "db-backup" || e.kind === "db-restore" || e.kind === "db-delete") queue.add(this.backups);
      },
      "backup.failed": (e) => {
        if (e.database === this.name) queue.add(this.database, this.backups);
      },
      "database.updated": (e) => {
        if (e.database === this.name) queue.add(this.database);
      },
      reconnected: () => queue.add(this.database, this.backups),
    });
    return () => {
      off();
      queue.dispose();
    };
  }

  dispose(): void {
    this.#credentials = null;
    this.#controller.abort();
  }
}
