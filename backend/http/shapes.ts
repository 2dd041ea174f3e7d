/**
 * Rows → the JSON the API answers, typed against the contract the GUI imports: a column that
 * changes type, or a field the contract gains, fails to compile here instead of drifting.
 */
import type { AppProxy } from "../adapters/proxy/index.ts";
import type { SlotStatus } from "../adapters/runtime/types.ts";
import type { PublicUser } from "../auth/sessions.ts";
import type * as contract from "../contract/api.ts";
import type { AppSummary } from "../db/queries/apps.ts";
import type { ApiToken, auditLog, Job, JobStep, Release, Slot, WebhookDelivery } from "../db/schema/index.ts";
import type { UpdateStatus } from "../jobs/system-update.ts";

const iso = (d: Date): string => d.toISOString();
const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);
const span = (from: Date | null, to: Date | null): number | null => (from && to ? to.getTime() - from.getTime() : null);

export function releaseJson(r: Release, eligible?: Set<string>): contract.Release {
  return {
    id: r.id,
    number: r.number,
    commitSha: r.commitSha,
    commitMessage: r.commitMessage,
    commitAuthor: r.commitAuthor,
    runtime: r.runtime,
    status: r.status,
    healthy: r.healthy,
    pinned: r.pinned,
    pruned: r.pruned,
    details: r.details,
    createdAt: iso(r.createdAt),
    liveAt: isoOrNull(r.liveAt),
    ...(eligible ? { rollbackEligible: eligible.has(r.id) } : {}),
  };
}

/** `proxy` gives the app's address: its https domain, else its first domain, else `<app>.localhost`. */
export function appJson(a: AppSummary, proxy: Pick<AppProxy, "publicUrl">): contract.App {
  return {
    id: a.id,
    name: a.name,
    repoUrl: a.repoUrl,
    branch: a.branch,
    runtime: a.runtime,
    installCommand: a.installCommand,
    buildCommand: a.buildCommand,
    startCommand: a.startCommand,
    releaseCommand: a.releaseCommand,
    healthPath: a.healthPath,
    healthTimeoutSec: a.healthTimeoutSec,
    buildTimeoutSec: a.buildTimeoutSec,
    healthIntervalMs: a.healthIntervalMs,
    healthSuccesses: a.healthSuccesses,
    drainSeconds: a.drainSeconds,
    watchSeconds: a.watchSeconds,
    watchErrorRate: a.watchErrorRate,
    watchLatencyFactor: a.watchLatencyFactor,
    standbyTimeoutMin: a.standbyTimeoutMin,
    autoDeploy: a.autoDeploy,
    githubRepo: a.githubRepo,
    url: proxy.publicUrl(a.name, a.domains),
    webhook: a.githubRepo ? { hookId: a.githubHookId, active: a.githubHookId !== null } : null,
    domains: a.domains,
    memoryMax: a.memoryMax,
    cpuQuota: a.cpuQuota,
    volumes: a.volumes.map((v) => ({ path: v.path })),
    rootDir: a.rootDir,
    outputDir: a.outputDir,
    spaFallback: a.spaFallback,
    packageManager: a.packageManager,
    bunVersion: a.bunVersion,
    nodeVersion: a.nodeVersion,
    ioWeight: a.ioWeight,
    status: a.status,
    liveColor: a.liveColor,
    currentRelease: a.currentRelease ? releaseJson(a.currentRelease) : null,
    slots: a.slots.map((s) => ({ color: s.color, port: s.port, state: s.state, releaseId: s.releaseId, exits: s.exits ?? null })),
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  };
}

export function processJson(p: SlotStatus): contract.SlotProcess {
  return {
    state: p.state,
    pid: p.pid,
    releaseId: p.releaseId,
    port: p.port,
    startedAt: isoOrNull(p.startedAt),
    restarts: p.restarts,
    lastExit: p.lastExit ? { code: p.lastExit.code, signal: p.lastExit.signal, at: iso(p.lastExit.at) } : null,
  };
}

export function slotJson(s: Slot, release: Release | null, process: SlotStatus | null): contract.SlotDetail {
  return {
    color: s.color,
    port: s.port,
    state: s.state,
    release: release ? releaseJson(release) : null,
    startedAt: isoOrNull(s.startedAt),
    exits: s.exits ?? null,
    process: process ? processJson(process) : null,
  };
}

export function jobJson(j: Job): contract.Job {
  return {
    id: j.id,
    kind: j.kind,
    appId: j.appId,
    status: j.status,
    params: j.params,
    result: j.result,
    error: j.error,
    trigger: j.trigger,
    createdAt: iso(j.createdAt),
    startedAt: isoOrNull(j.startedAt),
    finishedAt: isoOrNull(j.finishedAt),
    durationMs: span(j.startedAt, j.finishedAt),
  };
}

export function stepJson(s: JobStep): contract.JobStep {
  return {
    name: s.name,
    status: s.status,
    message: s.message,
    startedAt: isoOrNull(s.startedAt),
    finishedAt: isoOrNull(s.finishedAt),
    durationMs: span(s.startedAt, s.finishedAt),
  };
}

export function deliveryJson(d: WebhookDelivery): contract.WebhookDelivery {
  return {
    id: d.id,
    deliveryId: d.deliveryId,
    event: d.event,
    outcome: d.outcome,
    jobId: d.jobId,
    ref: d.ref,
    commitSha: d.commitSha,
    commitMessage: d.commitMessage,
    commitAuthor: d.commitAuthor,
    verified: d.verified,
    redeliverable: d.verified && d.payload !== null,
    receivedAt: iso(d.receivedAt),
  };
}

export function tokenJson(t: ApiToken): contract.ApiToken {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    createdAt: iso(t.createdAt),
    lastUsedAt: isoOrNull(t.lastUsedAt),
    expiresAt: isoOrNull(t.expiresAt),
  };
}

export function userJson(u: Pick<PublicUser, "id" | "email" | "name" | "role" | "createdAt">): contract.User {
  return { id: u.id, email: u.email, name: u.name, role: u.role, createdAt: iso(u.createdAt) };
}

export function auditJson(e: typeof auditLog.$inferSelect): contract.AuditEntry {
  return {
    id: e.id,
    userId: e.userId,
    actor: e.actor,
    action: e.action,
    target: e.target,
    ip: e.ip,
    userAgent: e.userAgent,
    details: (e.details ?? null) as Record<string, unknown> | null,
    at: iso(e.at),
  };
}

/** `GET /system/update`: the self-update status, its dates as ISO strings. */
export function selfUpdateJson(u: UpdateStatus): contract.SelfUpdate {
  return {
    supported: u.supported,
    reason: u.reason,
    current: { ...u.current, startedAt: iso(u.current.startedAt) },
    source: u.source,
    available: u.available.map((c) => ({ revision: c.revision, subject: c.subject, author: c.author, date: c.date, tags: c.tags })),
    kept: u.kept.map((k) => ({ revision: k.revision, installedAt: iso(k.installedAt), current: k.current })),
    job: u.job ? jobJson(u.job) : null,
    checkedAt: iso(u.checkedAt),
    error: u.error,
  };
}
