#!/usr/bin/env bun
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { generatePassword, hashPassword } from "./auth/passwords.ts";
import { invalidateUserSessions } from "./auth/sessions.ts";
import { buildServerInclude } from "./commands/nginx.ts";
import { ConfigError, loadConfig, VERSION } from "./config.ts";
import { recordAudit } from "./db/queries/audit.ts";
import { findUserByEmail, setPassword } from "./db/queries/users.ts";
import { DEFAULT_GUI_DIR, openPanelDatabase, startPanel } from "./main.ts";

const USAGE = `switchyard ${VERSION}

Usage: bun backend/cli.ts <command>

Commands:
  start                          run the panel (builds the GUI first when it is missing or stale)
  migrate                        apply database migrations and exit
  reset-password EMAIL [--password P]
                                 set a new password (generated and printed when not given)
                                 and sign the user out everywhere
  nginx-server-config [--domain D] [--port P]
                                 print the nginx file the server installer puts in
                                 /etc/nginx/conf.d/switchyard.conf
  version                        print the version
`;

class CliError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case "start":
      return start();
    case "migrate":
      return migrate();
    case "reset-password":
      return resetPassword(args);
    case "nginx-server-config":
      return nginxServerConfig(args);
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
  const option = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? (args[i + 1] ?? null) : null;
  };
  const port = Number(option("--port") ?? 3000);
  try {
    process.stdout.write(
      buildServerInclude({
        panelPort: port,
        confDir: "/etc/nginx/conf.d/switchyard",
        domain: option("--domain"),
        acmeWebroot: "/var/lib/switchyard/acme",
      }),
    );
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

async function migrate(): Promise<void> {
  const database = await openPanelDatabase(loadConfig());
  try {
    await database.migrate();
    console.log(`Migrations applied (${database.kind}).`);
  } finally {
    await database.close();
  }
}

async function resetPassword(args: string[]): Promise<void> {
  const email = args[0];
  if (!email || email.startsWith("-")) throw new CliError("usage: reset-password EMAIL [--password P]");
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
    await setPassword(database.db, user.id, await hashPassword(password));
    await invalidateUserSessions(database.db, user.id);
    await recordAudit(database.db, { auth: null, actor: "cli", action: "user.password_reset", target: `user:${user.id}` });
    console.log(given ? `Password for ${user.email} changed.` : `New password for ${user.email}: ${password}`);
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
  if (error instanceof CliError || error instanceof ConfigError) {
    console.error(`switchyard: ${error.message}`);
    process.exit(error instanceof ConfigError ? 78 : 2);
  }
  console.error(error);
  process.exit(1);
});
