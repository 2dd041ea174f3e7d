import type { JobKind } from "../db/schema/index.ts";
import { deployHandler } from "./kinds/deploy.ts";
import { configureProxyHandler, restartHandler, rollbackHandler, stopHandler } from "./kinds/lifecycle.ts";
import { selfUpdateHandler } from "./kinds/self-update.ts";
import type { JobHandler } from "./orchestrator.ts";

export const jobHandlers: Partial<Record<JobKind, JobHandler>> = {
  deploy: deployHandler,
  rollback: rollbackHandler,
  restart: restartHandler,
  stop: stopHandler,
  "configure-proxy": configureProxyHandler,
  "self-update": selfUpdateHandler,
};
