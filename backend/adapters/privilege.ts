import { type RunResult, run } from "./exec.ts";

/** Where install.sh puts the privileged helper (infrastructure/helper/switchyard-helper). */
export const HELPER_PATH = "/usr/local/lib/switchyard/helper";

export class HelperError extends Error {
  override name = "HelperError";
  constructor(
    readonly args: string[],
    readonly result: RunResult,
  ) {
    const said = (result.stderr || result.stdout).trim().replace(/^switchyard-helper: /, "");
    super(said || `switchyard-helper ${args[0] ?? ""} failed (exit ${result.code ?? result.signalCode})`);
  }
  /** The helper itself refused the request (bad verb or argument), as opposed to the command it ran failing. */
  get refused(): boolean {
    return this.result.code === 2 && this.result.stderr.startsWith("switchyard-helper: ");
  }
}

/**
 * The rights the panel runs with, decided once at start-up: as root it acts itself; as the
 * installed `switchyard` user each root action is one helper verb through sudo. `helper`
 * resolves only when the helper succeeded; anything else (a refusal included) is a HelperError.
 */
export interface Privilege {
  readonly root: boolean;
  /** Runs a helper verb; 2 minutes unless `timeoutMs` says otherwise (certbot waits for DNS). */
  helper(args: string[], stdin?: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<RunResult>;
}

export interface PrivilegeOptions {
  root?: boolean;
  /** The argv that runs the helper (tests: ["bash", "<checkout>/infrastructure/helper/switchyard-helper"]). */
  command?: string[];
  env?: Record<string, string | undefined>;
}

export function createPrivilege(o: PrivilegeOptions = {}): Privilege {
  const command = o.command ?? ["sudo", "-n", HELPER_PATH];
  return {
    root: o.root ?? process.getuid?.() === 0,
    async helper(args, stdin, options) {
      const result = await run([...command, ...args], {
        capture: true,
        timeoutMs: options?.timeoutMs ?? 120_000,
        ...(options?.signal ? { signal: options.signal } : {}),
        ...(o.env ? { env: o.env } : {}),
        ...(stdin === undefined ? {} : { stdin }),
      });
      if (result.code !== 0) throw new HelperError(args, result);
      return result;
    },
  };
}

let current: Privilege | null = null;

/** This process's privilege (one object for the whole panel). */
export function processPrivilege(): Privilege {
  current ??= createPrivilege();
  return current;
}
