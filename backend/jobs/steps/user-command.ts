import { appUserFor } from "../../adapters/app-user.ts";
import { run } from "../../adapters/exec.ts";
import { confineDataDir, handToOwner } from "../../adapters/release-store.ts";
import { type JobContext, JobFailed } from "../orchestrator.ts";
import { toolsPath } from "../tools.ts";
import { buildEnv, type DeployState } from "./build-state.ts";

/** One of the app's own commands, where and how it runs. */
export interface AppCommand {
  argv: string[];
  cwd: string;
  /** The command's environment; PATH gets the directory's node_modules/.bin and the panel's tools, HOME the app user's. */
  env: Record<string, string>;
  timeoutSec: number;
  /** Directories the command writes to: given to the app user when there is one. */
  writes: string[];
  /** Holds the process group while it runs (see killLeftover): a build dir's `<dir>.pid`. */
  pidFile: string;
}

/**
 * Runs one of the app's own commands (install, build, release), logged and masked. When the panel
 * runs as root in local mode, the command runs as the app user, which owns the directories it
 * writes to and the shared caches and cannot read the rest of the data dir.
 */
export async function runAppCommand(ctx: JobContext, command: AppCommand): Promise<void> {
  const { dataDir, appUser, mode } = ctx.services.config;
  const { argv, timeoutSec } = command;
  // On a server the data dir's layout is install.sh's, and apps run in units as their own user.
  const user =
    mode === "local"
      ? await appUserFor(appUser, dataDir).catch((error: Error) => {
          throw new JobFailed(error.message);
        })
      : null;
  if (user) {
    try {
      confineDataDir(dataDir);
      for (const dir of [...command.writes, user.home]) handToOwner(dataDir, dir, user);
    } catch (error) {
      throw new JobFailed((error as Error).message);
    }
  }
  const shell = argv[0] === "/bin/sh";
  ctx.log(`$ ${shell ? argv.slice(2).join(" ") : argv.join(" ")}`);
  const result = await run(argv, {
    cwd: command.cwd,
    env: {
      ...command.env,
      PATH: `${command.cwd}/node_modules/.bin:${toolsPath(dataDir)}`,
      ...(user ? { HOME: user.home } : {}),
    },
    signal: ctx.signal,
    timeoutMs: timeoutSec * 1000,
    onLine: (stream, line) => ctx.log(line, stream),
    pidFile: command.pidFile,
    user,
  });
  ctx.throwIfCancelled();
  if (result.timedOut) throw new JobFailed(`${argv.join(" ")} did not finish within ${timeoutSec} s.`);
  if (result.code !== 0) throw new JobFailed(`${shell ? argv[2] : argv.join(" ")} exited with ${result.code ?? result.signalCode}.`);
}

/** Runs one of the app's build commands (install, build) in the build dir. */
export function runUserCommand(ctx: JobContext, state: DeployState, argv: string[], timeoutSec: number): Promise<void> {
  return runAppCommand(ctx, {
    argv,
    cwd: state.buildDir,
    env: buildEnv(state),
    timeoutSec,
    writes: [state.buildDir, state.paths.bunCache, state.paths.npmCache],
    pidFile: `${state.buildDir}.pid`,
  });
}
