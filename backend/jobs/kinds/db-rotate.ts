import { clearRotationState, setDatabasePassword, setRotationState } from "../../db/queries/databases.ts";
import { liveRelease } from "../../db/queries/release-command.ts";
import type { App } from "../../db/schema/index.ts";
import { readRotation, type StoredRotation } from "../../domain/database-rotation.ts";
import { createMasker } from "../../domain/masking.ts";
import { finishRotationNow, settleRotation } from "../database-rotation.ts";
import { attachedApps, engineOf, newPassword, setAppSecret, targetOf } from "../databases.ts";
import { JobFailed, type JobHandler } from "../orchestrator.ts";
import { requireDatabase } from "./db-provision.ts";

/**
 * A new password with no downtime: the engine accepts it (PostgreSQL: at once, open sessions
 * stay; Redis: beside the old one), every attached app gets the new URL and a blue-green deploy
 * is queued for each running one. The job ends there, recording the deploys in the database's
 * pending rotation: the old Redis password is dropped when they have all succeeded (see
 * database-rotation.ts), and stays valid when one fails.
 */
export const dbRotateHandler: JobHandler = {
  steps: () => ["rotate", "update-apps", "redeploy", "finish"],
  async run(ctx) {
    const database = await requireDatabase(ctx);
    const { db } = ctx.services;
    const previous = readRotation(database.config);
    if (previous && previous.state !== "needs-attention") {
      throw new JobFailed(
        `A rotation of ${database.name} (job ${previous.jobId}) is ${previous.state}; rotate again once it has finished.`,
      );
    }
    const began: StoredRotation = {
      state: "rotating",
      jobId: ctx.job.id,
      startedAt: new Date().toISOString(),
      apps: [],
      reason: null,
      queued: false,
    };
    if (!(await setRotationState(db, database.id, { ...began }, previous ? previous.jobId : null))) {
      throw new JobFailed(`Another rotation of ${database.name} began meanwhile; rotate again once it has finished.`);
    }
    if (previous) ctx.log(`supersedes rotation ${previous.jobId}, which needed attention: ${previous.reason ?? "a deploy failed"}`);

    const engine = engineOf(ctx.services, database);
    const old = targetOf(ctx.services, database);
    const next = newPassword();
    ctx.maskWith(createMasker([old.password, next, encodeURIComponent(old.password), encodeURIComponent(next)]));
    const target = { ...old, password: next };
    let changed = false;
    const deploys: Array<{ app: App; jobId: string }> = [];
    try {
      await ctx.step("rotate", async () => {
        changed = true;
        await engine.rotatePassword(old, next);
        await setDatabasePassword(db, ctx.services.masterKey, database.id, next);
        ctx.log(
          database.engine === "redis"
            ? "the new password is accepted beside the old one until the attached apps have redeployed"
            : "the new password is in effect; open sessions keep working until they reconnect",
        );
      });
      const attached = await attachedApps(ctx.services, database.id);
      await ctx.step("update-apps", async () => {
        for (const { app, envVar } of attached) {
          await setAppSecret(ctx.services, app.id, envVar, engine.url(target));
          ctx.log(`${app.name}: ${envVar} holds the new URL`);
        }
        if (attached.length === 0) ctx.log("no app is attached");
      });
      await ctx.step("redeploy", async () => {
        for (const { app } of attached) {
          if (!(await liveRelease(db, app.id))) {
            ctx.log(`${app.name}: not running; its next deploy uses the new URL`);
            continue;
          }
          const job = await ctx.services.orchestrator.enqueue({
            kind: "deploy",
            appId: app.id,
            createdBy: ctx.job.createdBy,
            trigger: `rotation of ${database.name}`,
          });
          ctx.log(`${app.name}: deploy queued (job ${job.id})`);
          deploys.push({ app, jobId: job.id });
        }
        await setRotationState(
          db,
          database.id,
          {
            ...began,
            state: "waiting-for-deploys",
            queued: true,
            apps: deploys.map((d) => ({ app: d.app.name, appId: d.app.id, deployJobId: d.jobId, status: "waiting", reason: null })),
          },
          ctx.job.id,
        );
      });
      if (deploys.length === 0) {
        await ctx.step("finish", async () => {
          const row = await requireDatabase(ctx);
          await finishRotationNow(ctx.services, row, ctx.job.id);
          ctx.log(database.engine === "redis" ? "the old password no longer works" : "nothing left to do");
        });
      } else {
        const names = deploys.map((d) => d.app.name).join(", ");
        const why =
          database.engine === "redis"
            ? `the old password stays valid until the deploys of ${names} have succeeded; it is dropped then`
            : `${names} connect with the new password once their deploys have succeeded`;
        ctx.log(why);
        await ctx.skip("finish", why);
      }
    } catch (error) {
      const message = (error as Error).message;
      if (changed) {
        const reason = `the rotation job did not finish (${message}); the old password stays valid: rotate again`;
        await setRotationState(db, database.id, { ...began, state: "needs-attention", reason }, ctx.job.id);
      } else if (previous) {
        await setRotationState(db, database.id, { ...previous }, ctx.job.id);
      } else {
        await clearRotationState(db, database.id, ctx.job.id);
      }
      await ctx.services.events.publish({
        type: "database.updated",
        databaseId: database.id,
        database: database.name,
        status: database.status,
      });
      throw error;
    }
    // A deploy that ended before the rotation was recorded is taken into account now.
    const rotation = deploys.length > 0 ? await settleRotation(ctx.services, database.id) : "finished";
    await ctx.services.events.publish({
      type: "database.updated",
      databaseId: database.id,
      database: database.name,
      status: database.status,
    });
    return {
      database: database.name,
      deploys: deploys.map((d) => ({ app: d.app.name, jobId: d.jobId })),
      rotation,
    };
  },
};
