/**
 * `switchyard ps`, `switchyard scale` and `switchyard apps start|stop|restart`: the running panel's
 * processes API with an API token (SWITCHYARD_TOKEN), as any client would. Changes are jobs; their
 * log is printed until they end.
 */
import { api, CliFailure, follow, type JobJson } from "./cli-databases.ts";
import type { Config } from "./config.ts";
import type { AppProcess, ProcessesResponse } from "./contract/api.ts";

export const PROCESSES_USAGE = `  ps APP                         the app's processes: each type's instances with state,
                                 pid, port, CPU and memory, and its resource limits
  scale APP TYPE=N [TYPE=N …]    set instance counts (e.g. web=2 worker=1); web changes
                                 restart blue-green, worker changes apply in place
  apps start|stop|restart APP [TYPE]
                                 start (the last live release), stop (web and workers) or
                                 restart (blue-green) the app; with TYPE, that process type:
                                 restart any, stop or start a worker
  (ps, scale and apps reach the panel as db does: SWITCHYARD_URL and SWITCHYARD_TOKEN)
`;

const appPath = (app: string) => `/api/v1/apps/${encodeURIComponent(app)}`;

function mib(bytes: number | null): string {
  return bytes === null ? "-" : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function printProcess(p: AppProcess): void {
  const state = p.stopped ? "stopped by hand" : `${p.running}/${p.instances} running`;
  console.log(`${p.type}: ${state}${p.command ? `  (${p.command})` : ""}`);
  for (const u of p.units) {
    const port = u.port === null ? "" : ` port ${u.port}`;
    const cpu = u.cpuPercent === null ? "-" : `${u.cpuPercent}%`;
    console.log(
      `  ${p.type}.${u.index}  ${u.state}  pid ${u.pid ?? "-"}${port}  cpu ${cpu}  mem ${mib(u.rssBytes)}  restarts ${u.restarts}`,
    );
  }
}

/** `web=2` → ["web", 2]; anything else is refused here, before the panel sees it. */
export function parseScaleArgs(args: string[]): Record<string, number> {
  if (args.length === 0) throw new CliFailure("usage: switchyard scale APP TYPE=N [TYPE=N …]");
  const counts: Record<string, number> = {};
  for (const arg of args) {
    const m = /^([^=\s]+)=(\d+)$/.exec(arg);
    if (!m) throw new CliFailure(`'${arg}' is not TYPE=N (e.g. web=2)`);
    counts[m[1] as string] = Number(m[2]);
  }
  return counts;
}

export async function processesCommand(config: Config, command: string, args: string[], env = process.env): Promise<void> {
  const client = api(config, env);
  const [app, ...rest] = args;
  if (command === "ps") {
    if (!app) throw new CliFailure("usage: switchyard ps APP");
    const report = await client.call<ProcessesResponse>("GET", `${appPath(app)}/processes`);
    for (const p of report.processes) printProcess(p);
    const l = report.limits;
    console.log(`limits: memory ${l.memoryMax ?? "none"}, CPU ${l.cpuQuota ?? "none"}, I/O weight ${l.ioWeight ?? "default"}`);
    for (const line of l.notApplied) console.log(`  ${line}`);
    return;
  }
  if (command === "scale") {
    if (!app) throw new CliFailure("usage: switchyard scale APP TYPE=N [TYPE=N …]");
    const res = await client.call<{ job: JobJson | null }>("PUT", `${appPath(app)}/formation`, parseScaleArgs(rest));
    if (res.job) await follow(client, res.job);
    else console.log("Saved; it applies when the app next starts.");
    return;
  }
  const [action, name, type] = args;
  if (command !== "apps" || !name || (action !== "start" && action !== "stop" && action !== "restart")) {
    throw new CliFailure("usage: switchyard apps start|stop|restart APP [TYPE]");
  }
  const path = type ? `${appPath(name)}/processes/${encodeURIComponent(type)}/${action}` : `${appPath(name)}/${action}`;
  const res = await client.call<{ job: JobJson | null }>("POST", path);
  if (res.job) await follow(client, res.job);
  else console.log(`${type ?? name}: saved; it applies when the app next starts.`);
}
