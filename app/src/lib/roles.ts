/**
 * Who may do what, as the server decides it (backend/http/middleware/auth.ts ranks the roles the
 * same way; each route names the least role it needs). The GUI hides what a role may not do; the
 * server refuses it either way.
 */
import type { Role } from "#lib/api/types.ts";
import { session } from "#lib/state/session.svelte.ts";

const RANK: Record<Role, number> = { viewer: 1, deployer: 2, admin: 3, owner: 4 };

/** Whether `role` is `least` or above; false when nobody is signed in. */
export function can(role: Role | null | undefined, least: Role): boolean {
  return role ? RANK[role] >= RANK[least] : false;
}

/** The least role for each thing the GUI offers, mirroring the routes that do it. */
export const NEEDS = {
  /** POST /apps/:app/deploy, /rollback, /jobs/:id/cancel, /webhooks/deliveries/:id/redeliver */
  deploy: "deployer",
  /** API tokens of one's own (the server allows any role; the panel offers them from deployer up). */
  tokens: "deployer",
  /** POST/PATCH/DELETE /apps, PUT /apps/:app/env, GET /github/repos */
  manageApps: "admin",
  /** /users, /audit */
  manageUsers: "admin",
  /** Connecting GitHub is for picking repositories (GET /github/repos). */
  github: "admin",
  /** /notifications/* (channels, their tests, the deliveries log), POST/PATCH/DELETE /alerts/rules */
  notifications: "admin",
  /** GET /alerts, /alerts/rules (the Alerts page, the top bar's badge) */
  alerts: "viewer",
  /** POST /alerts/:id/ack, /alerts/:id/snooze */
  ackAlerts: "deployer",
  /** /system/update, /settings/*, PUT /github/settings */
  serverSettings: "owner",
} as const satisfies Record<string, Role>;

export type Ability = keyof typeof NEEDS;

/** Whether the signed-in user may do `ability`; reactive when read inside `$derived` or markup. */
export function allowed(ability: Ability): boolean {
  return can(session.user?.role, NEEDS[ability]);
}
