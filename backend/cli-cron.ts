/**
 * `switchyard cron …`: the running panel's cron API with an API token (SWITCHYARD_TOKEN), as any
 * client would.
 */
import { type Api, api, CliFailure } from "./cli-databases.ts";
import { option, usageCheck } from "./cli-domains.ts";
import type { Config } from "./config.ts";
import type { CronJob, CronRun } from "./contract/api.ts";

export const CRON_USAGE = `  cron list APP                  the app's cron jobs: schedule, next run, last run
  cron add APP NAME SCHEDULE COMMAND [--timezone TZ] [--overlap skip|queue] [--timeout SECONDS] [--disabled]
                                 add a cron job (SCHEDULE and COMMAND quoted, e.g. "0 3 * * *")
  cron run APP JOB               run a job now (JOB: its name or id), wait for it and print its output
  cron runs APP JOB              the job's latest runs
  cron remove APP JOB            remove a job and its history
`;

const path = (app: string, rest = "") => `/api/v1/apps/${encodeURIComponent(app)}/cron${rest}`;

function runLine(r: CronRun): string {
  const exit = r.exitCode === null ? "" : ` exit ${r.exitCode}`;
  const took = r.durationMs === null ? "" : ` ${r.durationMs} ms`;
  return `${(r.startedAt ?? r.dueAt).slice(0, 19)}Z  ${r.status.padEnd(9)} ${r.trigger.padEnd(8)}${exit}${took}${r.message ? `  ${r.message}` : ""}`;
}

async function findJob(client: Api, app: string, which: string): Promise<CronJob> {
  const { cronJobs } = await client.call<{ cronJobs: CronJob[] }>("GET", path(app));
  const found = cronJobs.filter((j) => j.id === which || j.name === which);
  if (found.length === 0) throw new CliFailure(`${app} has no cron job ${which}`);
  if (found.length > 1) throw new CliFailure(`${app} has several cron jobs named ${which}: give its id`);
  return found[0] as CronJob;
}

export async function cronCommand(config: Config, args: string[], env = process.env): Promise<void> {
  const [sub, app, ...rest] = args;
  const client = api(config, env);
  const need = usageCheck("cron");
  switch (sub) {
    case "list": {
      need("list APP", app);
      const { cronJobs } = await client.call<{ cronJobs: CronJob[] }>("GET", path(app as string));
      if (cronJobs.length === 0) console.log(`${app} has no cron jobs.`);
      for (const j of cronJobs) {
        console.log(`${j.name}  (${j.id})`);
        console.log(`  ${j.schedule} ${j.timezone}  $ ${j.command}`);
        const next = !j.enabled ? "disabled" : j.nextRunAt ? `next ${j.nextRunAt}` : "not scheduled (nothing live)";
        console.log(`  ${next}; overlap ${j.overlap}; timeout ${j.timeoutSec} s; last run: ${j.lastRun ? runLine(j.lastRun) : "never"}`);
      }
      return;
    }
    case "add": {
      const [name, schedule, command, ...flags] = rest;
      need(
        "add APP NAME SCHEDULE COMMAND [--timezone TZ] [--overlap skip|queue] [--timeout SECONDS] [--disabled]",
        app,
        name,
        schedule,
        command,
      );
      const timezone = option(flags, "--timezone");
      const overlap = option(flags, "--overlap");
      const timeout = option(flags, "--timeout");
      const { cronJob } = await client.call<{ cronJob: CronJob }>("POST", path(app as string), {
        name,
        schedule,
        command,
        ...(timezone ? { timezone } : {}),
        ...(overlap ? { overlap } : {}),
        ...(timeout ? { timeoutSec: Number(timeout) } : {}),
        ...(flags.includes("--disabled") ? { enabled: false } : {}),
      });
      console.log(`Added ${cronJob.name} (${cronJob.id}); ${cronJob.nextRunAt ? `next run ${cronJob.nextRunAt}` : "not scheduled now"}.`);
      return;
    }
    case "run": {
      need("run APP JOB", app, rest[0]);
      const job = await findJob(client, app as string, rest[0] as string);
      let { run } = await client.call<{ run: CronRun }>("POST", path(app as string, `/${job.id}/run`), {});
      console.log(`Running ${job.name} (run ${run.id})…`);
      while (run.status === "queued" || run.status === "running") {
        await Bun.sleep(500);
        ({ run } = await client.call<{ run: CronRun }>("GET", path(app as string, `/${job.id}/runs/${run.id}`)));
      }
      for (const line of run.output ?? []) console.log(line);
      console.log(runLine(run));
      if (run.status !== "succeeded") throw new CliFailure(`${job.name} ${run.status.replace("_", " ")}`);
      return;
    }
    case "runs": {
      need("runs APP JOB", app, rest[0]);
      const job = await findJob(client, app as string, rest[0] as string);
      const { runs } = await client.call<{ runs: CronRun[] }>("GET", path(app as string, `/${job.id}/runs?limit=20`));
      if (runs.length === 0) console.log(`${job.name} has not run yet.`);
      for (const r of runs) console.log(runLine(r));
      return;
    }
    case "remove": {
      need("remove APP JOB", app, rest[0]);
      const job = await findJob(client, app as string, rest[0] as string);
      await client.call("DELETE", path(app as string, `/${job.id}`));
      console.log(`Removed ${job.name} from ${app}.`);
      return;
    }
    default:
      throw new CliFailure(`unknown cron command '${sub ?? ""}'\n\n${CRON_USAGE}`);
  }
}
