/**
 * `count` distinct TCP ports the kernel hands out on 127.0.0.1 right now (bound on port 0, all held
 * at once so they differ, then released). Another process may take one before its owner binds it;
 * the caller's unique index and a fresh port at each start cover that.
 */
export function osFreePorts(count: number): number[] {
  const held: Array<{ port: number; stop(closeActive?: boolean): void }> = [];
  try {
    for (let i = 0; i < count; i++) held.push(Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }));
    return held.map((s) => s.port);
  } finally {
    for (const s of held) s.stop(true);
  }
}
