/** An app's cron jobs: the list, add/edit/remove, Run now, and each job's run history. */
import { api, type RequestOptions } from "./client.ts";
import type { CronJob, CronJobInput, CronRun } from "./types.ts";

const cronPath = (app: string) => `/apps/${encodeURIComponent(app)}/cron`;

export async function listCronJobs(app: string, options?: RequestOptions): Promise<CronJob[]> {
  return (await api.get<{ cronJobs: CronJob[] }>(cronPath(app), options)).cronJobs ?? [];
}

export async function createCronJob(app: string, input: CronJobInput): Promise<CronJob> {
  return (await api.post<{ cronJob: CronJob }>(cronPath(app), input)).cronJob;
}

export async function updateCronJob(app: string, id: string, changes: Partial<CronJobInput>): Promise<CronJob> {
  return (await api.patch<{ cronJob: CronJob }>(`${cronPath(app)}/${id}`, changes)).cronJob;
}

export async function deleteCronJob(app: string, id: string): Promise<void> {
  await api.delete(`${cronPath(app)}/${id}`);
}

/** Runs the job now in the live release, whatever its schedule (also when disabled). */
export async function runCronJob(app: string, id: string): Promise<CronRun> {
  return (await api.post<{ run: CronRun }>(`${cronPath(app)}/${id}/run`, {})).run;
}

/** Newest first; `before` is the previous page's `nextBefore`. */
export async function listCronRuns(
  app: string,
  id: string,
  before?: string | null,
): Promise<{ runs: CronRun[]; nextBefore: string | null }> {
  const query = before ? `?before=${encodeURIComponent(before)}` : "";
  return api.get<{ runs: CronRun[]; nextBefore: string | null }>(`${cronPath(app)}/${id}/runs${query}`);
}

/** One run with its output (masked, the last 64 KiB). */
export async function getCronRun(app: string, id: string, runId: string): Promise<CronRun> {
  return (await api.get<{ run: CronRun }>(`${cronPath(app)}/${id}/runs/${runId}`)).run;
}
