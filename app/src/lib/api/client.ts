/**
 * The one typed REST client for the Switchyard API. Every request goes through `request()`,
 * which speaks JSON, sends the session cookie (same-origin) and turns every failure — an error
 * response, a non-JSON answer, a dropped connection, a timeout — into an `ApiError`.
 */
import type {
  AccountSession,
  ApiErrorBody,
  ApiToken,
  App,
  AppSettings,
  AuditEntry,
  ChangePasswordInput,
  ChangePasswordResult,
  CreateAppInput,
  CreatedToken,
  DetectPreview,
  EnvSaveResult,
  EnvVar,
  EnvVarInput,
  GitHubBranches,
  GitHubRepoPage,
  GitHubStatus,
  Health,
  Job,
  JobDetail,
  JobLogPage,
  LoginInput,
  Release,
  ReleaseCommandInfo,
  Role,
  RuntimeLogPage,
  RuntimeLogStream,
  SecuritySettings,
  SelfUpdate,
  SessionsResponse,
  SetupInput,
  SetupStatus,
  SignedOutResponse,
  SlotColor,
  SlotDetail,
  TwoFactorEnabled,
  TwoFactorProof,
  TwoFactorSetup,
  TwoFactorStatus,
  User,
  UserResponse,
  ValidationIssue,
  WebhookDelivery,
  WebhookHealth,
} from "./types.ts";

export const API_BASE = "/api/v1";
const TIMEOUT_MS = 30_000;

export class ApiError extends Error {
  override name = "ApiError";
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** Seconds to wait before retrying, from `Retry-After` or `details.retryAfter`. */
  readonly retryAfter: number | null;
  readonly requestId: string | null;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { details?: unknown; retryAfter?: number | null; requestId?: string | null } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.retryAfter = options.retryAfter ?? null;
    this.requestId = options.requestId ?? null;
  }

  /** The field-level problems of a `validation_failed` error. */
  get issues(): ValidationIssue[] {
    const issues = (this.details as { issues?: unknown } | undefined)?.issues;
    if (!Array.isArray(issues)) return [];
    return issues.filter(
      (i): i is ValidationIssue => typeof i === "object" && i !== null && typeof i.path === "string" && typeof i.message === "string",
    );
  }

  /** `{ field: "message" }` for inline form errors; the first message per field wins. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const issue of this.issues) {
      const field = issue.path.split(".")[0] ?? issue.path;
      out[field] ??= sentence(issue.message);
    }
    return out;
  }

  get isNetwork(): boolean {
    return this.code === "network_error" || this.code === "timeout";
  }
}

/** "must be at least 10 characters" → "Must be at least 10 characters." */
function sentence(message: string): string {
  const trimmed = message.trim();
  if (!trimmed) return "This value is not valid.";
  const capital = trimmed[0]?.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function isErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const error = (value as { error: unknown }).error;
  return typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string";
}

function parseRetryAfter(header: string | null, details: unknown): number | null {
  const fromDetails = (details as { retryAfter?: unknown } | undefined)?.retryAfter;
  if (typeof fromDetails === "number" && Number.isFinite(fromDetails)) return Math.max(0, Math.ceil(fromDetails));
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function fallbackMessage(status: number): { code: string; message: string } {
  if (status === 401) return { code: "unauthenticated", message: "Sign in to continue." };
  if (status === 403) return { code: "forbidden", message: "You do not have permission to do that." };
  if (status === 404) return { code: "not_found", message: "That was not found on the server." };
  if (status === 429) return { code: "rate_limited", message: "Too many requests. Wait a moment and try again." };
  if (status === 502 || status === 503 || status === 504) {
    return {
      code: "server_unavailable",
      message: `The Switchyard server is not responding (HTTP ${status}). It may be restarting; try again in a moment.`,
    };
  }
  if (status >= 500) return { code: "internal_error", message: `The server ran into a problem (HTTP ${status}). Try again.` };
  return { code: "http_error", message: `The request failed (HTTP ${status}).` };
}

export interface RequestOptions {
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** For the few calls that do slow work on the server (a clone); 30 seconds otherwise. */
  timeoutMs?: number;
}

async function request<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  if (body !== undefined) headers["content-type"] = "application/json";

  const timeout = AbortSignal.timeout(options.timeoutMs ?? TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;

  let response: Response;
  try {
    response = await fetch(`${API_BASE}${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error; // the caller cancelled: not an error to report
    if (timeout.aborted) {
      throw new ApiError(0, "timeout", "The server took too long to answer. Check that Switchyard is running, then try again.");
    }
    const offline = typeof navigator !== "undefined" && navigator.onLine === false;
    throw new ApiError(
      0,
      "network_error",
      offline
        ? "You appear to be offline. Reconnect to the network and try again."
        : "Can't reach the Switchyard server. Check that it is running and reachable, then try again.",
    );
  }

  const requestId = response.headers.get("x-request-id");
  if (response.status === 204 || response.status === 205) return undefined as T;

  const text = await response.text().catch(() => "");
  let data: unknown;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }

  if (!response.ok) {
    if (isErrorBody(data)) {
      const { code, message, details } = data.error;
      throw new ApiError(response.status, code, message || fallbackMessage(response.status).message, {
        details,
        retryAfter: parseRetryAfter(response.headers.get("retry-after"), details),
        requestId,
      });
    }
    const fallback = fallbackMessage(response.status);
    throw new ApiError(response.status, fallback.code, fallback.message, {
      retryAfter: parseRetryAfter(response.headers.get("retry-after"), undefined),
      requestId,
    });
  }

  if (data === undefined && text) {
    throw new ApiError(response.status, "invalid_response", "The server sent a response that is not JSON. Is a proxy in the way?", {
      requestId,
    });
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, options?: RequestOptions) => request<T>("GET", path, undefined, options),
  post: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>("POST", path, body ?? {}, options),
  put: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>("PUT", path, body ?? {}, options),
  patch: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>("PATCH", path, body ?? {}, options),
  delete: <T>(path: string, body?: unknown, options?: RequestOptions) => request<T>("DELETE", path, body, options),
};

// --- Endpoints --------------------------------------------------------------------------------

export function health(options?: RequestOptions): Promise<Health> {
  return api.get<Health>("/health", options);
}

export function setupStatus(options?: RequestOptions): Promise<SetupStatus> {
  return api.get<SetupStatus>("/setup", options);
}

export async function setup(input: SetupInput): Promise<User> {
  return (await api.post<UserResponse>("/setup", input)).user;
}

export async function login(input: LoginInput): Promise<User> {
  return (await api.post<UserResponse>("/auth/login", input)).user;
}

export async function logout(): Promise<void> {
  await api.post<void>("/auth/logout");
}

/** The signed-in user, or `null` when the session is missing or expired (401). */
export async function me(options?: RequestOptions): Promise<User | null> {
  try {
    return (await api.get<UserResponse>("/auth/me", options)).user;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export interface DetectQuery {
  repoUrl: string;
  branch: string;
  /** A monorepo's package: detection reads that directory. */
  rootDir?: string;
}

/** What a deploy of the branch would detect (the server clones it shallowly, so it may take a while). */
export function detectRepository(query: DetectQuery, options?: RequestOptions): Promise<DetectPreview> {
  return api.get<DetectPreview>(`/detect?${new URLSearchParams({ ...query })}`, { timeoutMs: 120_000, ...options });
}

/** Every app; an empty list while the server does not serve `/apps` yet (404). */
export async function listApps(options?: RequestOptions): Promise<App[]> {
  try {
    const body = await api.get<{ apps?: App[] }>("/apps", options);
    return Array.isArray(body?.apps) ? body.apps : [];
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return [];
    throw error;
  }
}

export async function getApp(name: string, options?: RequestOptions): Promise<App> {
  return (await api.get<{ app: App }>(`/apps/${encodeURIComponent(name)}`, options)).app;
}

const appPath = (name: string) => `/apps/${encodeURIComponent(name)}`;

export function createApp(input: CreateAppInput): Promise<{ app: App; job: Job | null }> {
  return api.post<{ app: App; job: Job | null }>("/apps", input);
}

/** The app as saved, and the job that applies a change outside the database (new host names), if any. */
export function updateApp(name: string, patch: Partial<AppSettings>): Promise<{ app: App; job: Job | null }> {
  return api.patch<{ app: App; job: Job | null }>(appPath(name), patch);
}

export async function deleteApp(name: string): Promise<void> {
  await api.delete<void>(appPath(name), { confirm: name });
}

export async function deployApp(name: string, ref?: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${appPath(name)}/deploy`, ref ? { ref } : {})).job;
}

export async function rollbackApp(name: string, releaseId: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${appPath(name)}/rollback`, { releaseId })).job;
}

/** Boots the live release again blue-green (after a stop, the last live release). */
export async function restartApp(name: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${appPath(name)}/restart`, {})).job;
}

/** The app's release command and its last run (a deploy's step or a run again). */
export function getReleaseCommand(name: string, options?: RequestOptions): Promise<ReleaseCommandInfo> {
  return api.get<ReleaseCommandInfo>(`${appPath(name)}/release-command`, options);
}

/** Runs the live release's release command again, as a job. */
export async function runReleaseCommand(name: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${appPath(name)}/release-command`, {})).job;
}

/** Stops both slots; the app stays set up. */
export async function stopApp(name: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${appPath(name)}/stop`, {})).job;
}

/** Starts a stopped app again from the release that was live last. */
export async function startApp(name: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`${appPath(name)}/start`, {})).job;
}

export async function listReleases(name: string, options?: RequestOptions): Promise<Release[]> {
  return (await api.get<{ releases: Release[] }>(`${appPath(name)}/releases`, options)).releases ?? [];
}

export async function listSlots(name: string, options?: RequestOptions): Promise<SlotDetail[]> {
  return (await api.get<{ slots: SlotDetail[] }>(`${appPath(name)}/slots`, options)).slots ?? [];
}

export async function slotLogs(name: string, color: SlotColor, lines = 500, options?: RequestOptions): Promise<string[]> {
  return (await api.get<{ lines: string[] }>(`${appPath(name)}/slots/${color}/logs?lines=${lines}`, options)).lines ?? [];
}

/** Filters of an app's runtime logs (`GET /apps/:app/logs`); empty values are left out. */
export interface RuntimeLogQuery {
  q?: string;
  regex?: boolean;
  slot?: SlotColor | null;
  release?: string | null;
  stream?: RuntimeLogStream | null;
  from?: string | null;
  to?: string | null;
  before?: string | null;
  after?: string | null;
  limit?: number;
  download?: boolean;
}

/** The logs URL (API-relative) for a query: pages, the live tail (SSE) and downloads share it. */
export function runtimeLogsPath(name: string, query: RuntimeLogQuery = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    params.set(key, value === true ? "1" : String(value));
  }
  const search = params.toString();
  return `${appPath(name)}/logs${search ? `?${search}` : ""}`;
}

/** A page of an app's runtime output, newest lines last; `before` pages back. */
export function runtimeLogs(name: string, query: RuntimeLogQuery = {}, options?: RequestOptions): Promise<RuntimeLogPage> {
  return api.get<RuntimeLogPage>(runtimeLogsPath(name, query), options);
}

export async function listAppJobs(name: string, limit = 30, options?: RequestOptions): Promise<Job[]> {
  return (await api.get<{ jobs: Job[] }>(`${appPath(name)}/jobs?limit=${limit}`, options)).jobs ?? [];
}

export async function getEnv(name: string, options?: RequestOptions): Promise<EnvVar[]> {
  return (await api.get<{ vars: EnvVar[] }>(`${appPath(name)}/env`, options)).vars ?? [];
}

export function putEnv(name: string, vars: EnvVarInput[]): Promise<EnvSaveResult> {
  return api.put<EnvSaveResult>(`${appPath(name)}/env`, { vars });
}

export async function listJobs(limit = 50, options?: RequestOptions): Promise<Job[]> {
  return (await api.get<{ jobs: Job[] }>(`/jobs?limit=${limit}`, options)).jobs ?? [];
}

export function getJob(id: string, options?: RequestOptions): Promise<JobDetail> {
  return api.get<JobDetail>(`/jobs/${encodeURIComponent(id)}`, options);
}

/** A page of a job's log in seq order: the newest `limit` lines, or those before the line `before`. */
export function jobLogPage(id: string, query: { before?: number; limit: number }, options?: RequestOptions): Promise<JobLogPage> {
  const params = query.before === undefined ? `tail=${query.limit}` : `before=${query.before}&limit=${query.limit}`;
  return api.get<JobLogPage>(`/jobs/${encodeURIComponent(id)}/logs?${params}`, options);
}

export async function cancelJob(id: string): Promise<Job> {
  return (await api.post<{ job: Job }>(`/jobs/${encodeURIComponent(id)}/cancel`)).job;
}

export async function listTokens(options?: RequestOptions): Promise<ApiToken[]> {
  return (await api.get<{ tokens: ApiToken[] }>("/tokens", options)).tokens ?? [];
}

export function createToken(name: string, expiresInDays?: number): Promise<CreatedToken> {
  return api.post<CreatedToken>("/tokens", expiresInDays ? { name, expiresInDays } : { name });
}

export async function revokeToken(id: string): Promise<void> {
  await api.delete<void>(`/tokens/${encodeURIComponent(id)}`);
}

export async function listUsers(options?: RequestOptions): Promise<User[]> {
  return (await api.get<{ users: User[] }>("/users", options)).users ?? [];
}

export async function createUser(input: { email: string; name: string; password: string; role: Role }): Promise<User> {
  return (await api.post<UserResponse>("/users", input)).user;
}

export async function updateUser(id: string, patch: { role?: Role; name?: string; password?: string }): Promise<User> {
  return (await api.patch<UserResponse>(`/users/${encodeURIComponent(id)}`, patch)).user;
}

export async function deleteUser(id: string): Promise<void> {
  await api.delete<void>(`/users/${encodeURIComponent(id)}`);
}

/** Filters of the activity feed: an app's name, an action or its kind (`app`), a user's id. */
export interface AuditFilter {
  app?: string | null;
  action?: string | null;
  user?: string | null;
}

export async function listAudit(before?: number, limit = 50, options?: RequestOptions, filter: AuditFilter = {}): Promise<AuditEntry[]> {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before) query.set("before", String(before));
  for (const key of ["app", "action", "user"] as const) {
    const value = filter[key];
    if (value) query.set(key, value);
  }
  return (await api.get<{ entries: AuditEntry[] }>(`/audit?${query}`, options)).entries ?? [];
}

// --- Your account ----------------------------------------------------------------------------

/** Changes the signed-in user's password; this session stays signed in. */
export function changePassword(input: ChangePasswordInput): Promise<ChangePasswordResult> {
  return api.post<ChangePasswordResult>("/auth/password", input);
}

export async function listSessions(options?: RequestOptions): Promise<AccountSession[]> {
  return (await api.get<SessionsResponse>("/auth/sessions", options)).sessions ?? [];
}

export async function endSession(id: string): Promise<void> {
  await api.delete<SignedOutResponse>(`/auth/sessions/${encodeURIComponent(id)}`);
}

/** Signs out every other session of the user; returns how many there were. */
export async function endOtherSessions(): Promise<number> {
  return (await api.delete<SignedOutResponse>("/auth/sessions")).signedOut;
}

// --- Two-factor sign-in ---------------------------------------------------------------------

export function twoFactorStatus(options?: RequestOptions): Promise<TwoFactorStatus> {
  return api.get<TwoFactorStatus>("/auth/2fa", options);
}

/** A new key for the authenticator app, pending until `enableTwoFactor` confirms it with a first code. */
export function setupTwoFactor(password: string): Promise<TwoFactorSetup> {
  return api.post<TwoFactorSetup>("/auth/2fa/setup", { password });
}

/** Turns two-factor sign-in on; the answer carries the recovery codes, shown this once. */
export function enableTwoFactor(code: string): Promise<TwoFactorEnabled> {
  return api.post<TwoFactorEnabled>("/auth/2fa/enable", { code });
}

export function disableTwoFactor(proof: TwoFactorProof): Promise<TwoFactorStatus> {
  return api.post<TwoFactorStatus>("/auth/2fa/disable", proof);
}

/** A new set of recovery codes; the old ones stop working. */
export function regenerateRecoveryCodes(proof: TwoFactorProof): Promise<TwoFactorEnabled> {
  return api.post<TwoFactorEnabled>("/auth/2fa/recovery-codes", proof);
}

export function securitySettings(options?: RequestOptions): Promise<SecuritySettings> {
  return api.get<SecuritySettings>("/settings/security", options);
}

export function setSecuritySettings(settings: SecuritySettings): Promise<SecuritySettings> {
  return api.put<SecuritySettings>("/settings/security", settings);
}

// --- GitHub ----------------------------------------------------------------------------------

/** Where the browser goes to sign in with GitHub, or to connect it to the signed-in account. */
export function githubStartUrl(intent: "signin" | "connect"): string {
  return `${API_BASE}/auth/github/start?intent=${intent}`;
}

export function githubStatus(options?: RequestOptions): Promise<GitHubStatus> {
  return api.get<GitHubStatus>("/github/status", options);
}

export async function setGithubSignup(allowSignup: boolean): Promise<void> {
  await api.put<void>("/github/settings", { allowSignup });
}

export async function disconnectGithub(): Promise<void> {
  await api.delete<void>("/github/connection");
}

export function githubRepos(q: string, page: number, options?: RequestOptions): Promise<GitHubRepoPage> {
  const query = new URLSearchParams({ page: String(page) });
  if (q) query.set("q", q);
  return api.get<GitHubRepoPage>(`/github/repos?${query}`, options);
}

export function githubBranches(owner: string, repo: string, options?: RequestOptions): Promise<GitHubBranches> {
  return api.get(`/github/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/branches`, options);
}

export function webhookHealth(name: string, options?: RequestOptions): Promise<WebhookHealth> {
  return api.get<WebhookHealth>(`${appPath(name)}/webhook`, options);
}

export async function listDeliveries(name: string, options?: RequestOptions): Promise<WebhookDelivery[]> {
  return (await api.get<{ deliveries: WebhookDelivery[] }>(`${appPath(name)}/deliveries`, options)).deliveries ?? [];
}

export async function redeliver(id: string): Promise<WebhookDelivery> {
  return (await api.post<{ delivery: WebhookDelivery }>(`/webhooks/deliveries/${encodeURIComponent(id)}/redeliver`)).delivery;
}

// --- Self-update -----------------------------------------------------------------------------

/**
 * The running panel version, newer commits of its source and the kept versions (owner only).
 * `refresh` asks the server to fetch the source now rather than answer from its recent check.
 */
export async function getUpdate(options?: RequestOptions & { refresh?: boolean }): Promise<SelfUpdate> {
  return (await api.get<{ update: SelfUpdate }>(`/system/update${options?.refresh ? "?refresh=1" : ""}`, options)).update;
}

/** Starts a self-update to `revision` (a newer commit, or a kept version to go back to); the newest without one. */
export async function startUpdate(revision?: string): Promise<Job> {
  return (await api.post<{ job: Job }>("/system/update", revision ? { revision } : {})).job;
}
