import { appUserFor } from "../../adapters/app-user.ts";
import { buildIoClass, type RunResult, run } from "../../adapters/exec.ts";
import { HELPER_PATH, processPrivilege } from "../../adapters/privilege.ts";
import { confineDataDir, handToOwner } from "../../adapters/release-store.ts";
import { buildScopeArgv } from "../../commands/systemd.ts";
import { getBuildSettings } from "../../db/queries/build-settings.ts";
import { buildScopeName, lowPriorityArgv, memoryExceededMessage, memoryKilledMessage } from "../../domain/build-limits.ts";
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
  /** Put on PATH right after the directory's node_modules/.bin: a workspace root's bins, pinned runtimes, package managers. */
  binDirs?: string[];
}

/**
 * Runs one of the app's own commands (install, build, release), logged and masked. When the panel
 * runs as root in local mode, the command runs as the app user, which owns the directories it
 * writes to and the shared caches and cannot read the rest of the data dir.
 *
 * It must not starve the apps already running: locally it runs under `nice`/`ionice` with its
 * process group's memory watched; on a server in a transient systemd scope (MemoryMax=, low CPU
 * and I/O weight, nice) as the panel's user. Going over the build memory limit of Settings → Builds
 * fails the step with a message that says so. Locally the watch (and the kill on a time-out or a
 * cancel) covers the command's process group: a process that starts a session of its own escapes
 * it. On a server the scope holds everything the build started.
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
  const { memoryMaxMb } = await getBuildSettings(ctx.services.db);
  const env: Record<string, string> = {
    ...command.env,
    PATH: [`${command.cwd}/node_modules/.bin`, ...(command.binDirs ?? []), toolsPath(dataDir)].join(":"),
    ...(user ? { HOME: user.home } : {}),
  };
  const common = {
    cwd: command.cwd,
    signal: ctx.signal,
    timeoutMs: timeoutSec * 1000,
    onLine: (stream: "stdout" | "stderr", line: string) => ctx.log(line, stream),
    pidFile: command.pidFile,
    memoryMaxBytes: memoryMaxMb * 1024 * 1024,
  };
  let result: RunResult;
  if (mode === "server") {
    const scope = buildScopeName(ctx.job.id);
    // systemd-run looks a command up in its own PATH, not the build's: it gets an absolute one.
    const program = argv[0]?.startsWith("/") ? argv[0] : Bun.which(argv[0] ?? "", { PATH: env.PATH });
    if (!program) throw new JobFailed(`${argv[0]} was not found on the build's PATH.`);
    const privilege = processPrivilege();
    // The scope is stopped too, so nothing the build started outlives a cancel or a time-out.
    const onKill = () =>
      void (privilege.root ? run([SYSTEMCTL, "stop", `${scope}.scope`]) : privilege.helper(["build-stop", scope])).catch(() => {});
    const spawn = serverBuildSpawn({ scope, memoryMaxMb, root: privilege.root }, [program, ...argv.slice(1)], env);
    // A helper installed by an older install.sh has no build-scope verb: it refuses it before
    // running anything. The build then runs as the local one does, and the log says how to mend it.
    let olderHelper = false;
    const onLine = (stream: "stdout" | "stderr", line: string) => {
      if (stream === "stderr" && line.startsWith("switchyard-helper: unknown verb build-scope")) olderHelper = true;
      else common.onLine(stream, line);
    };
    result = await run(spawn.argv, { ...common, onLine, env: spawn.env, stdin: spawn.stdin, onKill });
    if (olderHelper && result.code === 2) {
      ctx.log(
        "The root helper is older than this panel and cannot start build scopes: run install.sh again to update it. Until then builds run at low priority with the watched memory limit, without a scope.",
        "stderr",
      );
      result = await run([...lowPriorityPrefix(), ...argv], { ...common, env });
    }
  } else {
    result = await run([...lowPriorityPrefix(), ...argv], { ...common, env, user });
  }
  ctx.throwIfCancelled();
  if (result.memoryExceeded) throw new JobFailed(capitalize(memoryExceededMessage(memoryMaxMb)));
  if (result.timedOut) throw new JobFailed(`${argv.join(" ")} did not finish within ${timeoutSec} s.`);
  // In a scope the kernel enforces MemoryMax= itself, with SIGKILL.
  if (mode === "server" && (result.signalCode === "SIGKILL" || result.code === 137))
    throw new JobFailed(capitalize(memoryKilledMessage(memoryMaxMb)));
  if (result.code !== 0) throw new JobFailed(`${shell ? argv[2] : argv.join(" ")} exited with ${result.code ?? result.signalCode}.`);
}

/** install.sh's panel user: on a server builds run as the panel does, never as root. */
const SERVER_BUILD_USER = "switchyard";

/** chrt, nice and ionice by absolute path: the build's PATH starts in the repository's node_modules/.bin. */
const lowPriorityPrefix = () => lowPriorityArgv([], buildIoClass()).map((word) => PRIORITY_TOOLS[word] ?? word);

const PRIORITY_TOOLS: Record<string, string> = { chrt: "/usr/bin/chrt", nice: "/usr/bin/nice", ionice: "/usr/bin/ionice" };
const SUDO = "/usr/bin/sudo";
const SYSTEMCTL = "/usr/bin/systemctl";
/** What a privileged process (systemd-run as root, sudo) gets for an environment: nothing of the app's. */
const PRIVILEGED_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
/**
 * Runs inside the scope, as the panel user: exports the NUL-ended entries read from stdin (see
 * envOnStdin), then execs the command. The same loader as the helper's build-scope verb.
 */
const BUILD_ENV_LOADER =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's ${#e}, not a template
  'n=0; while IFS= read -r -d "" e; do n=$((n + ${#e} + 1)); ((n <= 1048576)) && [[ "$e" =~ ^[A-Za-z_][A-Za-z0-9_]{0,127}= ]] && export "$e" || { echo "switchyard-helper: refusing the build environment" >&2; exit 2; }; done; exec "$@" </dev/null';

/**
 * How a server build is started: systemd-run (panel as root) or the helper through sudo, each by
 * absolute path and with a minimal environment, so neither the repository's node_modules/.bin nor
 * the app's variables (LD_PRELOAD and the like) reach a privileged process. The build's own
 * environment comes on stdin and is loaded only inside the scope, as the panel user.
 */
export function serverBuildSpawn(
  o: { scope: string; memoryMaxMb: number; root: boolean },
  command: string[],
  env: Record<string, string | undefined>,
): { argv: string[]; env: Record<string, string>; stdin: string } {
  const argv = o.root
    ? buildScopeArgv({ unit: o.scope, user: SERVER_BUILD_USER, memoryMaxMb: o.memoryMaxMb }, [
        "/bin/bash",
        "-c",
        BUILD_ENV_LOADER,
        "build",
        ...command,
      ])
    : [SUDO, "-n", HELPER_PATH, "build-scope", o.scope, String(o.memoryMaxMb), "--", ...command];
  return { argv, env: { ...PRIVILEGED_ENV }, stdin: envOnStdin(env) };
}

/** `KEY=VALUE` entries, each ended by a NUL (values may hold newlines), as the helper's build-scope reads them. */
export function envOnStdin(env: Record<string, string | undefined>): string {
  let out = "";
  for (const [key, value] of Object.entries(env)) if (value !== undefined && !value.includes("\0")) out += `${key}=${value}\0`;
  return out;
}

function capitalize(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/** Runs one of the app's build commands (install, build) in the build dir. */
export function runUserCommand(
  ctx: JobContext,
  state: DeployState,
  argv: string[],
  timeoutSec: number,
  where: { cwd?: string; binDirs?: string[] } = {},
): Promise<void> {
  return runAppCommand(ctx, {
    argv,
    cwd: where.cwd ?? state.buildDir,
    binDirs: where.binDirs,
    env: buildEnv(state),
    timeoutSec,
    writes: [state.buildDir, state.paths.bunCache, state.paths.npmCache],
    pidFile: `${state.buildDir}.pid`,
  });
}
