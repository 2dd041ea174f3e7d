/**
 * Backups of the panel's own database (owner): listed, started now and followed until they end.
 * Only a failure is sent as an event, so while one is under way the list is fetched again every
 * two seconds (see `inProgress`); `backup.failed` for the panel's database refreshes it at once.
 */

import { ApiError, api, getUpdate } from "#lib/api/client.ts";
import { listDestinations } from "#lib/api/databases.ts";
import type { Backup, BackupDestination } from "#lib/api/types.ts";
import { follow } from "./events.svelte.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

/** How often the list is fetched again while a backup runs or verifies. */
export const PANEL_BACKUP_POLL_MS = 2000;

/** The section of the operations guide that walks through a restore on a new server. */
export const DISASTER_RECOVERY_DOC = { file: "docs/operations.md", anchor: "disaster-recovery-a-new-server" };

/** A backup that has not ended yet: the dump runs, or it is written and the restore check runs. */
export function panelBackupInProgress(backup: Backup): boolean {
  return backup.status === "running" || (backup.status === "succeeded" && backup.verified === "pending");
}

/**
 * The guide's disaster-recovery section on the forge the panel updates from (an https GitHub or
 * GitLab repository), or null when the source is somewhere a browser cannot read it.
 */
export function docsLink(source: { url: string; branch: string } | null | undefined): string | null {
  if (!source || !URL.canParse(source.url)) return null;
  const url = new URL(source.url);
  if (url.protocol !== "https:" || !/(^|\.)(github\.com|gitlab\.com)$/.test(url.hostname)) return null;
  const path = url.pathname.replace(/\.git$/, "").replace(/\/+$/, "");
  if (path.split("/").filter(Boolean).length < 2) return null;
  const blob = url.hostname.endsWith("gitlab.com") ? "-/blob" : "blob";
  return `https://${url.hostname}${path}/${blob}/${encodeURIComponent(source.branch)}/${DISASTER_RECOVERY_DOC.file}#${DISASTER_RECOVERY_DOC.anchor}`;
}

export class PanelBackups {
  readonly #controller = new AbortController();
  readonly list: Resource<Backup[]>;
  readonly destinations: Resource<BackupDestination[]>;
  /** Where the panel's source comes from (for the link to the guide); null when not known. */
  readonly source: Resource<{ url: string; branch: string } | null>;
  readonly busy = new Busy();

  constructor() {
    const signal = this.#controller.signal;
    this.list = new Resource<Backup[]>(
      [],
      async (s) => (await api.get<{ backups: Backup[] }>("/system/backups", { signal: s })).backups ?? [],
      { signal, failure: "Could not load the panel's backups." },
    );
    this.destinations = new Resource<BackupDestination[]>([], (s) => listDestinations({ signal: s }), {
      signal,
      failure: "Could not load the backup destinations.",
    });
    this.source = new Resource<{ url: string; branch: string } | null>(
      null,
      // Only for a link: a panel that cannot tell where its source is still shows the steps.
      (s) =>
        getUpdate({ signal: s }).then(
          (u) => u.source,
          () => null,
        ),
      { signal },
    );
  }

  get backups(): Backup[] {
    return this.list.value;
  }

  /** A backup started here or elsewhere that has not ended: the list is followed until it does. */
  get inProgress(): boolean {
    return this.list.value.some(panelBackupInProgress);
  }

  /** Starts a backup; its row (running) goes to the top of the list. */
  async backUp(destination: string | null): Promise<boolean> {
    let running = false;
    const backup = await this.busy.run(
      async () =>
        (await api.post<{ backup: Backup }>("/system/backups", destination ? { destination } : {}, { signal: this.#controller.signal }))
          .backup,
      {
        title: "Couldn't back up the panel's database",
        onError: (error) => {
          running = error instanceof ApiError && error.status === 409;
          return running;
        },
      },
    );
    if (running) {
      toasts.info("A backup is already under way", "It is shown in the list; wait for it to end.");
      void this.list.load();
      return false;
    }
    if (!backup) return false;
    this.list.value = [backup, ...this.list.value.filter((b) => b.id !== backup.id)];
    return true;
  }

  /** A failed backup of the panel's database (an event) refreshes the list. Returns the cleanup. */
  listen(): () => void {
    return follow({
      "backup.failed": (e) => {
        if (e.databaseId === null) void this.list.load();
      },
      reconnected: () => void this.list.load(),
    });
  }

  dispose(): void {
    this.#controller.abort();
  }
}
