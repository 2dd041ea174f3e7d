/**
 * Alert rules and alerts as the GUI holds them: the rules, the alerts firing now (ack, snooze), the
 * resolved ones, and the top bar's count of firing alerts nobody has acknowledged or snoozed. All
 * refetch when the event stream says an alert changed.
 */

import {
  ackAlert,
  createAlertRule,
  deleteAlertRule,
  listAlertRules,
  listAlerts,
  snoozeAlert,
  updateAlertRule,
} from "#lib/api/notifications.ts";
import type { Alert, AlertRule, CreateAlertRuleInput } from "#lib/api/types.ts";
import { follow } from "./events.svelte.ts";
import { refusal } from "./notifications.svelte.ts";
import { Busy, RefreshQueue, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

/** Firing, not acknowledged, and not snoozed at `now`: what still wants someone's attention. */
export function needsAttention(alert: Alert, now = Date.now()): boolean {
  if (alert.state !== "firing" || alert.acked) return false;
  return !alert.snoozedUntil || Date.parse(alert.snoozedUntil) <= now;
}

export class AlertRules {
  readonly list = new Resource<AlertRule[]>([], (signal) => listAlertRules({ signal }), { failure: "Could not load the alert rules." });
  /** "save", or "<action>:<id>" (toggle, delete). */
  readonly busy = new Busy<string>();

  #put(rule: AlertRule): void {
    const exists = this.list.value.some((r) => r.id === rule.id);
    this.list.value = exists ? this.list.value.map((r) => (r.id === rule.id ? rule : r)) : [...this.list.value, rule];
  }

  /** Adds (id null) or changes a rule; the rule, or the server's messages by field. */
  async save(id: string | null, input: CreateAlertRuleInput): Promise<{ rule: AlertRule } | { errors: Record<string, string> } | null> {
    let errors: Record<string, string> | null = null;
    const rule = await this.busy.run(() => (id ? updateAlertRule(id, input) : createAlertRule(input)), {
      title: id ? "Couldn't save the rule" : "Couldn't add the rule",
      key: "save",
      onError: (error) => {
        errors = refusal(error);
        return errors !== null;
      },
    });
    if (errors) return { errors };
    if (!rule) return null;
    this.#put(rule);
    toasts.success(id ? `Rule “${rule.name}” saved` : `Rule “${rule.name}” added`);
    return { rule };
  }

  async setEnabled(rule: AlertRule, enabled: boolean): Promise<void> {
    // Shown at once; put back if the server refuses.
    this.#put({ ...rule, enabled });
    const saved = await this.busy.run(() => updateAlertRule(rule.id, { enabled }), {
      title: `Couldn't turn ${enabled ? "on" : "off"} “${rule.name}”`,
      key: `toggle:${rule.id}`,
    });
    this.#put(saved ?? rule);
  }

  async remove(rule: AlertRule): Promise<boolean> {
    const done = await this.busy.run(
      async () => {
        await deleteAlertRule(rule.id);
        return true;
      },
      { title: `Couldn't delete “${rule.name}”`, key: `delete:${rule.id}` },
    );
    if (!done) return false;
    this.list.value = this.list.value.filter((r) => r.id !== rule.id);
    toasts.success(`Rule “${rule.name}” deleted`);
    return true;
  }
}

export class Alerts {
  readonly firing = new Resource<Alert[]>([], (signal) => listAlerts("firing", { signal }), { failure: "Could not load the alerts." });
  readonly resolved = new Resource<Alert[]>([], (signal) => listAlerts("resolved", { signal }), {
    failure: "Could not load the alert history.",
  });
  /** "<action>:<id>" (ack, snooze). */
  readonly busy = new Busy<string>();

  #put(alert: Alert): void {
    this.firing.value = this.firing.value.map((a) => (a.id === alert.id ? alert : a));
  }

  async ack(alert: Alert): Promise<boolean> {
    const acked = await this.busy.run(() => ackAlert(alert.id), { title: "Couldn't acknowledge the alert", key: `ack:${alert.id}` });
    if (!acked) return false;
    this.#put(acked);
    alertBadge.refresh();
    return true;
  }

  async snooze(alert: Alert, minutes: number, label: string): Promise<boolean> {
    const snoozed = await this.busy.run(() => snoozeAlert(alert.id, minutes), {
      title: "Couldn't snooze the alert",
      key: `snooze:${alert.id}`,
    });
    if (!snoozed) return false;
    this.#put(snoozed);
    alertBadge.refresh();
    toasts.info(`Snoozed for ${label}`, "No messages about it until then; it still resolves by itself.");
    return true;
  }

  listen(): () => void {
    const queue = new RefreshQueue(300);
    const off = follow({
      "alert.updated": () => queue.add(this.firing, this.resolved),
      reconnected: () => queue.add(this.firing, this.resolved),
    });
    return () => {
      queue.dispose();
      off();
    };
  }
}

/** The top bar's badge: firing alerts nobody acknowledged or snoozed. */
class AlertBadge {
  readonly #firing = new Resource<Alert[]>([], (signal) => listAlerts("firing", { signal }), { failure: "Could not load the alerts." });
  #queue = new RefreshQueue(300);

  get alerts(): readonly Alert[] {
    return this.#firing.value;
  }

  /** How many want attention at `now` (a snooze ends by itself). */
  count(now: number): number {
    return this.#firing.value.filter((a) => needsAttention(a, now)).length;
  }

  refresh(): void {
    this.#queue.add(this.#firing);
  }

  /** Loads now and follows `alert.updated`. Returns the cleanup. */
  listen(): () => void {
    void this.#firing.load();
    const off = follow({
      "alert.updated": () => this.#queue.add(this.#firing),
      reconnected: () => this.#queue.add(this.#firing),
    });
    return () => {
      this.#queue.dispose();
      off();
    };
  }
}

export const alertBadge = new AlertBadge();
