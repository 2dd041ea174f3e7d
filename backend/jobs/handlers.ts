import type { JobKind } from "../db/schema/index.ts";
import { configureProxyHandler } from "./kinds/configure-proxy.ts";
import { dbBackupHandler } from "./kinds/db-backup.ts";
import { dbDeleteHandler } from "./kinds/db-delete.ts";
import { dbProvisionHandler } from "./kinds/db-provision.ts";
import { dbRestoreHandler } from "./kinds/db-restore.ts";
import { dbRotateHandler } from "./kinds/db-rotate.ts";
import { deployHandler } from "./kinds/deploy.ts";
import { issueCertificateHandler } from "./kinds/issue-certificate.ts";
import { releaseCommandHandler } from "./kinds/release-command.ts";
import { restartHandler } from "./kinds/restart.ts";
import { rollbackHandler } from "./kinds/rollback.ts";
import { scaleHandler } from "./kinds/scale.ts";
import { selfUpdateHandler } from "./kinds/self-update.ts";
import { stopHandler } from "./kinds/stop.ts";
import { volumeBackupHandler } from "./kinds/volume-backup.ts";
import { volumeRestoreHandler } from "./kinds/volume-restore.ts";
import type { JobHandler } from "./orchestrator.ts";

export const jobHandlers: Partial<Record<JobKind, JobHandler>> = {
  deploy: deployHandler,
  rollback: rollbackHandler,
  restart: restartHandler,
  stop: stopHandler,
  "configure-proxy": configureProxyHandler,
  "self-update": selfUpdateHandler,
  "release-command": releaseCommandHandler,
  "db-provision": dbProvisionHandler,
  "db-rotate": dbRotateHandler,
  "db-delete": dbDeleteHandler,
  "db-backup": dbBackupHandler,
  "db-restore": dbRestoreHandler,
  "issue-certificate": issueCertificateHandler,
  "volume-backup": volumeBackupHandler,
  "volume-restore": volumeRestoreHandler,
  scale: scaleHandler,
};
