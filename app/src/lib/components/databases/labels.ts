/** How databases and backups are named and coloured across the database pages. */
import type { BackupKind, DatabaseEngine, DatabaseStatus, VerifyStatus } from "#lib/api/types.ts";
import type { BadgeTone } from "../Badge.svelte";

export const ENGINE_LABEL: Record<DatabaseEngine, string> = { postgres: "PostgreSQL", redis: "Redis" };

export const DATABASE_STATUS: Record<DatabaseStatus, { label: string; tone: BadgeTone; pulse?: boolean }> = {
  provisioning: { label: "Provisioning", tone: "warning", pulse: true },
  ready: { label: "Ready", tone: "success" },
  failed: { label: "Failed", tone: "danger" },
  deleting: { label: "Deleting", tone: "warning", pulse: true },
};

export const BACKUP_KIND: Record<BackupKind, string> = { manual: "Manual", scheduled: "Scheduled", safety: "Safety", final: "Final" };

export const VERIFY_LABEL: Record<VerifyStatus, { label: string; tone: BadgeTone }> = {
  pending: { label: "Not verified yet", tone: "neutral" },
  verified: { label: "Verified", tone: "success" },
  failed: { label: "Did not verify", tone: "danger" },
};

/** The variable an attached app gets unless another name is chosen. */
export const DEFAULT_VAR: Record<DatabaseEngine, string> = { postgres: "DATABASE_URL", redis: "REDIS_URL" };

export const SELECT_CLASS =
  "h-9 w-full appearance-none rounded-lg border border-line-strong bg-surface pr-8 pl-3 text-sm text-fg shadow-card outline-none focus:border-accent-500 focus:ring-3 focus:ring-accent-500/20 aria-invalid:border-danger";
