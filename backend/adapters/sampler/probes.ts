/** What the diagnostics ask of the machine: is nginx there, does it answer, is its config valid. */
import { join } from "node:path";
import { nginxArgv } from "../../commands/nginx.ts";
import { run } from "../exec.ts";
import { findNginx, privateNginxPid } from "../proxy/index.ts";
import { privatePrefix } from "../proxy/private.ts";

export interface NginxProbe {
  binary: string | null;
  /** The private nginx's pid (local mode); null when it is not running or not ours. */
  pid: number | null;
  /** Did anything answer HTTP on the proxy port? */
  answers: boolean;
  /** `nginx -t`: null when not run (the system nginx's config needs root to test). */
  configValid: boolean | null;
  configError: string | null;
}

export async function probeNginx(o: { mode: "local" | "server"; dataDir: string; port: number; root: boolean }): Promise<NginxProbe> {
  const binary = findNginx();
  const pid = o.mode === "local" ? privateNginxPid(o.dataDir) : null;
  const answers = await httpAnswers(`http://127.0.0.1:${o.port}/`);
  let configValid: boolean | null = null;
  let configError: string | null = null;
  if (binary && (o.mode === "local" || o.root)) {
    const prefix = privatePrefix(o.dataDir);
    const argv = o.mode === "local" ? nginxArgv(binary, prefix, join(prefix, "nginx.conf"), "test") : [binary, "-t", "-q"];
    const result = await run(argv, { capture: true, timeoutMs: 15_000 }).catch((error: Error) => ({
      code: 1,
      stdout: "",
      stderr: error.message,
    }));
    configValid = result.code === 0;
    if (!configValid) configError = (result.stderr || result.stdout).trim().split("\n").slice(-3).join(" ");
  }
  return { binary, pid, answers, configValid, configError };
}

/** Does anything answer HTTP here (any status)? */
async function httpAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      headers: { host: "diagnostics.switchyard.invalid" },
      keepalive: false,
      signal: AbortSignal.timeout(2_000),
    });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** The version line of a program, or null when it is not installed. */
export async function programVersion(name: string, args = ["--version"]): Promise<string | null> {
  const path = Bun.which(name);
  if (!path) return null;
  const result = await run([path, ...args], { capture: true, timeoutMs: 15_000 }).catch(() => null);
  if (!result) return path;
  return (result.stdout || result.stderr).trim().split("\n")[0] || path;
}
