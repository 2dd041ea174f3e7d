import { run } from "../../adapters/exec.ts";
import { type JobContext, JobFailed } from "../orchestrator.ts";
import { toolsPath } from "../tools.ts";
import { buildEnv, type DeployState } from "./build-state.ts";

/** Runs one of the app's own commands (install, build) in the build dir, logged and masked. */
export async function runUserCommand(ctx: JobContext, state: DeployState, argv: string[], timeoutSec: number): Promise<void> {
  const shell = argv[0] === "/bin/sh";
  ctx.log(`$ ${shell ? argv.slice(2).join(" ") : argv.join(" ")}`);
  const result = await run(argv, {
    cwd: state.buildDir,
    env: { ...buildEnv(state), PATH: `${state.buildDir}/node_modules/.bin:${toolsPath(ctx.services.config.dataDir)}` },
    signal: ctx.signal,
    timeoutMs: timeoutSec * 1000,
    onLine: (stream, line) => ctx.log(line, stream),
    pidFile: `${state.buildDir}.pid`,
  });
  ctx.throwIfCancelled();
  if (result.timedOut) throw new JobFailed(`${argv.join(" ")} did not finish within ${timeoutSec} s.`);
  if (result.code !== 0) throw new JobFailed(`${shell ? argv[2] : argv.join(" ")} exited with ${result.code ?? result.signalCode}.`);
}
