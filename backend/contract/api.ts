/**
 * What the REST API (`/api/v1`) answers and accepts, written once for the server (http/shapes.ts
 * is typed against it) and the GUI (which imports it as `$contract`). Types and constants only:
 * nothing here may import server code. Dates travel as ISO strings.
 */

export const ROLES = ["owner", "admin", "deployer", "viewer"] as const;
export type Role = (typeof ROLES)[number];

export const APP_STATUSES = ["new", "building", "live", "failed", "stopped", "crashed"] as const;
export type AppStatus = (typeof APP_STATUSES)[number];

export const SLOT_STATES = ["empty", "starting", "live", "standby", "draining", "stopped", "failed", "crashed"] as const;
export type SlotState = (typeof SLOT_STATES)[number];

export const SLOT_COLORS = ["blue", "green"] as const;
export type SlotColor = (typeof SLOT_COLORS)[number];

export const RUNTIMES = ["bun", "node", "static"] as const;
export type Runtime = (typeof RUNTIMES)[number];

export const RELEASE_STATUSES = ["ready", "live", "standby", "retired", "failed", "rolled_back"] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

export const JOB_KINDS = [
  "deploy",
  "rollback",
  "restart",
  "stop",
  "configure-proxy",
  "self-update",
  "release-command",
  "db-provision",
  "db-backup",
  "db-restore",
  "db-rotate",
  "db-delete",
  "issue-certificate",
  "volume-backup",
  "volume-restore",
  "scale",
] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const STEP_STATUSES = ["pending", "running", "succeeded", "failed", "skipped", "cancelled"] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** An ISO 8601 date-time, as `Date.prototype.toISOString()` writes it. */
export type IsoDate = string;

// --- Users and sessions ---------------------------------------------------------------------------

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: IsoDate;
}

export interface UserResponse {
  user: User;
}

export interface Health {
  status: "ok" | "error";
  version: string;
  revision?: string | null;
  slot?: SlotColor | null;
  database: "pglite" | "postgres";
  message?: string;
}

export interface SetupStatus {
  needed: boolean;
  /** Setup asks for the one-time setup code the panel prints at start (`switchyard setup-code`). */
  codeRequired: true;
}

export interface SetupInput {
  email: string;
  password: string;
  name: string;
  /** The one-time setup code; case, spaces and dashes do not matter. */
  code: string;
}

/**
 * `POST /auth/login`. When the account has two-factor sign-in on and the password is right, a
 * request without a code is answered 401 `totp_required`; then send `totp` (the 6-digit code) or
 * `recoveryCode`. A wrong or already used code is 401 `invalid_totp`, counted by the same throttle
 * as wrong passwords (429 after the limit). A wrong password is 401 `invalid_credentials`,
 * whether or not two-factor sign-in is on.
 */
export interface LoginInput {
  email: string;
  password: string;
  totp?: string;
  recoveryCode?: string;
}

/** Error codes of two-factor sign-in. */
export const TWO_FACTOR_ERRORS = {
  /** 401 from login: the password is right; now the code. */
  codeNeeded: "totp_required",
  /** 401 from login, 400 elsewhere: the code is wrong or was used already. */
  invalidCode: "invalid_totp",
  /** 403 from any route but the user's own sign-in ones: the owner requires two-factor sign-in and the user has not turned it on. */
  enrolmentNeeded: "two_factor_required",
} as const;

/** `GET /auth/2fa`: the signed-in user's two-factor sign-in. */
export interface TwoFactorStatus {
  enabled: boolean;
  enabledAt: IsoDate | null;
  /** Recovery codes not used yet. */
  recoveryCodesLeft: number;
  /** The owner requires two-factor sign-in of every user. */
  required: boolean;
}

/** `POST /auth/2fa/setup` {password}: a new key, pending until `POST /auth/2fa/enable` {code} confirms it. */
export interface TwoFactorSetup {
  /** The key in base32, for typing into an authenticator app. */
  secret: string;
  /** The `otpauth://totp/…` URI a QR code carries. */
  uri: string;
}

/** `POST /auth/2fa/enable` {code} and `POST /auth/2fa/recovery-codes` {password, code}: the recovery codes, shown this once. */
export interface TwoFactorEnabled extends TwoFactorStatus {
  recoveryCodes: string[];
}

/** `POST /auth/2fa/disable` and `POST /auth/2fa/recovery-codes`: the password and a current code (or a recovery code). */
export interface TwoFactorProof {
  password: string;
  code: string;
}

/** `GET/PUT /settings/security` (owner). */
export interface SecuritySettings {
  /** Every user must turn on two-factor sign-in; the owner needs it on before turning this on. */
  requireTwoFactor: boolean;
}

/** `POST /auth/password`: the signed-in user changes their own password. */
export interface ChangePasswordInput {
  currentPassword: string;
  newPassword: string;
  /** End the user's other sessions (default true); the one making the change stays signed in. */
  signOutOtherSessions?: boolean;
  /** Also delete the user's API tokens (default false: a password change keeps them). */
  revokeTokens?: boolean;
}

export interface ChangePasswordResult {
  signedOutSessions: number;
  revokedTokens: number;
}

/** One place the user is signed in (`GET /auth/sessions`). */
export interface AccountSession {
  /** A public id for `DELETE /auth/sessions/:id`; not the session's secret. */
  id: string;
  /** "Firefox on Linux", read from the user agent. */
  device: string;
  userAgent: string | null;
  /** The address the session signed in from. */
  ip: string | null;
  createdAt: IsoDate;
  lastSeenAt: IsoDate;
  expiresAt: IsoDate;
  /** The session this request came with. */
  current: boolean;
}

export interface SessionsResponse {
  sessions: AccountSession[];
}

export interface SignedOutResponse {
  signedOut: number;
}

export interface ApiToken {
  id: string;
  name: string;
  prefix: string;
  createdAt: IsoDate;
  lastUsedAt: IsoDate | null;
  expiresAt: IsoDate | null;
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
  at: IsoDate;
}

// --- Apps, releases, slots ----------------------------------------------------------------------

export interface Release {
  id: string;
  number: number;
  commitSha: string;
  commitMessage: string | null;
  commitAuthor: string | null;
  runtime: string;
  status: ReleaseStatus;
  healthy: boolean;
  pinned: boolean;
  pruned: boolean;
  details: Record<string, unknown> | null;
  createdAt: IsoDate;
  liveAt: IsoDate | null;
  /** Only in `GET /apps/:app/releases`. */
  rollbackEligible?: boolean;
}

export interface SlotExit {
  code: number | null;
  signal: string | null;
  at: IsoDate;
}

/** A slot as the app list shows it. */
export interface SlotSummary {
  color: SlotColor;
  port: number | null;
  state: SlotState;
  releaseId: string | null;
  /** The last exits of the slot's process (newest last), kept when it crash-loops. */
  exits: SlotExit[] | null;
}

/** The slot's process as the runtime sees it now. */
export interface SlotProcess {
  state: "running" | "restarting" | "stopped" | "crashed";
  pid: number | null;
  releaseId: string | null;
  port: number | null;
  startedAt: IsoDate | null;
  restarts: number;
  lastExit: SlotExit | null;
}

/** `GET /apps/:app/slots`: a slot with its release, its last exits and the process. */
export interface SlotDetail {
  color: SlotColor;
  port: number | null;
  state: SlotState;
  release: Release | null;
  startedAt: IsoDate | null;
  /** The last exits of the slot's process (newest last), kept when it crash-loops. */
  exits: SlotExit[] | null;
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
  /** Runs in the new release before it starts (migrations); a Procfile `release:` line fills it. */
  releaseCommand: string | null;
  healthPath: string;
  healthTimeoutSec: number;
  buildTimeoutSec: number;
  healthIntervalMs: number;
  healthSuccesses: number;
  drainSeconds: number;
  watchSeconds: number;
  /** The watch rolls back when the new slot's 5xx share exceeds the old one's by more than this (0–1). */
  watchErrorRate: number;
  /** …or when its p95 latency is more than this many times the old slot's; null: latency is not judged. */
  watchLatencyFactor: number | null;
  standbyTimeoutMin: number;
  autoDeploy: boolean;
  memoryMax: string | null;
  cpuQuota: string | null;
  /** Extra host names nginx routes to the live slot (each one's settings: `/apps/:app/domains`). */
  domains: string[];
  /**
   * Directories of the app (relative paths like `data`) kept across deploys in
   * `$DATA_DIR/apps/<app>/volumes/<name>/`, shared by both slots (usage: `/apps/:app/volumes`).
   */
  volumes: AppVolume[];
  /** The app's directory in the repository (a monorepo's package), like `apps/web`; null: the root. */
  rootDir: string | null;
  /** A static site's output directory, relative to rootDir (`dist`); null: detected. */
  outputDir: string | null;
  /** A static site answers every path with no file of its own with index.html (client-side routes). */
  spaFallback: boolean;
  /** null: from package.json's `packageManager`, else the lock file. */
  packageManager: PackageManager | null;
  /** A version or range (`1.2`, `^1.1.30`); null: `.bun-version`, else the panel's own Bun. */
  bunVersion: string | null;
  /** A version or range (`22`, `>=20`); null: `.nvmrc`, `.node-version`, `engines.node`, else the machine's node. */
  nodeVersion: string | null;
  /** systemd IOWeight= (1-10000) of the app's processes in server mode; null: systemd's default (100). */
  ioWeight: number | null;
}

export interface AppVolume {
  path: string;
}

/** `GET /apps/:app/volumes`: each volume with its directory and what it holds. */
export interface VolumeUsage {
  /** null: taken out of the settings; its data stays on disk until purged. */
  path: string | null;
  name: string;
  dir: string;
  exists: boolean;
  bytes: number;
  files: number;
  /** The count stopped early (very many files): bytes and files are at least this. */
  truncated: boolean;
}

export interface App extends AppSettings {
  id: string;
  name: string;
  status: AppStatus;
  liveColor: SlotColor | null;
  currentRelease: Release | null;
  slots: SlotSummary[];
  /** "owner/name" when created from GitHub; its webhook deploys every push. */
  githubRepo: string | null;
  webhook: { hookId: number | null; active: boolean } | null;
  /**
   * Where people reach the app: its first domain on https when a valid certificate covers it,
   * else its first domain on http, else `http://<app>.localhost:<proxy port>`.
   */
  url: string;
  createdAt: IsoDate;
  updatedAt: IsoDate;
}

export interface CreateAppInput extends Partial<AppSettings> {
  name: string;
  /** Any git URL; or, instead, a GitHub repository of the connected account. */
  repoUrl?: string;
  github?: { owner: string; repo: string };
  deploy?: boolean;
}

/** An app's last release-command run: a deploy's step or a release-command job's, whichever is newer. */
export interface ReleaseCommandRun {
  status: JobStatus;
  jobId: string;
  at: IsoDate;
  /** The step's log lines (secrets masked), the last 200. */
  output: string[];
}

/** `GET /apps/:app/release-command`: the command a run again would use, and the last run. */
export interface ReleaseCommandInfo {
  command: string | null;
  lastRun: ReleaseCommandRun | null;
}

// --- Jobs -----------------------------------------------------------------------------------------

export interface Job {
  id: string;
  kind: JobKind;
  appId: string | null;
  status: JobStatus;
  params: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: string | null;
  trigger: string;
  createdAt: IsoDate;
  startedAt: IsoDate | null;
  finishedAt: IsoDate | null;
  durationMs: number | null;
}

export interface JobStep {
  name: string;
  status: StepStatus;
  message: string | null;
  startedAt: IsoDate | null;
  finishedAt: IsoDate | null;
  durationMs: number | null;
}

/** `GET /jobs/:id`. */
export interface JobDetail {
  job: Job;
  steps: JobStep[];
}

export interface LogLine {
  seq: number;
  step: string | null;
  stream: "stdout" | "stderr" | "system";
  line: string;
  at: IsoDate;
}

/** `GET /jobs/:id/logs?tail=N` or `?before=<seq>&limit=N`: a page of the log, in seq order. */
export interface JobLogPage {
  job: Job;
  lines: LogLine[];
  /** The seq of the page's last line (follow with `after`). */
  next: number;
  /** The job is over and the page reaches its last line (tail pages only). */
  done: boolean;
  /** Older lines exist before the page's first line. */
  more: boolean;
}

// --- Environment ----------------------------------------------------------------------------------

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

// --- Errors ---------------------------------------------------------------------------------------

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

// --- GitHub ---------------------------------------------------------------------------------------

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
  pushedAt: IsoDate | null;
}

export interface GitHubRepoPage {
  repos: GitHubRepo[];
  page: number;
  total: number;
  nextPage: number | null;
}

export interface GitHubBranches {
  defaultBranch: string;
  branches: Array<{ name: string; sha: string }>;
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
  receivedAt: IsoDate;
}

export interface WebhookHealth {
  repo: string | null;
  autoDeploy: boolean;
  hookId: number | null;
  hook: { id: number; url: string; events: string[]; active: boolean } | null;
  problem: string | null;
  lastDelivery: WebhookDelivery | null;
}

// --- Self-update ----------------------------------------------------------------------------------

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
  installedAt: IsoDate;
  current: boolean;
}

export interface SelfUpdateResult {
  from?: string;
  to?: string;
  /** The new version failed its health check or its first minute, and the previous one took over again. */
  reverted?: boolean;
  reason?: string;
}

/** `GET /system/update`: what runs, what could run next, and what can be gone back to. */
export interface SelfUpdate {
  /** False where the panel cannot replace itself (e.g. local mode); `reason` says why. */
  supported: boolean;
  reason: string | null;
  current: { version: string; revision: string | null; slot: SlotColor | null; startedAt: IsoDate };
  source: { url: string; branch: string } | null;
  /** Commits newer than the running one, newest first: the changelog. */
  available: UpdateCommit[];
  kept: KeptVersion[];
  /** The latest self-update job. */
  job: Job | null;
  /** When the source was last fetched. */
  checkedAt: IsoDate;
  /** Why the source could not be checked; everything else is still valid. */
  error: string | null;
}

// ── Observability ─────────────────────────────────────────────────────────────────────────────

export const METRIC_STEPS = ["1m", "5m", "15m", "1h", "6h", "1d"] as const;
export type MetricStep = (typeof METRIC_STEPS)[number];

export interface StatusCounts {
  "2xx": number;
  "3xx": number;
  "4xx": number;
  "5xx": number;
}

/** One step of an app's series: requests through nginx and its slots' resources. */
export interface AppMetricPoint {
  /** Start of the step. */
  t: IsoDate;
  requests: number;
  status: StatusCounts;
  /** Upstream time percentiles in ms; null when no request was timed in the step. */
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  bytesIn: number;
  bytesOut: number;
  /** Both slots together: CPU in cores (1 = one core busy), memory in bytes; null without samples. */
  cpu: number | null;
  memory: number | null;
  /** Per slot, for the CPU and memory charts. */
  slots: Partial<Record<SlotColor, { cpu: number | null; memory: number | null; restarts: number }>>;
}

/** A release while it took the app's traffic (to: null while it still does). */
export interface ReleasePeriod {
  id: string;
  number: number;
  from: IsoDate;
  to: IsoDate | null;
}

/** Something that moved traffic, for the chart's time axis. */
export interface TrafficMarker {
  at: IsoDate;
  kind: "deploy" | "rollback" | "auto-rollback" | "restart" | "stop";
  color: SlotColor | null;
  releaseId: string | null;
  releaseNumber: number | null;
  jobId: string | null;
}

/** A release's traffic over the range, and around each switch that made it live. */
export interface ReleaseMetrics {
  id: string;
  number: number;
  requests: number;
  errorRate: number;
  p95: number | null;
  /** For each switch to this release in the range: the same window before and after it. */
  switches: Array<{
    at: IsoDate;
    kind: TrafficMarker["kind"];
    windowSeconds: number;
    before: { requests: number; errorRate: number; p95: number | null };
    after: { requests: number; errorRate: number; p95: number | null };
  }>;
}

export interface AppMetrics {
  from: IsoDate;
  to: IsoDate;
  step: MetricStep;
  series: AppMetricPoint[];
  releases: ReleasePeriod[];
  markers: TrafficMarker[];
  perRelease: ReleaseMetrics[];
  totals: { requests: number; errorRate: number; p95: number | null; bytesOut: number };
}

/** A day of an app (UTC): what users got and what changed. */
export interface DailySummary {
  day: string;
  requests: number;
  errorRate: number;
  p95: number | null;
  /** Share of the day's samples in which a live slot was up (null without samples). */
  uptime: number | null;
  deploys: number;
  rollbacks: number;
}

export interface SystemMetricPoint {
  t: IsoDate;
  /** Busy share of all cores, 0–1. */
  cpu: number | null;
  load1: number | null;
  memoryUsed: number | null;
  memoryTotal: number | null;
  swapUsed: number | null;
  swapTotal: number | null;
  /** Bytes per second over the step. */
  netRx: number | null;
  netTx: number | null;
  /** PSI "some" avg10, in %. */
  pressure: { cpu: number | null; memory: number | null; io: number | null };
  disks: Array<{ mount: string; used: number; size: number }>;
}

export interface DiskUse {
  app: string;
  releases: number;
  logs: number;
  buildCache: number;
  total: number;
}

export interface SystemMetrics {
  from: IsoDate;
  to: IsoDate;
  step: MetricStep;
  series: SystemMetricPoint[];
  /** The newest sample (every 10 s), null until the first one. */
  now: SystemMetricPoint | null;
  cores: number;
  disk: { apps: DiskUse[]; database: number | null; databaseKind: "pglite" | "postgres" };
}

/** One app on the dashboard: its status, and requests over the last 24 h for the sparkline. */
export interface AppOverview {
  app: string;
  status: AppStatus;
  /** Requests per hour, oldest first (24 points). */
  requests: number[];
  errorRate: number;
  p95: number | null;
}

export interface DashboardMetrics {
  apps: AppOverview[];
  system: SystemMetricPoint | null;
  cores: number;
}

export const DIAGNOSTIC_CHECKS = ["nginx", "database", "disk", "certbot", "helper", "memory", "ingestion"] as const;

export interface Diagnostic {
  check: string;
  status: "ok" | "warning" | "error" | "skipped";
  /** What is true now, in a sentence. */
  summary: string;
  /** How to fix it, when it is not ok. */
  fix: string | null;
}

export interface Diagnostics {
  checkedAt: IsoDate;
  checks: Diagnostic[];
}

export const LOG_STREAMS = ["stdout", "stderr", "system"] as const;
export type RuntimeLogStream = (typeof LOG_STREAMS)[number];

/** One line an app's slot printed (secrets masked). `id` is a cursor: pass it as `after`/Last-Event-ID. */
export interface RuntimeLogLine {
  id: string;
  at: IsoDate;
  slot: SlotColor;
  releaseId: string | null;
  stream: RuntimeLogStream;
  /** Which process printed it: `web` (the web's only instance), or `<type>.<instance>` (`web.2`, `worker.1`); `<type>` alone for a worker supervisor's own notes. */
  process?: string;
  text: string;
}

export interface RuntimeLogPage {
  lines: RuntimeLogLine[];
  /** Pass as `before` for older lines; null at the start. */
  before: string | null;
  /** True when there may be more lines older than these in the range. */
  more: boolean;
}

/** Every retention setting the panel keeps (`GET/PUT /api/v1/settings/retention`), in days unless said. */
export interface RetentionSettings {
  jobDays: number;
  jobsPerApp: number;
  deliveryDays: number;
  auditDays: number;
  minuteDays: number;
  hourDays: number;
  dayDays: number;
  logDays: number;
  /** Runtime logs per app, in MB. */
  logMaxMb: number;
}

// ── Databases ─────────────────────────────────────────────────────────────────────────────────

export const DATABASE_ENGINES = ["postgres", "redis"] as const;
export type DatabaseEngine = (typeof DATABASE_ENGINES)[number];
export const DATABASE_STATUSES = ["provisioning", "ready", "failed", "deleting"] as const;
export type DatabaseStatus = (typeof DATABASE_STATUSES)[number];
export const DESTINATION_KINDS = ["local", "s3"] as const;
export type DestinationKind = (typeof DESTINATION_KINDS)[number];
export const BACKUP_KINDS = ["manual", "scheduled", "safety", "final"] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];
export const BACKUP_STATUSES = ["running", "succeeded", "failed"] as const;
export type BackupStatus = (typeof BACKUP_STATUSES)[number];
export const VERIFY_STATUSES = ["pending", "verified", "failed"] as const;
export type VerifyStatus = (typeof VERIFY_STATUSES)[number];

export interface Backup {
  id: string;
  databaseId: string | null;
  databaseName: string;
  engine: DatabaseEngine | "panel" | "volume";
  kind: BackupKind;
  status: BackupStatus;
  verified: VerifyStatus;
  /** True only for a backup that finished and whose restore matched the source. */
  good: boolean;
  error: string | null;
  destination: { id: string; name: string; kind: DestinationKind } | null;
  location: string | null;
  sizeBytes: number | null;
  sha256: string | null;
  durationMs: number | null;
  verifyMs: number | null;
  details: Record<string, unknown> | null;
  jobId: string | null;
  startedAt: IsoDate;
  finishedAt: IsoDate | null;
}

export interface DatabaseAttachment {
  app: string;
  appId: string;
  envVar: string;
  /** The app's last release-command run, when it has a release command. */
  releaseCommand: { status: JobStatus; jobId: string; at: IsoDate; output: string[] } | null;
}

export interface DatabaseSummary {
  id: string;
  name: string;
  engine: DatabaseEngine;
  status: DatabaseStatus;
  sizeBytes: number | null;
  connections: number | null;
  polledAt: IsoDate | null;
  attachments: DatabaseAttachment[];
  lastBackup: Backup | null;
  schedule: { cron: string | null; keep: number; keepDays: number; destinationId: string | null; next: IsoDate | null };
  /** A password rotation not finished yet (the old password still valid), else null. */
  rotation: DatabaseRotation | null;
  createdAt: IsoDate;
}

export const ROTATION_STATES = ["rotating", "waiting-for-deploys", "finishing", "needs-attention"] as const;
export type RotationState = (typeof ROTATION_STATES)[number];

/**
 * rotating: the db-rotate job runs; waiting-for-deploys: the attached apps' deploys are queued or
 * running; finishing: the old password is being dropped; needs-attention: a deploy failed or was
 * cancelled (or the job ended early), so the old password stays valid. A later successful deploy
 * of each listed app finishes it; a new rotation supersedes it.
 */
export interface DatabaseRotation {
  state: RotationState;
  /** The db-rotate job. */
  jobId: string;
  startedAt: IsoDate;
  apps: Array<{
    app: string;
    appId: string;
    deployJobId: string | null;
    status: "waiting" | "deployed" | "detached" | "failed";
    reason: string | null;
  }>;
  /** Why it needs attention, when it does. */
  reason: string | null;
}

export interface DatabaseCredentials {
  url: string;
  host: string;
  port: number;
  user: string | null;
  password: string;
  database: string | null;
  /** A ready command line: psql "<url>" or redis-cli -u <url>. */
  cli: string;
}

export interface BackupDestination {
  id: string;
  name: string;
  kind: DestinationKind;
  /** local: {path}; s3: {endpoint, bucket, prefix, region}; the keys are never returned. */
  config: Record<string, string>;
  createdAt: IsoDate;
}

/** Whether this panel can provision each engine here, and how to enable one that it cannot. */
export interface EngineAvailability {
  engine: DatabaseEngine;
  available: boolean;
  reason: string | null;
}

// ── Domains and certificates ──────────────────────────────────────────────────────────────────

export const CANONICAL_HOSTS = ["none", "www", "apex"] as const;
/** none: the name answers as itself; www: it redirects to `www.<name>`; apex: `www.x` redirects to `x`. */
export type CanonicalHost = (typeof CANONICAL_HOSTS)[number];

export const CERTIFICATE_MODES = ["http-01", "dns-01", "custom"] as const;
export type CertificateMode = (typeof CERTIFICATE_MODES)[number];

/** What is stored; the API adds "expiring" (valid, under 21 days left). */
export const CERTIFICATE_STATES = ["pending", "valid", "failed"] as const;
export const CERTIFICATE_STATUSES = ["pending", "valid", "expiring", "failed"] as const;
export type CertificateStatus = (typeof CERTIFICATE_STATUSES)[number];
/** A valid certificate with fewer days left than this is "expiring". */
export const CERTIFICATE_EXPIRING_DAYS = 21;
/** The daily renewal renews a certificate with fewer days left than this. */
export const CERTIFICATE_RENEW_DAYS = 30;

export const DNS_PROVIDER_KINDS = ["rfc2136", "cloudflare", "hook"] as const;
export type DnsProviderKind = (typeof DNS_PROVIDER_KINDS)[number];

export interface DnsRecord {
  type: "A" | "AAAA" | "CNAME" | "TXT";
  name: string;
  value: string;
}

export interface DomainDnsCheck {
  /** The name resolves (directly or through a CNAME) to this server's addresses, and only to them. */
  ok: boolean;
  /** What the resolver answered for the name. */
  records: DnsRecord[];
  /** The records to create so that it points here. */
  expected: DnsRecord[];
  /** The optional ownership record and whether the resolver answers it. */
  ownership: { record: DnsRecord; verified: boolean };
  /** In words, why it is not ok (null when ok). */
  problem: string | null;
  checkedAt: IsoDate | null;
}

export interface CertificateBrief {
  id: string;
  name: string;
  status: CertificateStatus;
  issuer: string | null;
  notAfter: IsoDate | null;
  error: string | null;
}

export interface Certificate extends CertificateBrief {
  names: string[];
  mode: CertificateMode;
  provider: { id: string; name: string } | null;
  notBefore: IsoDate | null;
  /** Whole days until notAfter (negative once expired); null while none was issued. */
  daysLeft: number | null;
  autoRenew: boolean;
  issuedAt: IsoDate | null;
  /** The apps' domains it covers. */
  domains: { app: string; name: string }[];
  /** The issuing or renewing job, while one is queued or running. */
  job: { id: string; status: JobStatus } | null;
  updatedAt: IsoDate;
}

export interface AppDomain {
  name: string;
  /** `*.example.com`: every subdomain not claimed by another app. Needs a DNS-01 certificate. */
  wildcard: boolean;
  dns: DomainDnsCheck;
  /** The certificate that covers the name (its own, or a wildcard's); null: none yet. */
  certificate: CertificateBrief | null;
  /** http → https once a valid certificate covers the name. */
  redirect: boolean;
  hsts: boolean;
  canonical: CanonicalHost;
  /** Where it is reached now (https when a valid certificate covers it). */
  url: string;
  createdAt: IsoDate;
}

export interface AddDomainInput {
  name: string;
  redirect?: boolean;
  hsts?: boolean;
  canonical?: CanonicalHost;
}

export type UpdateDomainInput = Partial<Omit<AddDomainInput, "name">>;

export interface IssueCertificateInput {
  mode: CertificateMode;
  /** dns-01: the DNS provider's id or name. */
  provider?: string;
  /** custom: the certificate (PEM, leaf first, chain after) and its unencrypted private key. */
  cert?: string;
  key?: string;
  /** http-01/dns-01: issue again even when the current one is far from expiry. */
  force?: boolean;
}

export interface DnsProvider {
  id: string;
  name: string;
  kind: DnsProviderKind;
  /** The non-secret part of the configuration (server, key name, zone). */
  summary: Record<string, string>;
  createdAt: IsoDate;
}

export type CreateDnsProviderInput =
  | {
      name: string;
      kind: "rfc2136";
      config: { server: string; port?: number; keyName: string; keyAlgorithm?: string; keySecret: string; zone?: string };
    }
  | { name: string; kind: "cloudflare"; config: { apiToken: string } }
  | {
      name: string;
      kind: "hook";
      /**
       * Shell commands run (as the panel's user) with CERTBOT_DOMAIN and CERTBOT_VALIDATION in the
       * environment: the first sets `_acme-challenge.<domain>` TXT to the validation, the second removes it.
       */
      config: { authCommand: string; cleanupCommand?: string; propagationSeconds?: number };
    };

/** `GET/PUT /api/v1/settings/network`: the addresses a domain must point at. */
export interface NetworkSettings {
  /** Set by a user; empty: the detected ones are used. */
  publicAddresses: string[];
  /** This server's public addresses, as found on its interfaces. */
  detected: string[];
  /** What DNS checks compare with. */
  effective: string[];
  /** Where apps are served on http and https (the proxy's ports). */
  httpPort: number;
  httpsPort: number;
}

// ── Notifications and alerts ──────────────────────────────────────────────────────────────────

export const CHANNEL_KINDS = ["email", "slack", "discord", "telegram", "ntfy", "webhook"] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

/** What can be routed to a channel. A channel with `events: null` receives all of them. */
export const NOTIFICATION_EVENTS = [
  "deploy.succeeded",
  "deploy.failed",
  "rollback.automatic",
  "app.crashed",
  "app.crash-looping",
  "slot.down",
  "certificate.issued",
  "certificate.expiring",
  "certificate.failed",
  "backup.failed",
  "backup.verify-failed",
  "panel.updated",
  "panel.reverted",
  "signin.new-address",
  "two-factor.disabled",
  "alert.firing",
  "alert.resolved",
  "test",
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export const NOTIFICATION_SEVERITIES = ["info", "success", "warning", "critical"] as const;
export type NotificationSeverity = (typeof NOTIFICATION_SEVERITIES)[number];

/** One message, before it is formatted for a channel (Slack blocks, Discord embed, Telegram HTML, email). */
export interface NotificationMessage {
  event: NotificationEvent;
  severity: NotificationSeverity;
  /** One line: "Deploy of shop failed at build". */
  title: string;
  /** A few sentences, plain text. */
  text: string;
  app: string | null;
  release: { id: string; number: number; commitSha: string | null } | null;
  /** Labelled facts (step, exit code, 5xx rate, threshold…). */
  fields: { label: string; value: string }[];
  /** Preformatted lines (the last log lines of a failed step). */
  lines: string[];
  /** The panel page it is about (absolute URL). */
  url: string | null;
  at: IsoDate;
}

export const DELIVERY_STATUSES = ["pending", "sending", "sent", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface DeliveryAttempt {
  at: IsoDate;
  ms: number;
  /** The receiver's HTTP status or SMTP reply code; null when none answered. */
  status: number | null;
  error: string | null;
}

export interface NotificationChannel {
  id: string;
  name: string;
  kind: ChannelKind;
  /** The non-secret configuration; secret fields are present with the value "••••" when set. */
  config: Record<string, unknown>;
  events: NotificationEvent[] | null;
  apps: string[] | null;
  enabled: boolean;
  health: {
    state: "ok" | "failing" | "unknown";
    consecutiveFailures: number;
    lastError: string | null;
    lastFailureAt: IsoDate | null;
    lastSuccessAt: IsoDate | null;
  };
  createdAt: IsoDate;
  updatedAt: IsoDate;
}

export interface CreateChannelInput {
  kind: ChannelKind;
  name: string;
  config: Record<string, unknown>;
  events?: NotificationEvent[] | null;
  /** App names; null or absent: every app. */
  apps?: string[] | null;
  enabled?: boolean;
}

export type UpdateChannelInput = Partial<Omit<CreateChannelInput, "kind">>;

export interface NotificationDelivery {
  id: number;
  channel: { id: string; name: string; kind: ChannelKind };
  event: NotificationEvent;
  app: string | null;
  title: string;
  status: DeliveryStatus;
  attempts: number;
  log: DeliveryAttempt[];
  nextAttemptAt: IsoDate | null;
  lastError: string | null;
  createdAt: IsoDate;
  sentAt: IsoDate | null;
}

export const ALERT_METRICS = [
  "http_5xx_rate",
  "http_p95_ms",
  "memory_percent",
  "cpu_percent",
  "disk_percent",
  "psi_memory_some",
  "psi_cpu_some",
] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

export const ALERT_OPERATORS = [">", "<"] as const;
export type AlertOperator = (typeof ALERT_OPERATORS)[number];

export const ALERT_STATES = ["firing", "resolved"] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export interface AlertRule {
  id: string;
  name: string;
  metric: AlertMetric;
  operator: AlertOperator;
  threshold: number;
  windowSeconds: number;
  /** null: the server (server metrics) or every app (app metrics). */
  app: string | null;
  minIntervalSeconds: number;
  enabled: boolean;
  builtIn: boolean;
  createdAt: IsoDate;
  updatedAt: IsoDate;
}

export interface CreateAlertRuleInput {
  name: string;
  metric: AlertMetric;
  operator?: AlertOperator;
  threshold: number;
  windowSeconds: number;
  app?: string | null;
  minIntervalSeconds?: number;
  enabled?: boolean;
}

export interface Alert {
  id: string;
  rule: { id: string; name: string; metric: AlertMetric; operator: AlertOperator; windowSeconds: number };
  app: string | null;
  state: AlertState;
  value: number;
  lastValue: number;
  threshold: number;
  startedAt: IsoDate;
  resolvedAt: IsoDate | null;
  acked: { at: IsoDate; by: string | null } | null;
  snoozedUntil: IsoDate | null;
}

// --- Detection preview (GET /detect) ----------------------------------------------------------

export const PACKAGE_MANAGERS = ["npm", "pnpm", "yarn", "bun"] as const;
export type PackageManager = (typeof PACKAGE_MANAGERS)[number];

export const FRAMEWORK_IDS = [
  "next",
  "sveltekit",
  "astro",
  "nuxt",
  "react-router",
  "hono",
  "elysia",
  "express",
  "fastify",
  "vite",
] as const;
export type FrameworkId = (typeof FRAMEWORK_IDS)[number];

/** What a repository would deploy as, before an app is created from it. */
export interface ProjectPreview {
  runtime: Runtime | null;
  /** From package.json's `packageManager` field, else the lock file (`source` says which). */
  packageManager: { name: PackageManager; source: string } | null;
  /** Best-effort, from package.json's dependencies (`dependency` is the one that told). */
  framework: { id: FrameworkId; name: string; dependency: string } | null;
  /** Shell text, as the app's settings take it. */
  installCommand: string | null;
  buildCommand: string | null;
  startCommand: string | null;
  releaseCommand: string | null;
  /** The directory a static site is served from, relative to the repository. */
  outputDir: string | null;
  /** Every process type of the Procfile: `others` are the ones besides web and release. */
  procfile: { web: string | null; release: string | null; others: string[] } | null;
  /** How the app gets its port: `variable` is null when it runs no server of its own. */
  port: { variable: "PORT" | null; description: string };
  /** The deploy's detection, one decision a line. */
  notes: string[];
  /** Why a deploy would stop at its detect step (set a start command, say), or null. */
  problem: string | null;
  /** The app's directory in the repository (the rootDir setting); null: the root. */
  rootDir: string | null;
  /** Bun and Node as the app asks for them (a deploy installs the newest matching version); null: the default. */
  versions: { bun: RuntimeVersionRequest | null; node: RuntimeVersionRequest | null };
  /** Procfile process types besides web and release, with their commands (each runs as its own process). */
  processes: Record<string, string>;
}

/** A runtime version range and where it was read (`.nvmrc`, `engines.node in package.json`, the app's settings). */
export interface RuntimeVersionRequest {
  range: string;
  source: string;
  /** The exact version a deploy now would install (the newest published match); null when the registry did not say. */
  version?: string | null;
}

/** What a release records of its runtimes (`release.details.versions`): exact versions and where they are. */
export interface ReleaseVersions {
  bun: string | null;
  node: string | null;
  /** Directories put first on PATH of every process of the release. */
  binDirs: string[];
}

export interface DetectPreview extends ProjectPreview {
  repoUrl: string;
  branch: string;
  commit: { sha: string; message: string; author: string };
}

// --- Processes, instances and formation (GET /apps/:app/processes, PUT /apps/:app/formation) ---------------

/** A process type: `web` or a Procfile line's name (lowercase letters, digits, `-` and `_`). */
export const PROCESS_TYPE_PATTERN = /^[a-z][a-z0-9_-]{0,29}$/;
export const MAX_INSTANCES = 32;

export type ProcessInstanceState = "starting" | "running" | "restarting" | "stopped" | "crashed";

export interface ProcessInstance {
  /** 1-based. */
  index: number;
  state: ProcessInstanceState;
  pid: number | null;
  /** web only: the port the instance listens on. */
  port: number | null;
  restarts: number;
  startedAt: IsoDate | null;
  lastExit: SlotExit | null;
  /** From /proc (local) or the unit's cgroup (server); null when not running or unreadable. */
  cpuPercent: number | null;
  rssBytes: number | null;
}

export interface AppProcess {
  type: string;
  /** What it runs (shell text), from the live release; null when no release declares it any more. */
  command: string | null;
  /** The formation's count. */
  instances: number;
  /** Stopped by hand; stays stopped across deploys until started. */
  stopped: boolean;
  /** The slot it runs in (web: the live slot; workers run from the live release). */
  color: SlotColor | null;
  releaseId: string | null;
  running: number;
  units: ProcessInstance[];
}

/** Resource limits of the app's processes and whether this mode applies them. */
export interface ResourceLimits {
  memoryMax: string | null;
  cpuQuota: string | null;
  ioWeight: number | null;
  /** Server mode applies them through systemd; local mode cannot. */
  applied: boolean;
  /** In words, each limit this mode does not apply and why (empty when all are applied). */
  notApplied: string[];
}

export interface ProcessesResponse {
  processes: AppProcess[];
  limits: ResourceLimits;
}

/** `PUT /apps/:app/formation`: instance counts by process type, e.g. `{ web: 2, worker: 1 }`. */
export type FormationInput = Record<string, number>;

// --- Cron jobs (GET/POST /apps/:app/cron, PATCH/DELETE /apps/:app/cron/:id, POST …/run) ------------------

export const CRON_OVERLAP_POLICIES = ["skip", "queue"] as const;
export type CronOverlapPolicy = (typeof CRON_OVERLAP_POLICIES)[number];
export const CRON_RUN_TRIGGERS = ["schedule", "manual"] as const;
export type CronRunTrigger = (typeof CRON_RUN_TRIGGERS)[number];
export const CRON_RUN_STATUSES = ["queued", "running", "succeeded", "failed", "timed_out", "skipped", "cancelled"] as const;
export type CronRunStatus = (typeof CRON_RUN_STATUSES)[number];

export interface CronRun {
  id: string;
  cronJobId: string;
  trigger: CronRunTrigger;
  status: CronRunStatus;
  releaseId: string | null;
  exitCode: number | null;
  dueAt: IsoDate;
  startedAt: IsoDate | null;
  finishedAt: IsoDate | null;
  durationMs: number | null;
  message: string | null;
  /** Only in `GET /apps/:app/cron/:id/runs/:runId`: the output's last lines, masked. */
  output?: string[];
}

export interface CronJob {
  id: string;
  name: string;
  schedule: string;
  timezone: string;
  command: string;
  overlap: CronOverlapPolicy;
  timeoutSec: number;
  enabled: boolean;
  /** The next time it is due; null when disabled or the app has no live release. */
  nextRunAt: IsoDate | null;
  lastRun: CronRun | null;
  createdAt: IsoDate;
  updatedAt: IsoDate;
}

export interface CronJobInput {
  name: string;
  schedule: string;
  command: string;
  timezone?: string;
  overlap?: CronOverlapPolicy;
  timeoutSec?: number;
  enabled?: boolean;
}

// --- Builds (GET/PUT /settings/builds) ----------------------------------------------------------------

export interface BuildSettings {
  /** Builds (fetch to release) that may run at once on this server. */
  concurrency: number;
  /** A build's memory ceiling in MiB (a systemd scope's MemoryMax= on a server, a watched RSS locally). */
  memoryMaxMb: number;
}

/** An app's volume backup schedule and retention (`GET|PUT /apps/:app/volume-backups/schedule`); every volume of the app. */
export interface VolumeBackupSchedule {
  /** Cron expression (UTC); null: on demand only, the default. */
  cron: string | null;
  /** Good backups kept per volume (the newest is never removed). */
  keep: number;
  /** Good backups older than this are removed (failed ones once past it). */
  keepDays: number;
  /** Where scheduled, manual and safety backups go; null: the data dir's backups directory. */
  destinationId: string | null;
  next: IsoDate | null;
}
