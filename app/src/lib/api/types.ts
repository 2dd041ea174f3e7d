/** Shapes of the Switchyard REST API (`/api/v1`). Dates arrive as ISO strings. */

export type Role = "owner" | "admin" | "deployer" | "viewer";

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: string;
}

export interface Health {
  status: "ok" | "error";
  version: string;
  database: "pglite" | "postgres";
  message?: string;
}

export interface SetupStatus {
  needed: boolean;
}

export interface SetupInput {
  email: string;
  password: string;
  name: string;
}

export interface LoginInput {
  email: string;
  password: string;
  totp?: string;
}

export interface UserResponse {
  user: User;
}

export type AppStatus = "new" | "building" | "live" | "failed" | "stopped";
export type SlotColor = "blue" | "green";
export type Runtime = "bun" | "node" | "static";

export type ReleaseStatus = "ready" | "live" | "standby" | "retired" | "failed" | "rolled_back";

export interface Release {
  id: string;
  number: number;
  commitSha: string;
  commitMessage: string | null;
  commitAuthor: string | null;
  runtime?: string;
  status: ReleaseStatus | (string & {});
  healthy?: boolean;
  pinned?: boolean;
  pruned?: boolean;
  details?: Record<string, unknown> | null;
  createdAt: string;
  liveAt: string | null;
  /** Only in `GET /apps/:app/releases`. */
  rollbackEligible?: boolean;
}

/** Kept for older callers: the release summary inside an app. */
export type ReleaseSummary = Release;

export type SlotState = "empty" | "starting" | "live" | "standby" | "draining" | "stopped" | "failed";

export interface SlotSummary {
  color: SlotColor;
  port: number | null;
  state: SlotState | (string & {});
  releaseId: string | null;
}

export interface SlotProcess {
  state: "running" | "restarting" | "stopped" | "crashed";
  pid: number | null;
  releaseId: string | null;
  port: number | null;
  startedAt: string | null;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
}

/** `GET /apps/:app/slots`: a slot with its release and the process as the runtime sees it. */
export interface SlotDetail {
  color: SlotColor;
  port: number | null;
  state: SlotState | (string & {});
  release: Release | null;
  startedAt: string | null;
  process: SlotProcess | null;
}

/** Settings a user may change with `PATCH /apps/:app`. */
export interface AppSettings {
  repoUrl: string;
  branch: string;
  runtime: Runtime | null;
  installCommand: string | null;
  buildCommand: string | null;
  startCommand: string | null;
  healthPath: string;
  healthTimeoutSec: number;
  buildTimeoutSec: number;
  healthIntervalMs: number;
  healthSuccesses: number;
  drainSeconds: number;
  watchSeconds: number;
  standbyTimeoutMin: number;
  autoDeploy: boolean;
  memoryMax: string | null;
  cpuQuota: string | null;
}

export interface App extends Partial<Omit<AppSettings, "repoUrl" | "branch">> {
  id?: string;
  name: string;
  repoUrl: string;
  branch: string;
  status: AppStatus;
  liveColor: SlotColor | null;
  currentRelease: Release | null;
  slots?: SlotSummary[];
  /** "owner/name" when created from GitHub; its webhook deploys every push. */
  githubRepo?: string | null;
  /** Extra host names nginx routes to the live slot. */
  domains?: string[];
  webhook?: { hookId: number | null; active: boolean } | null;
  createdAt?: string;
  updatedAt: string;
}

export interface CreateAppInput extends Partial<AppSettings> {
  name: string;
  /** Any git URL; or, instead, a GitHub repository of the connected account. */
  repoUrl?: string;
  github?: { owner: string; repo: string };
  deploy?: boolean;
}

export type JobKind =
  | "deploy"
  | "rollback"
  | "restart"
  | "stop"
  | "delete"
  | "issue-certificate"
  | "provision-database"
  | "backup"
  | "self-update";
export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export type StepStatus = "pending" | "running" | "succeeded" | "failed" | "skipped" | "cancelled";

export interface Job {
  id: string;
  kind: JobKind | (string & {});
  appId: string | null;
  status: JobStatus;
  params: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: string | null;
  trigger: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface JobStep {
  name: string;
  status: StepStatus;
  message: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface JobDetail {
  job: Job;
  steps: JobStep[];
}

export interface LogLine {
  seq: number;
  step: string | null;
  stream: "stdout" | "stderr" | "system";
  line: string;
  at: string;
}

export interface EnvVar {
  key: string;
  value: string;
  secret: boolean;
}

/** One row of `PUT /apps/:app/env`. */
export interface EnvVarInput {
  key: string;
  value?: string;
  secret: boolean;
  keep?: boolean;
}

export interface EnvChange {
  added: string[];
  changed: string[];
  removed: string[];
}

export interface EnvSaveResult {
  vars: EnvVar[];
  change: EnvChange;
  deployNeeded: boolean;
}

export interface ApiToken {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}

export interface CreatedToken extends ApiToken {
  /** The secret itself: shown once. */
  token: string;
}

export interface AuditEntry {
  id: number;
  userId: string | null;
  actor: string;
  action: string;
  target: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown> | null;
  at: string;
}

/** What the panel event stream (`/events`) sends. */
export type PanelEvent =
  | { type: "job.created" | "job.updated"; jobId: string; appId: string | null; app?: string | null; kind: string; status: JobStatus }
  | { type: "job.step"; jobId: string; step: string; position: number; status: StepStatus }
  | { type: "job.log"; jobId: string; seq: number }
  | { type: "app.created" | "app.updated" | "app.deleted"; appId: string; app: string; status?: AppStatus }
  | { type: "slot.updated"; appId: string; app: string; color: SlotColor; state: string; releaseId: string | null }
  | { type: "release.updated"; appId: string; app: string; releaseId: string; status: string };

/** The one error shape every endpoint uses. */
export interface ApiErrorBody {
  error: {
    code: string;
    message: string;
    details?: unknown;
  };
}

export interface ValidationIssue {
  path: string;
  message: string;
}

// --- GitHub -------------------------------------------------------------------------------------

export interface GitHubStatus {
  configured: boolean;
  howToEnable?: string;
  callbackUrl: string;
  allowSignup: boolean;
  connected: boolean;
  reconnectNeeded: boolean;
  account: { login: string; name: string | null; avatarUrl: string | null; scopes: string } | null;
}

export interface GitHubRepo {
  fullName: string;
  owner: string;
  name: string;
  private: boolean;
  defaultBranch: string;
  cloneUrl: string;
  description: string | null;
  pushedAt: string | null;
}

export interface GitHubRepoPage {
  repos: GitHubRepo[];
  page: number;
  total: number;
  nextPage: number | null;
}

export interface WebhookDelivery {
  id: string;
  deliveryId: string;
  event: string;
  outcome: string;
  jobId: string | null;
  ref: string | null;
  commitSha: string | null;
  commitMessage: string | null;
  commitAuthor: string | null;
  verified: boolean;
  redeliverable: boolean;
  receivedAt: string;
}

export interface WebhookHealth {
  repo: string | null;
  autoDeploy: boolean;
  hookId: number | null;
  hook: { id: number; url: string; events: string[]; active: boolean } | null;
  problem: string | null;
  lastDelivery: WebhookDelivery | null;
}

// --- Self-update --------------------------------------------------------------------------------

/** A commit of the panel's source newer than the running version. */
export interface UpdateCommit {
  revision: string;
  subject: string;
  author: string;
  date: string;
  tags: string[];
}

/** A panel version kept on disk for a manual rollback. */
export interface KeptVersion {
  revision: string;
  installedAt: string;
  current: boolean;
}

export interface SelfUpdateResult {
  from?: string;
  to?: string;
  /** The new version failed its health check or its first minute, and the previous one took over again. */
  reverted?: boolean;
  reason?: string;
}

/** The latest self-update job, as `GET /system/update` reports it. */
export interface SelfUpdateJob {
  id: string;
  status: JobStatus;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
  params: { revision?: string; rollback?: boolean };
  result: SelfUpdateResult | null;
}

/** `GET /system/update`: what runs, what could run next, and what can be gone back to. */
export interface SelfUpdate {
  /** False where the panel cannot replace itself (e.g. local mode); `reason` says why. */
  supported: boolean;
  reason: string | null;
  current: { version: string; revision: string | null; slot: SlotColor | null; startedAt: string };
  source: { url: string; branch: string } | null;
  /** Commits newer than the running one, newest first: the changelog. */
  available: UpdateCommit[];
  kept: KeptVersion[];
  job: SelfUpdateJob | null;
  /** When the source was last fetched. */
  checkedAt: string;
  /** Why the source could not be checked; everything else is still valid. */
  error: string | null;
}
