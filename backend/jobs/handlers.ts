import type { JobKind } from "../db/schema/index.ts";
import { configureProxyHandler } from "./kinds/configure-proxy.ts";
import { deployHandler } from "./kinds/deploy.ts";
import { restartHandler } from "./kinds/restart.ts";
import { rollbackHandler } from "./kinds/rollback.ts";
import { selfUpdateHandler } from "./kinds/self-update.ts";
import { stopHandler } from "./kinds/stop.ts";
import type { JobHandler } from "./orchestrator.ts";

export const jobHandlers: Partial<Record<JobKind, JobHandler>> = {
  deploy: deployHandler,
  rollback: rollbackHandler,
  restart: restartHandler,
  stop: stopHandler,
  "configure-proxy": configureProxyHandler,
  "self-update": selfUpdateHandler,
};
