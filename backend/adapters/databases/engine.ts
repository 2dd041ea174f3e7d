import type { DatabaseEngine as EngineName } from "../../contract/api.ts";
import type { Services } from "../../services.ts";
import { PostgresEngine } from "./postgres.ts";
import { RedisEngine } from "./redis.ts";

/** One provisioned database as an engine sees it: its name, the config it stored, its password. */
export interface EngineTarget {
  name: string;
  config: Record<string, unknown>;
  password: string;
}

/** A database server kind the panel provisions for apps. MariaDB and others implement the same. */
export interface DatabaseEngine {
  readonly engine: EngineName;
  availability(): Promise<{ available: boolean; reason: string | null }>;
  /** Creates it (idempotent: a half-done provision is finished); returns the config to store. */
  provision(name: string, password: string, log: (line: string) => void): Promise<Record<string, unknown>>;
  /** The URL apps get (DATABASE_URL / REDIS_URL). */
  url(target: EngineTarget): string;
  /** A shell command that opens a client on it (psql / redis-cli). */
  cli(target: EngineTarget): string;
  stats(target: EngineTarget): Promise<{ sizeBytes: number; connections: number }>;
  /**
   * Makes `next` valid. PostgreSQL switches at once (open sessions stay); Redis accepts both the
   * old and the new password until finishRotation, once the attached apps have redeployed.
   */
  rotatePassword(target: EngineTarget, next: string): Promise<void>;
  /** Leaves only `target.password` (the new one) valid; a no-op where the switch was immediate. */
  finishRotation(target: EngineTarget): Promise<void>;
  /** Connects as the app would (its URL) and checks the answer; throws when it cannot. */
  ping(target: EngineTarget): Promise<void>;
  drop(target: EngineTarget): Promise<void>;
  /** Ensures a provisioned instance runs (Redis after a reboot / panel start); no-op for postgres. */
  ensureRunning(target: EngineTarget): Promise<void>;
  /** Ends the admin connection, if any. */
  close(): Promise<void>;
}

type EngineServices = Pick<Services, "config" | "log">;

const engines = new WeakMap<object, Map<EngineName, DatabaseEngine>>();

/** The engine for `engine`, one instance per running panel (it keeps the admin connection). */
export function engineFor(services: EngineServices, engine: EngineName): DatabaseEngine {
  let byName = engines.get(services.config);
  if (!byName) {
    byName = new Map();
    engines.set(services.config, byName);
  }
  let found = byName.get(engine);
  if (!found) {
    found = engine === "postgres" ? new PostgresEngine(services) : new RedisEngine({ config: services.config, log: services.log });
    byName.set(engine, found);
  }
  return found;
}

/** Closes every engine's admin connection of this panel (at stop). */
export async function closeEngines(services: EngineServices): Promise<void> {
  const byName = engines.get(services.config);
  engines.delete(services.config);
  for (const engine of byName?.values() ?? []) await engine.close();
}
