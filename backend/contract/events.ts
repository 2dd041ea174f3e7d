/**
 * Every event a panel publishes (jobs/events.ts) and the event stream (`GET /api/v1/events`) sends,
 * written once for the server and the GUI. Small, because NOTIFY payloads are capped at 8000 bytes.
 */
import type {
  AlertState,
  AppStatus,
  BackupKind,
  CertificateStatus,
  DatabaseStatus,
  DeliveryStatus,
  JobKind,
  JobStatus,
  ReleaseStatus,
  SlotColor,
  SlotState,
  StepStatus,
} from "./api.ts";

export const EVENT_TYPES = [
  "job.created",
  "job.updated",
  "job.step",
  "job.log",
  "app.created",
  "app.updated",
  "app.deleted",
  "slot.updated",
  "release.updated",
  "webhook.delivery",
  "panel.updated",
  "metric",
  "backup.failed",
  "database.updated",
  "domain.updated",
  "certificate.updated",
  "alert.updated",
  "notification.delivery",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** The event stream's first message on every (re)connect; not a panel event. */
export const READY_EVENT = "ready";

export type PanelEvent =
  | { type: "job.created" | "job.updated"; jobId: string; appId: string | null; app?: string | null; kind: JobKind; status: JobStatus }
  | { type: "job.step"; jobId: string; step: string; position: number; status: StepStatus }
  | { type: "job.log"; jobId: string; seq: number }
  | { type: "app.created" | "app.updated" | "app.deleted"; appId: string; app: string; status?: AppStatus }
  | { type: "slot.updated"; appId: string; app: string; color: SlotColor; state: SlotState; releaseId: string | null }
  | { type: "release.updated"; appId: string; app: string; releaseId: string; status: ReleaseStatus }
  | { type: "webhook.delivery"; appId: string | null; deliveryId: string; outcome: string; jobId: string | null }
  | { type: "panel.updated"; revision: string | null; slot: string; reverted: boolean; reason: string | null }
  /** A backup that failed or whose restore did not match the source (databaseId null: the panel's own). */
  | { type: "backup.failed"; backupId: string; databaseId: string | null; database: string; kind: BackupKind; error: string }
  /** A database was created, changed status, attached or detached, or deleted ("deleted": its row is gone). */
  | { type: "database.updated"; databaseId: string; database: string; status: DatabaseStatus | "deleted" }
  | { type: "domain.updated"; appId: string; app: string; name: string }
  | { type: "certificate.updated"; certificateId: string; name: string; status: CertificateStatus | "deleted" }
  | { type: "alert.updated"; alertId: string; ruleId: string; state: AlertState; appId: string | null }
  | { type: "notification.delivery"; deliveryId: number; channelId: string; status: DeliveryStatus }
  /**
   * Every 10 s, from the panel that samples: the server now, and each app's last minute of
   * requests with its slots' CPU (cores) and memory (bytes). Sized to stay under NOTIFY's cap.
   */
  | {
      type: "metric";
      at: string;
      system: { cpu: number | null; load1: number | null; memoryUsed: number | null; memoryTotal: number | null } | null;
      apps: Array<{
        appId: string;
        app: string;
        requests: number;
        errors: number;
        cpu: number | null;
        memory: number | null;
        restarts: number;
      }>;
    };

/** The event of one type (a shape shared by several types is narrowed to the one asked for). */
export type EventOf<T extends EventType> = PanelEvent extends infer E
  ? E extends { type: infer U }
    ? T extends U
      ? Omit<E, "type"> & { type: T }
      : never
    : never
  : never;

/** One handler for every event type: a map of this type is exhaustive by construction. */
export type EventHandlers = { [T in EventType]: (event: EventOf<T>) => void };

// Both directions: a type in the list without a shape, or a shape missing from the list, fails to compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
export const EVENT_TYPES_MATCH_UNION: Same<EventType, PanelEvent["type"]> = true;
