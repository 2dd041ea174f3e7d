#!/usr/bin/env bun
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { and, asc, eq, gt } from "drizzle-orm";
import { createPanelHost } from "./adapters/panel.ts";
import { stopPrivateNginx } from "./adapters/proxy/index.ts";
import { createProcessRuntime } from "./adapters/runtime/process.ts";
import { generatePassword, hashPassword } from "./auth/passwords.ts";
import { readSetupCode } from "./auth/setup-code.ts";
import { clearTwoFactor } from "./auth/totp.ts";
import { CRON_USAGE, cronCommand } from "./cli-cron.ts";
import { backupPanelCommand, CliFailure, DB_USAGE, dbCommand, restorePanelCommand } from "./cli-databases.ts";
import { certificatesCommand, DOMAINS_USAGE, domainsCommand } from "./cli-domains.ts";
import { PROCESSES_USAGE, processesCommand } from "./cli-processes.ts";
import { serverConfig } from "./commands/nginx-server-config.ts";
import { ConfigError, loadConfig, VERSION } from "./config.ts";
import { recordAudit } from "./db/queries/audit.ts";
import { findUserByEmail, resetPassword as resetUserPassword } from "./db/queries/users.ts";
import { jobLogs, jobs } from "./db/schema/index.ts";
import { REVISION_PATTERN } from "./domain/panel-update.ts";
import { activeUpdate, gitMessage, planUpdate, UpdateRefused } from "./jobs/kinds/self-update.ts";
import { createServices, DEFAULT_GUI_DIR, openPanelDatabase, startPanel } from "./main.ts";

const USAGE = `switchyard ${VERSION}

Usage: bun backend/cli.ts <command>

Commands:
  start                          run the panel (builds the GUI first when it is missing or stale)
  stop                           stop what the panel leaves running (local mode): every
                                 app slot and the panel's nginx of the data dir
  migrate                        apply database migrations and exit
  reset-password EMAIL [--password P] [--clear-2fa]
                                 set a new password (generated and printed when not given)
                                 and sign the user out everywhere: sessions and API tokens;
                                 --clear-2fa also turns off two-factor sign-in (a lost phone)
  setup-code                     print the one-time code that first-run setup (/setup) asks
                                 for, or say that setup is done
  nginx-server-config [--domain D [--tls]] [--socket PATH]
                                 print the nginx file the server installer puts in
                                 /etc/nginx/conf.d/switchyard.conf (--tls: the panel on
                                 https with the domain's Let's Encrypt certificate)
  self-update [--to REVISION] [--check]
                                 update the installed panel blue-green (server mode): the live
                                 panel runs the job; this prints its log until it ends.
                                 --check only lists what is available; --to a kept or newer
                                 revision (a kept one is a rollback)
${DB_USAGE}${DOMAINS_USAGE}${PROCESSES_USAGE}${CRON_USAGE}  version                        print the version
`;

class CliError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case "start":
      return start();
    case "stop":
      return stopAll();
    case "migrate":
      return migrate();
    case "reset-password":
      return resetPassword(args);
    case "setup-code":
      return setupCode();
    case "nginx-server-config":
      return nginxServerConfig(args);
    case "self-update":
      return selfUpdate(args);
    case "db":
      return dbCommand(loadConfig(), args);
    case "domains":
      return domainsCommand(loadConfig(), args);
    case "certificates":
      return certificatesCommand(loadConfig());
    case "cron":
      return cronCommand(loadConfig(), args);
    case "ps":
    case "scale":
    case "apps":
      return processesCommand(loadConfig(), command, args);
    case "backup-panel":
      return backupPanelCommand(loadConfig());
    case "restore-panel":
      return restorePanelCommand(loadConfig(), args[0]);
    case "version":
    case "--version":
      console.log(VERSION);
      return;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return;
    default:
      throw new CliError(`unknown command '${command}'\n\n${USAGE}`);
  }
}

function nginxServerConfig(args: string[]): void {
  try {
    process.stdout.write(serverConfig(args));
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

async function start(): Promise<void> {
  const config = loadConfig();
  if (process.env.SWITCHYARD_SKIP_GUI_BUILD !== "1") await ensureGuiBuilt();
  const panel = await startPanel(config);
  console.log(`Switchyard ${VERSION} is running at ${panel.url} (${panel.services.database.kind})`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      panel.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

/**
 * Local mode: apps and the private nginx outlive the panel by design (a restart keeps them
 * serving); this is how they are stopped for good.
 */
async function stopAll(): Promise<void> {
  const config = loadConfig();
  if (config.mode === "server")
    throw new CliError("on a server systemd runs the apps and nginx: stop the panel with `systemctl stop 'switchyard@*'`");
  const runtime = createProcessRuntime({ dataDir: config.dataDir });
  let stopped = 0;
  for (const slot of await runtime.list()) {
    // Every slot, whatever its state says: a supervisor waiting to restart a crashed app is alive too.
    await runtime.stop(slot.app, slot.color);
    if (slot.status.state === "running" || slot.status.state === "restarting") {
      console.log(`Stopped ${slot.app} (${slot.color} slot).`);
      stopped++;
    }
  }
  const nginx = await stopPrivateNginx(config.dataDir);
  console.log(
    `${stopped === 0 ? "No app was running" : `${stopped} app slot${stopped === 1 ? "" : "s"} stopped`}; ${nginx ? "nginx stopped" : "nginx was not running"} (${config.dataDir}).`,
  );
}

async function selfUpdate(args: string[]): Promise<void> {
  const config = loadConfig();
  const host = createPanelHost(config);
  if (config.mode !== "server") throw new CliError("self-update works on a server installed with install.sh (SWITCHYARD_MODE=server)");
  const to = args.includes("--to") ? args[args.indexOf("--to") + 1] : undefined;
  if (args.includes("--to") && (!to || !REVISION_PATTERN.test(to))) throw new CliError("--to needs a revision (7 to 40 hex characters)");
  const live = host.liveSlot();
  const running = live ? host.slotRevision(live) : null;
  console.log(
    `Running: Switchyard ${running ?? "(unknown revision)"} in the ${live ?? "?"} slot; source ${config.panel.updateSource ?? "(none)"} (${config.panel.updateBranch})`,
  );
  if (config.panel.updateSource) {
    let commits: Awaited<ReturnType<typeof host.changelog>>;
    try {
      await host.fetchSource();
      commits = await host.changelog(running);
    } catch (error) {
      throw new CliError(`the update source could not be read: ${gitMessage(error)}`);
    }
    if (commits.length === 0) console.log("No newer version.");
    for (const commit of commits)
      console.log(
        `  ${commit.revision}  ${commit.date.slice(0, 10)}  ${commit.subject}${commit.tags.length ? ` (${commit.tags.join(", ")})` : ""}`,
      );
    const kept = host.releases().filter((r) => r.revision !== running);
    if (kept.length) console.log(`Kept for a rollback: ${kept.map((r) => r.revision).join(", ")}`);
    if (args.includes("--check")) return;
    if (!to && commits.length === 0) return;
  } else if (!to) {
    throw new CliError("no update source is configured (SWITCHYARD_UPDATE_SOURCE)");
  }
  const database = await openPanelDatabase(config);
  try {
    const busy = await activeUpdate(database.db);
    if (busy) throw new CliError(`an update is already under way (job ${busy.id})`);
    let plan: { revision: string; rollback: boolean };
    try {
      plan = await planUpdate(host, config, to ?? null, running);
    } catch (error) {
      if (error instanceof UpdateRefused) throw new CliError(error.message);
      throw error;
    }
    const services = createServices(config, database);
    const job = await services.orchestrator.enqueue({
      kind: "self-update",
      appId: null,
      params: { ...plan, from: running },
      trigger: "cli",
    });
    console.log(`Update job ${job.id} queued; the live panel runs it.`);
    let seq = 0;
    for (;;) {
      const lines = await database.db
        .select()
        .from(jobLogs)
        .where(and(eq(jobLogs.jobId, job.id), gt(jobLogs.seq, seq)))
        .orderBy(asc(jobLogs.seq));
      for (const line of lines) {
        console.log(line.line);
        seq = line.seq;
      }
      const [now] = await database.db.select().from(jobs).where(eq(jobs.id, job.id));
      if (now && !["queued", "running"].includes(now.status) && lines.length === 0) {
        if (now.status !== "succeeded") throw new CliError(now.error ?? `the update ${now.status}`);
        console.log("Updated.");
        return;
      }
      await Bun.sleep(500);
    }
  } finally {
    await database.close();
  }
}

async function migrate(): Promise<void> {
  const database = await openPanelDatabase(loadConfig());
  try {
    await database.migrate();
    console.log(`Migrations applied (${database.kind}).`);
  } finally {
    await database.close();
  }
}

/**
 * Reads only the file the panel keeps: the embedded database may be open in the running panel,
 * and a second process must not open it.
 */
function setupCode(): void {
  const config = loadConfig();
  const code = readSetupCode(config.dataDir);
  if (code) {
    console.log(`Setup code: ${code}\nOpen ${config.publicUrl.origin}/setup and enter it to create the owner account.`);
    return;
  }
  console.log(
    `Switchyard is already set up: the owner account exists, so there is no setup code in ${config.dataDir}. (A panel that has never started has none yet: it makes one when it starts.)`,
  );
}

async function resetPassword(args: string[]): Promise<void> {
  const email = args[0];
  if (!email || email.startsWith("-")) throw new CliError("usage: reset-password EMAIL [--password P] [--clear-2fa]");
  const clear2fa = args.includes("--clear-2fa");
  const flag = args.indexOf("--password");
  const given = flag >= 0 ? args[flag + 1] : undefined;
  if (flag >= 0 && !given) throw new CliError("--password needs a value");
  if (given !== undefined && given.length < 10) throw new CliError("the password must be at least 10 characters");
  const password = given ?? generatePassword();
  const database = await openPanelDatabase(loadConfig());
  try {
    await database.migrate();
    const user = await findUserByEmail(database.db, email);
    if (!user) throw new CliError(`no user with email ${email}`);
    await resetUserPassword(database.db, user.id, await hashPassword(password));
    await recordAudit(database.db, { auth: null, actor: "cli", action: "user.password_reset", target: `user:${user.id}` });
    if (clear2fa) {
      await clearTwoFactor(database.db, user.id);
      await recordAudit(database.db, { auth: null, actor: "cli", action: "auth.2fa_disabled", target: `user:${user.id}` });
    }
    console.log(given ? `Password for ${user.email} changed.` : `New password for ${user.email}: ${password}`);
    if (clear2fa) console.log(`Two-factor sign-in for ${user.email} is off; they can turn it on again under Account.`);
  } finally {
    await database.close();
  }
}

/** Builds the GUI when app/build is missing or older than any of its sources. */
async function ensureGuiBuilt(): Promise<void> {
  const appDir = join(import.meta.dir, "..", "app");
  if (!existsSync(join(appDir, "package.json")) && !existsSync(join(appDir, "svelte.config.js"))) return;
  const built = join(DEFAULT_GUI_DIR, "index.html");
  const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
  const sources = [join(appDir, "src"), join(appDir, "static"), join(appDir, "svelte.config.js"), join(appDir, "vite.config.ts")];
  if (builtAt > 0 && newestMtime(sources) <= builtAt) return;
  console.log("Building the GUI…");
  const proc = Bun.spawn([process.execPath, "--bun", "vite", "build", "--logLevel", "warn"], {
    cwd: appDir,
    stdout: "inherit",
    stderr: "inherit",
    env: { ...process.env, NODE_ENV: "production" },
  });
  if ((await proc.exited) !== 0) throw new CliError("the GUI build failed (see above)");
}

function newestMtime(paths: string[]): number {
  let newest = 0;
  const walk = (path: string) => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const path of paths) walk(path);
  return newest;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof CliError || error instanceof CliFailure || error instanceof ConfigError) {
    console.error(`switchyard: ${error.message}`);
    process.exit(error instanceof ConfigError ? 78 : 2);
  }
  console.error(error);
  process.exit(1);
});
