/** An app's processes: their instances and usage, the formation (instance counts) and per-process actions. */
import { api, type RequestOptions } from "./client.ts";
import type { FormationInput, Job, ProcessesResponse } from "./types.ts";

const appPath = (app: string) => `/apps/${encodeURIComponent(app)}`;
const processPath = (app: string, type: string) => `${appPath(app)}/processes/${encodeURIComponent(type)}`;

export function getProcesses(app: string, options?: RequestOptions): Promise<ProcessesResponse> {
  return api.get<ProcessesResponse>(`${appPath(app)}/processes`, options);
}

/** The processes after a change, and the job applying it (null when nothing had to run: no live release). */
export type ProcessesChange = ProcessesResponse & { job: Job | null };

/** New instance counts: web changes restart the live release blue-green, worker changes apply in place. */
export function putFormation(app: string, formation: FormationInput): Promise<ProcessesChange> {
  return api.put<ProcessesChange>(`${appPath(app)}/formation`, formation);
}

export type ProcessAction = "restart" | "stop" | "start";

/** Restarts every instance of a process type (web: zero downtime), or stops or starts a worker type. */
export async function processAction(app: string, type: string, action: ProcessAction): Promise<Job | null> {
  return (await api.post<{ job: Job | null }>(`${processPath(app, type)}/${action}`, {})).job ?? null;
}
