/**
 * Notification channels and their deliveries as the GUI holds them: each channel with its health,
 * the result of its last "Send test", and the deliveries log. Both refetch when the event stream
 * says a delivery changed (a channel's health changes with its deliveries).
 */

import {
  type ChannelTestResult,
  type CreatedChannel,
  createChannel,
  type DeliveryQuery,
  deleteChannel,
  listChannels,
  listNotificationDeliveries,
  testChannel,
  updateChannel,
} from "#lib/api/notifications.ts";
import type { CreateChannelInput, NotificationChannel, NotificationDelivery, UpdateChannelInput } from "#lib/api/types.ts";
import { fieldErrors } from "./databases.svelte.ts";
import { follow } from "./events.svelte.ts";
import { Busy, RefreshQueue, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

/** The server's refusal by field (`{ host: "…" }`), or null when it was not a refusal of the input. */
export function refusal(error: unknown): Record<string, string> | null {
  const fields = fieldErrors(error);
  if (fields) return fields;
  const status = (error as { status?: unknown } | null)?.status;
  const message = (error as { message?: unknown } | null)?.message;
  // A 4xx that names no field (a name another channel holds) stays with the form.
  if (typeof status === "number" && status >= 400 && status < 500 && status !== 401 && status !== 403 && typeof message === "string") {
    return { form: message };
  }
  return null;
}

/** A test message's outcome, and when it was sent. */
export type TestOutcome = ChannelTestResult & { at: number };

export class NotificationChannels {
  readonly list = new Resource<NotificationChannel[]>([], (signal) => listChannels({ signal }), {
    failure: "Could not load the notification channels.",
  });
  /** "save", or "<action>:<id>" (test, toggle, delete). */
  readonly busy = new Busy<string>();
  /** The last "Send test" of each channel, by id. */
  tests = $state<Record<string, TestOutcome>>({});

  #put(channel: NotificationChannel): void {
    const exists = this.list.value.some((c) => c.id === channel.id);
    this.list.value = exists ? this.list.value.map((c) => (c.id === channel.id ? channel : c)) : [...this.list.value, channel];
  }

  /** Adds a channel: it, and a secret shown this once; or the server's messages by field. */
  async create(input: CreateChannelInput): Promise<CreatedChannel | { errors: Record<string, string> } | null> {
    let errors: Record<string, string> | null = null;
    const created = await this.busy.run(() => createChannel(input), {
      title: "Couldn't add the channel",
      key: "save",
      onError: (error) => {
        errors = refusal(error);
        return errors !== null;
      },
    });
    if (errors) return { errors };
    if (!created) return null;
    this.#put(created.channel);
    toasts.success(`Channel “${created.channel.name}” added`, "Send it a test to check that messages arrive.");
    return created;
  }

  /** Saves changes; the channel, or the server's messages by field. */
  async update(
    id: string,
    patch: UpdateChannelInput,
  ): Promise<{ channel: NotificationChannel } | { errors: Record<string, string> } | null> {
    let errors: Record<string, string> | null = null;
    const channel = await this.busy.run(() => updateChannel(id, patch), {
      title: "Couldn't save the channel",
      key: "save",
      onError: (error) => {
        errors = refusal(error);
        return errors !== null;
      },
    });
    if (errors) return { errors };
    if (!channel) return null;
    this.#put(channel);
    toasts.success(`Channel “${channel.name}” saved`);
    return { channel };
  }

  async setEnabled(channel: NotificationChannel, enabled: boolean): Promise<void> {
    const saved = await this.busy.run(() => updateChannel(channel.id, { enabled }), {
      title: `Couldn't ${enabled ? "turn on" : "pause"} “${channel.name}”`,
      key: `toggle:${channel.id}`,
    });
    if (saved) this.#put(saved);
  }

  async remove(channel: NotificationChannel): Promise<boolean> {
    const done = await this.busy.run(
      async () => {
        await deleteChannel(channel.id);
        return true;
      },
      { title: `Couldn't delete “${channel.name}”`, key: `delete:${channel.id}` },
    );
    if (!done) return false;
    this.list.value = this.list.value.filter((c) => c.id !== channel.id);
    toasts.success(`Channel “${channel.name}” deleted`);
    return true;
  }

  /** Sends a test message now; the outcome stays shown under the channel. */
  async test(channel: NotificationChannel): Promise<TestOutcome | null> {
    const result = await this.busy.run(() => testChannel(channel.id), {
      title: `Couldn't send a test to “${channel.name}”`,
      key: `test:${channel.id}`,
    });
    if (!result) return null;
    const outcome = { ...result, at: Date.now() };
    this.tests = { ...this.tests, [channel.id]: outcome };
    // Its health has changed with the attempt.
    void this.list.load();
    return outcome;
  }

  listen(): () => void {
    const queue = new RefreshQueue(400);
    const off = follow({
      "notification.delivery": (e) => {
        if (e.status === "sent" || e.status === "failed" || e.status === "pending") queue.add(this.list);
      },
      reconnected: () => queue.add(this.list),
    });
    return () => {
      queue.dispose();
      off();
    };
  }
}

const DELIVERIES_PAGE = 100;

export class NotificationDeliveries {
  /** Which channel's, and in which status; null: all. */
  filter = $state<{ channel: string | null; status: string | null }>({ channel: null, status: null });
  readonly list = new Resource<NotificationDelivery[]>([], (signal) => this.#fetch(signal), {
    failure: "Could not load the deliveries.",
  });

  #fetch(signal: AbortSignal | undefined): Promise<NotificationDelivery[]> {
    const query: DeliveryQuery = { ...$state.snapshot(this.filter), limit: DELIVERIES_PAGE };
    return listNotificationDeliveries(query, { signal });
  }

  listen(): () => void {
    const queue = new RefreshQueue(400);
    const off = follow({
      "notification.delivery": () => queue.add(this.list),
      reconnected: () => queue.add(this.list),
    });
    return () => {
      queue.dispose();
      off();
    };
  }
}
