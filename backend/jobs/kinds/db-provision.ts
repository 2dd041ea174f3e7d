import { updateDatabase } from "../../db/queries/databases.ts";
import type { DatabaseRow } from "../../db/schema/index.ts";
import { createMasker } from "../../domain/masking.ts";
import { databaseOfJob, engineOf, targetOf } from "../databases.ts";
import { type JobContext, JobFailed, type JobHandler } from "../orchestrator.ts";

/** The database a db-* job works on, with every log line masked for its password. */
export async function requireDatabase(ctx: JobContext): Promise<DatabaseRow> {
  const database = await databaseOfJob(ctx.services, ctx.job);
  if (!database) throw new JobFailed("The database no longer exists.");
  ctx.maskWith(createMasker([targetOf(ctx.services, database).password]));
  return database;
}

async function publish(ctx: JobContext, database: DatabaseRow): Promise<void> {
  await ctx.services.events.publish({
    type: "database.updated",
    databaseId: database.id,
    database: database.name,
    status: database.status,
  });
}

/** check → provision → verify-connect; the database is ready only when the app's own URL answered. */
export const dbProvisionHandler: JobHandler = {
  steps: () => ["check", "provision", "verify-connect"],
  async run(ctx) {
    let database = await requireDatabase(ctx);
    const engine = engineOf(ctx.services, database);
    const target = targetOf(ctx.services, database);
    try {
      await ctx.step("check", async () => {
        const availability = await engine.availability();
        if (!availability.available) throw new JobFailed(availability.reason ?? `${database.engine} is not available here.`);
        ctx.log(`${database.engine} is available`);
      });
      const config = await ctx.step("provision", () => engine.provision(database.name, target.password, (line) => ctx.log(line)));
      database = (await updateDatabase(ctx.services.db, database.id, { config })) ?? database;
      await ctx.step("verify-connect", async () => {
        await engine.ping({ ...target, config });
        ctx.log(`connected with the app's URL as ${String(config.role ?? config.user ?? "its user")}`);
      });
      database = (await updateDatabase(ctx.services.db, database.id, { status: "ready" })) ?? database;
      await publish(ctx, database);
      return { database: database.name, engine: database.engine };
    } catch (error) {
      const failed = await updateDatabase(ctx.services.db, database.id, { status: "failed" });
      if (failed) await publish(ctx, failed);
      throw error;
    }
  },
};
