/**
 * A password rotation in progress, as kept in `databases.config.rotation`: which db-rotate job
 * started it, the attached apps whose deploys it waits for, and what each came to. Nothing secret.
 */
import { type DatabaseRotation, ROTATION_STATES, type RotationState } from "../contract/api.ts";

export type RotationApp = DatabaseRotation["apps"][number];

export interface StoredRotation extends DatabaseRotation {
  /** When a panel began dropping the old password (state finishing). */
  claimedAt?: string;
  /** The rotation job recorded the deploys it queued: only then may the old password be dropped. */
  queued: boolean;
}

const APP_STATUSES = new Set(["waiting", "deployed", "detached", "failed"]);

/** The stored rotation, or null when there is none (or it is not one this panel understands). */
export function readRotation(config: Record<string, unknown> | null | undefined): StoredRotation | null {
  const r = config?.rotation as Record<string, unknown> | undefined;
  if (!r || typeof r !== "object" || typeof r.jobId !== "string") return null;
  const state = ROTATION_STATES.includes(r.state as RotationState) ? (r.state as RotationState) : "needs-attention";
  const apps = Array.isArray(r.apps) ? r.apps : [];
  return {
    state,
    jobId: r.jobId,
    startedAt: typeof r.startedAt === "string" ? r.startedAt : new Date(0).toISOString(),
    apps: apps
      .filter((a): a is Record<string, unknown> => typeof a === "object" && a !== null && typeof a.appId === "string")
      .map((a) => ({
        app: typeof a.app === "string" ? a.app : "",
        appId: a.appId as string,
        deployJobId: typeof a.deployJobId === "string" ? a.deployJobId : null,
        status: APP_STATUSES.has(a.status as string) ? (a.status as RotationApp["status"]) : "waiting",
        reason: typeof a.reason === "string" ? a.reason : null,
      })),
    reason: typeof r.reason === "string" ? r.reason : null,
    queued: r.queued === true,
    ...(typeof r.claimedAt === "string" ? { claimedAt: r.claimedAt } : {}),
  };
}

/** What the API shows (without the internal claim time). */
export function rotationJson(config: Record<string, unknown> | null | undefined): DatabaseRotation | null {
  const r = readRotation(config);
  if (!r) return null;
  const { claimedAt: _claimed, queued: _queued, ...shown } = r;
  return shown;
}

/** The app's status from its deploys since the rotation's own (oldest first). */
export function appRotationStatus(
  runs: Array<{ id: string; status: string; error: string | null }>,
): Pick<RotationApp, "status" | "reason"> {
  if (runs.some((r) => r.status === "succeeded")) return { status: "deployed", reason: null };
  if (runs.some((r) => r.status === "queued" || r.status === "running")) return { status: "waiting", reason: null };
  const last = runs.at(-1);
  if (!last) return { status: "failed", reason: "its deploy job is gone; deploy the app" };
  return { status: "failed", reason: `deploy ${last.id} ${last.status}${last.error ? `: ${last.error}` : ""}`.slice(0, 500) };
}

/** The rotation's state from its apps' (once the rotation job has queued the deploys). */
export function overallState(apps: RotationApp[]): "done" | "waiting-for-deploys" | "needs-attention" {
  if (apps.some((a) => a.status === "failed")) return "needs-attention";
  if (apps.some((a) => a.status === "waiting")) return "waiting-for-deploys";
  return "done";
}

export function failedSummary(apps: RotationApp[]): string | null {
  const failed = apps.filter((a) => a.status === "failed");
  if (failed.length === 0) return null;
  return `the deploy of ${failed.map((a) => `${a.app} (${a.reason ?? "failed"})`).join(", ")} did not succeed, so the old password stays valid; a successful deploy of ${failed.length === 1 ? "that app" : "those apps"} finishes the rotation`;
}
