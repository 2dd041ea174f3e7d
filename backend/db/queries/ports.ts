import type { Db } from "../client.ts";
import { slots } from "../schema/index.ts";

export const APP_PORT_BASE = 4100;
export const APP_PORT_LIMIT = 9999;

/** The lowest free pair of ports (blue, green) not used by any slot and bindable right now. */
export async function allocatePortPair(db: Db): Promise<[number, number]> {
  const used = new Set((await db.select({ port: slots.port }).from(slots)).map((r) => r.port));
  for (let port = APP_PORT_BASE; port + 1 <= APP_PORT_LIMIT; port += 2) {
    if (used.has(port) || used.has(port + 1)) continue;
    if (bindable(port) && bindable(port + 1)) return [port, port + 1];
  }
  throw new Error(`No free port pair between ${APP_PORT_BASE} and ${APP_PORT_LIMIT}.`);
}

function bindable(port: number): boolean {
  try {
    const server = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    server.stop(true);
    return true;
  } catch {
    return false;
  }
}
