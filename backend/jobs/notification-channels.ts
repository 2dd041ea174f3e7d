/**
 * Adding, changing and testing a notification channel: its configuration checked for its kind
 * (an SMTP host must resolve), apps named by the user turned into ids, secrets kept encrypted.
 */
import { randomBytes } from "node:crypto";
import { DEFAULT_SEND_TIMEOUT_MS, resolveHost, type SendResult, sendMessage } from "../adapters/notify/index.ts";
import type { ChannelKind, NotificationMessage } from "../contract/api.ts";
import {
  appIdsByName,
  type ChannelFields,
  channelSecret,
  channelTarget,
  findChannelByName,
  insertChannel,
  recordChannelResult,
  updateChannel,
} from "../db/queries/notification-channels.ts";
import type { NotificationChannelRow } from "../db/schema/index.ts";
import { keepMasked, mergeConfig, parseChannelConfig, splitConfig } from "../domain/notification-channels.ts";
import type { Services } from "../services.ts";
import { isUniqueViolation } from "./store.ts";

/** A channel the panel will not save as asked: the field at fault and why. */
export class ChannelRefused extends Error {
  override name = "ChannelRefused";
  constructor(
    readonly status: number,
    readonly code: string,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const refuse = (field: string, message: string) => new ChannelRefused(400, "validation_failed", field, message);

export interface ChannelInput {
  name: string;
  config: Record<string, unknown>;
  /** null: every event. */
  events: string[] | null;
  /** App names; null: every app. */
  apps: string[] | null;
  enabled: boolean;
}

type ServicesFor = Pick<Services, "db" | "masterKey" | "config">;

export async function createChannel(
  services: ServicesFor,
  kind: ChannelKind,
  input: ChannelInput,
): Promise<{ channel: NotificationChannelRow; signingSecret: string | null }> {
  const masked = keepMasked(kind, input.config, {});
  if (!masked.ok) throw refuse(masked.field, masked.message);
  const checked = await checkConfig(kind, masked.config);
  // A webhook's signing secret is made here when none is given, and shown once.
  let signingSecret: string | null = null;
  if (kind === "webhook" && !checked.signingSecret) {
    signingSecret = randomBytes(32).toString("hex");
    checked.signingSecret = signingSecret;
  }
  const fields: ChannelFields = {
    name: input.name,
    ...splitConfig(kind, checked),
    events: input.events,
    appIds: await appIdsOf(services, input.apps),
    enabled: input.enabled,
  };
  if (await findChannelByName(services.db, input.name)) throw taken(input.name);
  try {
    return { channel: await insertChannel(services.db, services.masterKey, kind, fields), signingSecret };
  } catch (error) {
    if (isUniqueViolation(error)) throw taken(input.name);
    throw error;
  }
}

/** An edit: the fields given over the stored ones; a secret sent back as "••••" keeps its value. */
export async function changeChannel(
  services: ServicesFor,
  row: NotificationChannelRow,
  patch: Partial<ChannelInput>,
): Promise<NotificationChannelRow> {
  const storedSecret = channelSecret(services.masterKey, row);
  let config: Record<string, unknown> = { ...row.config, ...storedSecret };
  if (patch.config) {
    const merged = mergeConfig(row.kind, { config: row.config, secret: storedSecret }, patch.config);
    if (!merged.ok) throw refuse(merged.field, merged.message);
    config = merged.config;
  }
  const checked = await checkConfig(row.kind, config, patch.config !== undefined && hostChanged(row, patch.config));
  if (row.kind === "webhook" && !checked.signingSecret) {
    throw refuse("config.signingSecret", "cannot be removed: every delivery is signed with it; give a new one to replace it");
  }
  const name = patch.name ?? row.name;
  const fields: ChannelFields = {
    name,
    ...splitConfig(row.kind, checked),
    events: patch.events === undefined ? row.events : patch.events,
    appIds: patch.apps === undefined ? row.appIds : await appIdsOf(services, patch.apps),
    enabled: patch.enabled ?? row.enabled,
  };
  if (name !== row.name) {
    const other = await findChannelByName(services.db, name);
    if (other && other.id !== row.id) throw taken(name);
  }
  try {
    const updated = await updateChannel(services.db, services.masterKey, row.id, fields);
    if (!updated) throw new ChannelRefused(404, "not_found", "id", "Notification channel not found.");
    return updated;
  } catch (error) {
    if (isUniqueViolation(error)) throw taken(name);
    throw error;
  }
}

/** Sends a test message right now (not through the outbox); the outcome counts towards the channel's health. */
export async function testChannel(services: ServicesFor, row: NotificationChannelRow, by: string | null): Promise<SendResult> {
  const result = await sendMessage(channelTarget(services.masterKey, row), testMessage(services, row, by), {
    timeoutMs: DEFAULT_SEND_TIMEOUT_MS,
  });
  await recordChannelResult(services.db, row.id, result);
  return result;
}

export function testMessage(services: Pick<Services, "config">, row: NotificationChannelRow, by: string | null): NotificationMessage {
  return {
    event: "test",
    severity: "info",
    title: `Test message from Switchyard to ${row.name}`,
    text: `This is a test of the ${row.kind} channel ${row.name}${by ? `, sent by ${by}` : ""}. If you can read it, notifications reach you here.`,
    app: null,
    release: null,
    fields: [
      { label: "Channel", value: row.name },
      { label: "Panel", value: services.config.publicUrl.host },
    ],
    lines: [],
    url: new URL("/settings/notifications", services.config.publicUrl).toString(),
    at: new Date().toISOString(),
  };
}

type Checked = Record<string, unknown> & { signingSecret?: string | null };

async function checkConfig(kind: ChannelKind, config: Record<string, unknown>, resolve = true): Promise<Checked> {
  const parsed = parseChannelConfig(kind, config);
  if (!parsed.ok) throw refuse(parsed.field, parsed.message);
  const checked = { ...parsed.config } as Checked;
  if (kind === "email" && resolve) {
    const host = String(checked.host);
    const resolved = await resolveHost(host);
    if (!resolved.ok) throw refuse("config.host", resolved.reason);
  }
  return checked;
}

/** An edit that keeps the SMTP host needs no new lookup (a resolver's hiccup should not block renaming a channel). */
function hostChanged(row: NotificationChannelRow, patch: Record<string, unknown>): boolean {
  return row.kind === "email" && patch.host !== undefined && String(patch.host).trim().toLowerCase() !== row.config.host;
}

/** App names as ids; null stays null (every app). */
async function appIdsOf(services: ServicesFor, apps: string[] | null): Promise<string[] | null> {
  if (apps === null) return null;
  const names = [...new Set(apps)];
  const ids = await appIdsByName(services.db, names);
  const unknown = names.filter((n) => !ids.has(n));
  if (unknown.length > 0) throw refuse("apps", `there is no app named ${unknown.map((n) => JSON.stringify(n)).join(", ")}`);
  return names.map((n) => ids.get(n) as string);
}

const taken = (name: string) => new ChannelRefused(409, "channel_exists", "name", `A channel named ${name} already exists.`);
