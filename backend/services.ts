import type { GitHub } from "./adapters/github.ts";
import type { AppProxy } from "./adapters/proxy/index.ts";
import type { Runtime } from "./adapters/runtime/types.ts";
import type { RateLimiter } from "./auth/rate-limit.ts";
import type { Config } from "./config.ts";
import type { Database, Db } from "./db/client.ts";
import type { EventBus } from "./jobs/events.ts";
import type { Orchestrator } from "./jobs/orchestrator.ts";
import type { Sampler } from "./jobs/sampler.ts";
import type { Logger } from "./log.ts";

/** Everything a route or job needs from the running panel, built once in main.ts. */
export interface Services {
  config: Config;
  database: Database;
  db: Db;
  log: Logger;
  limits: { loginByIp: RateLimiter; loginByAccount: RateLimiter };
  /** Directory of the built GUI (index.html and _app/), or null to serve no GUI. */
  guiDir: string | null;
  /** The master key for encrypted columns. */
  masterKey: Buffer;
  events: EventBus;
  runtime: Runtime;
  /** nginx in front of the apps: the switch moves traffic through it. */
  proxy: AppProxy;
  /** GitHub as configured (OAuth app, API); null when GITHUB_CLIENT_ID/SECRET are unset. */
  github: GitHub | null;
  /** Set once the job workers exist (after services are built). */
  orchestrator: Orchestrator;
  /** Resource samples of the server and the app slots (started when metrics are on). */
  sampler: Sampler;
}
