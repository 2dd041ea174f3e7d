/**
 * Runs `fn` holding an exclusive lock on `path` (flock(1), created if missing), so two copies of
 * the suite that reach the same shared work at once do it one after the other. The kernel drops
 * the lock when its holder goes, even if this process is killed.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 60 * 60_000): Promise<T> {
  const holder = Bun.spawn(
    ["flock", "--exclusive", "--timeout", String(Math.ceil(timeoutMs / 1000)), path, "sh", "-c", "echo locked; exec cat >/dev/null"],
    { stdin: "pipe", stdout: "pipe", stderr: "pipe" },
  );
  const first = await holder.stdout.getReader().read();
  if (!new TextDecoder().decode(first.value ?? new Uint8Array()).startsWith("locked")) {
    holder.kill();
    throw new Error(
      `could not lock ${path}: ${(await new Response(holder.stderr).text()).trim() || `flock exited ${await holder.exited}`}`,
    );
  }
  try {
    return await fn();
  } finally {
    holder.stdin.end();
    await holder.exited;
  }
}
