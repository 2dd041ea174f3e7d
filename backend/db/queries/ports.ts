import { arrayOverlaps, eq, inArray, or, sql } from "drizzle-orm";
import { osFreePorts } from "../../adapters/ports.ts";
import type { Db } from "../client.ts";
import { uniqueViolation } from "../errors.ts";
import { slots } from "../schema/index.ts";

const ATTEMPTS = 20;

/** Where candidate ports come from: the kernel, unless a test stands in for it. */
export type PortOffer = (count: number) => number[];

/**
 * Ports the kernel offers that no slot row holds. The kernel picks from its ephemeral range, so
 * two panels (or test runs) on one machine do not walk the same list in step.
 */
async function unheldPorts(db: Db, count: number, offer: PortOffer): Promise<number[]> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const offered = offer(count);
    // Distinct among themselves too: a slot's instances each need their own.
    if (new Set(offered).size !== offered.length) continue;
    const held = await db
      .select({ port: slots.port })
      .from(slots)
      .where(or(inArray(slots.port, offered), arrayOverlaps(slots.ports, offered)));
    if (held.length === 0) return offered;
  }
  throw new Error("The kernel kept offering ports that slots already hold.");
}

/** Another slot took one of the ports as an instance's between the check and the write. */
class PortClash extends Error {}

const isPortClash = (error: unknown) => error instanceof PortClash || uniqueViolation(error)?.constraint === "slots_port_idx";

/**
 * Runs `write` with fresh ports until no other slot holds one of them: the unique index on
 * slots.port settles a race with a concurrent allocation; each attempt is a savepoint, so a
 * refused one leaves the caller's transaction usable.
 */
async function withFreshPorts<T>(db: Db, count: number, offer: PortOffer, write: (tx: Db, ports: number[]) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports = await unheldPorts(db, count, offer);
    try {
      return await db.transaction((tx) => write(tx as unknown as Db, ports));
    } catch (error) {
      if (!isPortClash(error) || attempt >= ATTEMPTS) throw error;
    }
  }
}

/** A new app's two slots (blue, green), each with a port of its own. Call inside the app's transaction. */
export async function insertSlotPair(db: Db, appId: string, offer: PortOffer = osFreePorts): Promise<[number, number]> {
  return withFreshPorts(db, 2, offer, async (tx, [blue = 0, green = 0]) => {
    await tx.insert(slots).values([
      { appId, color: "blue", port: blue },
      { appId, color: "green", port: green },
    ]);
    return [blue, green];
  });
}

/** Gives one slot a new port the kernel offers and no other slot holds (before each start of the slot). */
export async function assignFreshPort(db: Db, slotId: string, offer: PortOffer = osFreePorts): Promise<number> {
  const [port = 0] = await assignFreshPorts(db, slotId, 1, offer);
  return port;
}

/**
 * Gives one slot `count` new ports, one per web instance (slots.port is the first, slots.ports
 * all of them), none held by another slot as its port or an instance's. The unique index covers
 * slots.port only, so the check of the arrays runs again under a lock inside the write.
 */
export async function assignFreshPorts(db: Db, slotId: string, count: number, offer: PortOffer = osFreePorts): Promise<number[]> {
  return withFreshPorts(db, count, offer, async (tx, ports) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('switchyard.slot-ports'))`);
    const clash = await tx
      .select({ id: slots.id })
      .from(slots)
      .where(or(inArray(slots.port, ports), arrayOverlaps(slots.ports, ports)));
    if (clash.some((r) => r.id !== slotId)) throw new PortClash();
    const [row] = await tx
      .update(slots)
      .set({ port: ports[0] ?? 0, ports, updatedAt: new Date() })
      .where(eq(slots.id, slotId))
      .returning({ ports: slots.ports });
    if (!row) throw new Error(`slot ${slotId} not found`);
    return row.ports;
  });
}
