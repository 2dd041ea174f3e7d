import { desc, eq } from "drizzle-orm";
import { z } from "zod";
import { GitHubAuthError, GitHubError } from "../../adapters/github.ts";
import { COLORS } from "../../adapters/runtime/types.ts";
import { type AppSummary, appSlots, findAppByName, listAppSummaries, listReleases } from "../../db/queries/apps.ts";
import { APP_NAME_PATTERN, type App, apps, jobs, type Release } from "../../db/schema/index.ts";
import { createAppSchema, updateAppSchema } from "../../domain/app-settings.ts";
import { AppExistsError, assertDomainsFree, createApp, DomainTakenError, deleteApp } from "../../domain/apps.ts";
import { syncWebhook } from "../../domain/github-apps.ts";
import { RETAINED_RELEASES, rollbackEligible } from "../../domain/retention.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams, readQuery } from "../context.ts";
import { badRequest, conflict, HttpError, notFound, validationError } from "../errors.ts";
import type { Router } from "../router.ts";
import { ownerRepo, requireAccount, withGitHub } from "./github.ts";
import { jobJson } from "./jobs.ts";

const appParam = z.object({ app: z.string().regex(APP_NAME_PATTERN, "is not a valid app name") });

export async function loadApp(c: Context): Promise<App> {
  const { app: name } = readParams(c, appParam);
  const app = await findAppByName(c.services.db, name);
  if (!app) throw notFound(`App ${name}`);
  return app;
}

export function releaseJson(r: Release, eligible?: Set<string>) {
  return {
    id: r.id,
    number: r.number,
    commitSha: r.commitSha,
    commitMessage: r.commitMessage,
    commitAuthor: r.commitAuthor,
    runtime: r.runtime,
    status: r.status,
    healthy: r.healthy,
    pinned: r.pinned,
    pruned: r.pruned,
    details: r.details,
    createdAt: r.createdAt,
    liveAt: r.liveAt,
    ...(eligible ? { rollbackEligible: eligible.has(r.id) } : {}),
  };
}

export function appJson(a: AppSummary) {
  return {
    id: a.id,
    name: a.name,
    repoUrl: a.repoUrl,
    branch: a.branch,
    runtime: a.runtime,
    installCommand: a.installCommand,
    buildCommand: a.buildCommand,
    startCommand: a.startCommand,
    healthPath: a.healthPath,
    healthTimeoutSec: a.healthTimeoutSec,
    buildTimeoutSec: a.buildTimeoutSec,
    healthIntervalMs: a.healthIntervalMs,
    healthSuccesses: a.healthSuccesses,
    drainSeconds: a.drainSeconds,
    watchSeconds: a.watchSeconds,
    standbyTimeoutMin: a.standbyTimeoutMin,
    autoDeploy: a.autoDeploy,
    githubRepo: a.githubRepo,
    webhook: a.githubRepo ? { hookId: a.githubHookId, active: a.githubHookId !== null } : null,
    domains: a.domains,
    memoryMax: a.memoryMax,
    cpuQuota: a.cpuQuota,
    status: a.status,
    liveColor: a.liveColor,
    currentRelease: a.currentRelease ? releaseJson(a.currentRelease) : null,
    slots: a.slots.map((s) => ({ color: s.color, port: s.port, state: s.state, releaseId: s.releaseId })),
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
  };
}

async function summary(c: Context, app: App) {
  const [one] = await listAppSummaries(c.services.db, [app.id]);
  if (!one) throw notFound(`App ${app.name}`);
  return appJson(one);
}

/** A GitHub call on behalf of an app failed: say what did not happen and why, as a 4xx/502. */
function gitHubFailure(error: unknown, what: string): HttpError {
  if (error instanceof GitHubAuthError) return new HttpError(409, "github_reconnect_needed", `${what}: ${error.message}`);
  if (error instanceof GitHubError) return new HttpError(502, "github_unavailable", `${what}: ${error.message}`);
  return error instanceof HttpError ? error : new HttpError(502, "github_unavailable", `${what}: ${(error as Error).message}`);
}

export function appRoutes(r: Router): void {
  r.get("/api/v1/apps", { auth: "viewer" }, async (c) => {
    return Response.json({ apps: (await listAppSummaries(c.services.db)).map(appJson) });
  });

  r.post("/api/v1/apps", { auth: "admin" }, async (c) => {
    const raw = await readJson(c, z.record(z.string(), z.unknown(), { error: "the body must be a JSON object" }));
    // From a GitHub repository: its https clone URL (cloned with the user's token as a header) and default branch.
    let fromGitHub: { fullName: string; accountId: string } | null = null;
    if (raw.github !== undefined) {
      const picked = ownerRepo.safeParse(raw.github);
      if (!picked.success) throw validationError(picked.error, "body");
      const { github, account, token } = await requireAccount(c);
      const info = await withGitHub(c, account, () => github.repo(token, picked.data.owner, picked.data.repo));
      raw.repoUrl = info.cloneUrl;
      raw.branch ??= info.defaultBranch;
      fromGitHub = { fullName: info.fullName, accountId: account.id };
    }
    const { github: _picked, ...rest } = raw;
    const parsed = createAppSchema.safeParse(rest);
    if (!parsed.success) throw validationError(parsed.error, "body");
    const { deploy, ...body } = parsed.data;
    let app: App;
    try {
      app = await createApp(c.services, {
        ...body,
        ...(fromGitHub ? { githubRepo: fromGitHub.fullName, githubAccountId: fromGitHub.accountId } : {}),
      });
    } catch (error) {
      if (error instanceof AppExistsError) throw conflict("app_exists", error.message);
      if (error instanceof DomainTakenError) throw conflict("domain_taken", error.message);
      throw error;
    }
    if (fromGitHub && app.autoDeploy) {
      try {
        app = await syncWebhook(c.services, app, true);
      } catch (error) {
        // No half-made app: without its webhook it would never deploy on push.
        await deleteApp(c.services, app);
        throw gitHubFailure(error, "The app was not created: its webhook could not be set up");
      }
    }
    await audit(c, "app.created", `app:${app.name}`, { repoUrl: app.repoUrl, branch: app.branch });
    await c.services.events.publish({ type: "app.created", appId: app.id, app: app.name, status: app.status });
    const job = deploy
      ? await c.services.orchestrator.enqueue({ kind: "deploy", appId: app.id, createdBy: c.auth?.user.id, trigger: c.auth?.user.email })
      : null;
    return Response.json({ app: await summary(c, app), job: job ? jobJson(job) : null }, { status: 201 });
  });

  r.get("/api/v1/apps/:app", { auth: "viewer" }, async (c) => Response.json({ app: await summary(c, await loadApp(c)) }));

  r.patch("/api/v1/apps/:app", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const raw = await readJson(c, z.record(z.string(), z.unknown()));
    if ("name" in raw) throw badRequest("name cannot be changed; create a new app instead.");
    const parsed = updateAppSchema.safeParse(raw);
    if (!parsed.success) throw validationError(parsed.error, "body");
    const { domains } = parsed.data;
    if (domains) {
      try {
        await assertDomainsFree(c.services.db, domains, app.id);
      } catch (error) {
        if (error instanceof DomainTakenError) throw conflict("domain_taken", error.message);
        throw error;
      }
    }
    if (parsed.data.autoDeploy !== undefined && parsed.data.autoDeploy !== app.autoDeploy && app.githubRepo) {
      try {
        await syncWebhook(c.services, app, parsed.data.autoDeploy);
      } catch (error) {
        throw gitHubFailure(
          error,
          `Auto-deploy was not turned ${parsed.data.autoDeploy ? "on" : "off"}: the webhook could not be ${parsed.data.autoDeploy ? "created" : "removed"}`,
        );
      }
    }
    await c.services.db
      .update(apps)
      .set({ ...parsed.data, updatedAt: new Date() })
      .where(eq(apps.id, app.id));
    await audit(c, "app.updated", `app:${app.name}`, { fields: Object.keys(parsed.data) });
    await c.services.events.publish({ type: "app.updated", appId: app.id, app: app.name });
    // New host names reach nginx through a job, so a refused configuration is reported and undone there.
    const domainsChanged = domains !== undefined && domains.join(" ") !== app.domains.join(" ");
    const job =
      domainsChanged && app.status !== "new"
        ? await c.services.orchestrator.enqueue({
            kind: "configure-proxy",
            appId: app.id,
            params: { previousDomains: app.domains },
            createdBy: c.auth?.user.id,
            trigger: c.auth?.user.email,
          })
        : null;
    return Response.json({ app: await summary(c, app), job: job ? jobJson(job) : null });
  });

  r.delete("/api/v1/apps/:app", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const body = await readJson(c, z.object({ confirm: z.string({ error: "confirm is required: type the app's name" }) }));
    if (body.confirm !== app.name) {
      throw new HttpError(400, "confirmation_mismatch", `To delete, confirm with the app's name exactly: ${app.name}.`);
    }
    await deleteApp(c.services, app);
    await audit(c, "app.deleted", `app:${app.name}`);
    return new Response(null, { status: 204 });
  });

  r.post("/api/v1/apps/:app/deploy", { auth: "deployer" }, async (c) => {
    const app = await loadApp(c);
    const body = await readJson(
      c,
      z.object({
        ref: z
          .string()
          .regex(/^[0-9a-f]{40}$/, "must be a full 40-character commit sha")
          .optional(),
      }),
    );
    const job = await c.services.orchestrator.enqueue({
      kind: "deploy",
      appId: app.id,
      params: body.ref ? { ref: body.ref } : {},
      createdBy: c.auth?.user.id,
      trigger: c.auth?.user.email,
    });
    await audit(c, "app.deploy", `app:${app.name}`, { jobId: job.id, ...(body.ref ? { ref: body.ref } : {}) });
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });

  r.post("/api/v1/apps/:app/rollback", { auth: "deployer" }, async (c) => {
    const app = await loadApp(c);
    const { releaseId } = await readJson(c, z.object({ releaseId: z.uuid({ error: "releaseId must be a release id" }) }));
    const rows = await listReleases(c.services.db, app.id, 100);
    const target = rows.find((r) => r.id === releaseId);
    if (!target) throw notFound(`Release ${releaseId} of ${app.name}`);
    if (!rollbackEligible(rows).some((r) => r.id === releaseId)) {
      throw new HttpError(
        422,
        "not_rollback_eligible",
        !target.healthy
          ? `v${target.number} never passed its health check, so it cannot be rolled back to.`
          : target.status === "rolled_back"
            ? `v${target.number} was taken back automatically after its switch (${String(target.details?.reason ?? "5xx errors")}); deploy a fix instead.`
            : `v${target.number} is older than the last ${RETAINED_RELEASES} good releases and its files were pruned.`,
      );
    }
    const job = await c.services.orchestrator.enqueue({
      kind: "rollback",
      appId: app.id,
      params: { releaseId },
      createdBy: c.auth?.user.id,
      trigger: c.auth?.user.email,
    });
    await audit(c, "app.rollback", `app:${app.name}`, { jobId: job.id, releaseId, release: target.number });
    return Response.json({ job: jobJson(job) }, { status: 202 });
  });

  r.get("/api/v1/apps/:app/releases", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const rows = await listReleases(c.services.db, app.id, 100);
    const eligible = new Set(rollbackEligible(rows).map((r) => r.id));
    return Response.json({ releases: rows.map((r) => releaseJson(r, eligible)), retained: RETAINED_RELEASES });
  });

  r.get("/api/v1/apps/:app/slots", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const rows = await appSlots(c.services.db, app.id);
    const releaseRows = await listReleases(c.services.db, app.id, 100);
    const out = await Promise.all(
      rows.map(async (s) => {
        const status = await c.services.runtime.status(app.name, s.color);
        const release = releaseRows.find((r) => r.id === s.releaseId);
        return {
          color: s.color,
          port: s.port,
          state: s.state,
          release: release ? releaseJson(release) : null,
          startedAt: s.startedAt,
          process: status,
        };
      }),
    );
    return Response.json({ slots: out });
  });

  r.get("/api/v1/apps/:app/slots/:color/logs", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { color } = readParams(c, z.object({ color: z.enum(COLORS, { error: "must be blue or green" }) }));
    const { lines } = readQuery(c, z.object({ lines: z.coerce.number().int().min(1).max(5000).default(200) }));
    return Response.json({ lines: await c.services.runtime.logs(app.name, color, { lines }) });
  });

  r.get("/api/v1/apps/:app/jobs", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { limit } = readQuery(c, z.object({ limit: z.coerce.number().int().min(1).max(200).default(30) }));
    const rows = await c.services.db.select().from(jobs).where(eq(jobs.appId, app.id)).orderBy(desc(jobs.createdAt)).limit(limit);
    return Response.json({ jobs: rows.map(jobJson) });
  });
}
