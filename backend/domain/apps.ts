import { rm } from "node:fs/promises";
import { and, arrayOverlaps, eq, inArray, ne } from "drizzle-orm";
import { allocatePortPair } from "../db/queries/ports.ts";
import { type App, apps, environments, jobs, slots } from "../db/schema/index.ts";
import { appPaths } from "../jobs/steps/paths.ts";
import type { Services } from "../services.ts";
import { syncWebhook } from "./github-apps.ts";

export class AppExistsError extends Error {
  override name = "AppExistsError";
}

export class DomainTakenError extends Error {
  override name = "DomainTakenError";
}

/** Fails when another app already answers to one of these host names. */
export async function assertDomainsFree(db: Services["db"], domains: string[], exceptAppId?: string): Promise<void> {
  if (domains.length === 0) return;
  const clash = arrayOverlaps(apps.domains, domains);
  const [other] = await db
    .select({ name: apps.name, domains: apps.domains })
    .from(apps)
    .where(exceptAppId ? and(clash, ne(apps.id, exceptAppId)) : clash)
    .limit(1);
  if (other) {
    const taken = domains.filter((d) => other.domains.includes(d)).join(", ");
    throw new DomainTakenError(`${taken} already belongs to the app ${other.name}.`);
  }
}

export type NewApp = Omit<typeof apps.$inferInsert, "id" | "status" | "createdAt" | "updatedAt">;

/** An app with its production environment and its two slots, each with a port of its own. */
export async function createApp(services: Services, input: NewApp): Promise<App> {
  const { db } = services;
  return db.transaction(async (tx) => {
    const [existing] = await tx.select({ id: apps.id }).from(apps).where(eq(apps.name, input.name));
    if (existing) throw new AppExistsError(`An app named ${input.name} already exists.`);
    await assertDomainsFree(tx as never, input.domains ?? []);
    const [app] = await tx.insert(apps).values(input).returning();
    if (!app) throw new Error("app insert returned nothing");
    await tx.insert(environments).values({ appId: app.id, name: "production" });
    const [blue, green] = await allocatePortPair(tx as never);
    await tx.insert(slots).values([
      { appId: app.id, color: "blue", port: blue },
      { appId: app.id, color: "green", port: green },
    ]);
    return app;
  });
}

/**
 * Cancels the app's jobs, stops its slots, removes its files, then its rows. Runtime first:
 * a row deleted with a process still running would leave an orphan nobody can see.
 */
export async function deleteApp(services: Services, app: App): Promise<void> {
  const { db, orchestrator, runtime, config, events, log } = services;
  if (app.githubHookId) {
    // Best effort: a hook left behind only produces deliveries answered "unknown app".
    await syncWebhook(services, app, false).catch((error: Error) =>
      log.warn("could not remove the app's GitHub webhook", { app: app.name, error: error.message }),
    );
  }
  const active = await db
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.appId, app.id), inArray(jobs.status, ["queued", "running"])));
  for (const job of active) await orchestrator.cancel(job.id);
  for (const job of active) await orchestrator.waitFor(job.id, 60_000).catch(() => {});
  await runtime.remove(app.name);
  await rm(appPaths(config.dataDir, app.name).root, { recursive: true, force: true });
  await db.delete(apps).where(eq(apps.id, app.id));
  await events.publish({ type: "app.deleted", appId: app.id, app: app.name });
}
