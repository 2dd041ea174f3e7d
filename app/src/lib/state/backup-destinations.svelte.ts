/** Where backups go: listed, added (S3 keys are sent once and never come back) and deleted. */

import { ApiError } from "#lib/api/client.ts";
import { createDestination, type DestinationInput, deleteDestination, listDestinations } from "#lib/api/databases.ts";
import type { BackupDestination } from "#lib/api/types.ts";
import { fieldErrors } from "./databases.svelte.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export class BackupDestinations {
  readonly list = new Resource<BackupDestination[]>([], (signal) => listDestinations({ signal }), {
    failure: "Could not load the backup destinations.",
  });
  /** "create", or the id of the destination being deleted. */
  readonly busy = new Busy<string>();

  /** Adds a destination; null when added, else the server's messages by field (other failures are toasted). */
  async create(input: DestinationInput): Promise<Record<string, string> | null> {
    let errors: Record<string, string> | null = null;
    const created = await this.busy.run(() => createDestination(input), {
      title: "Couldn't add the destination",
      key: "create",
      onError: (error) => {
        if (!(error instanceof ApiError) || error.status >= 500 || error.status === 401) return false;
        // A refused endpoint or bucket names its field; anything else stays with the form as a whole.
        errors = fieldErrors(error) ?? { form: error.message };
        return true;
      },
    });
    if (errors) return errors;
    if (created) {
      this.list.value = [...this.list.value, created];
      toasts.success(`Destination “${created.name}” added`);
    }
    return null;
  }

  async remove(destination: BackupDestination): Promise<void> {
    const done = await this.busy.run(
      async () => {
        await deleteDestination(destination.id);
        return true;
      },
      { title: `Couldn't delete “${destination.name}”`, key: destination.id },
    );
    if (!done) return;
    this.list.value = this.list.value.filter((d) => d.id !== destination.id);
    toasts.success(`Destination “${destination.name}” deleted`, "Backups already stored there are left in place.");
  }
}
