import { z } from "zod";
import { validateRef } from "../../commands/git.ts";
import { appSummariesVersion, findAppByName, listAppSummaries, listReleases } from "../../db/queries/apps.ts";
import { listAppJobs } from "../../db/queries/jobs.ts";
import type { App } from "../../db/schema/index.ts";
import { createAppSchema, updateAppSchema } from "../../domain/app-settings.ts";
import { APP_NAME_PATTERN, DomainTakenError, newAppNameProblem, SLOT_COLORS } from "../../domain/apps.ts";
import { RETAINED_RELEASES, rollbackEligible } from "../../domain/retention.ts";
import { changeApp, createApp, deleteApp, slotLogs, slotsWithProcesses, WebhookSetupFailed } from "../../jobs/apps.ts";
import { GitHubProblem, userRepo } from "../../jobs/github-apps.ts";
import { RepositoryProblem } from "../../jobs/repository.ts";
import { requestRollback } from "../../jobs/rollback.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams, readQuery } from "../context.ts";
import { badRequest, conflict, HttpError, notFound, validationError } from "../errors.ts";
import type { Router } from "../router.ts";
import { appJson, jobJson, releaseJson, slotJson } from "../shapes.ts";
import { repositoryHttpError } from "./detect.ts";
import { gitHubHttpError, ownerRepo, viaGitHub } from "./github.ts";

const appParam = z.object({ app: z.string().regex(APP_NAME_PATTERN, "is not a valid app name") });

const createBody = createAppSchema.superRefine((v, ctx) => {
  const name = newAppNameProblem(v.name);
  if (name) ctx.addIssue({ code: "custom", path: ["name"], message: name });
});
const updateBody = updateAppSchema;

export async function loadApp(c: Context): Promise<App> {
  const { app: name } = readParams(c, appParam);
  const app = await findAppByName(c.services.db, name);
  if (!app) throw notFound(`App ${name}`);
  return app;
}

async function summary(c: Context, app: App) {
  const [one] = await listAppSummaries(c.services.db, [app.id]);
  if (!one) throw notFound(`App ${app.name}`);
  return appJson(one, c.services.proxy);
}

/**
 * The last answer of `GET /apps` per panel, with the version of the rows it was made from: it is
 * answered again only while `appSummariesVersion()` is unchanged, which is checked on every
 * request, so a change shows on the next request whichever panel made it.
 */
const listed = new WeakMap<object, { version: string; body: string }>();

/**
 * What the apps' addresses depend on beyond their rows: which routed hosts have a certificate
 * (files that change with no row of the apps list changing).
 */
function routesVersion(proxy: Context["services"]["proxy"]): string {
  return proxy
    .routedHosts()
    .map((host) => proxy.publicUrl("", [host]))
    .join(",");
}

async function appList(c: Context): Promise<string> {
  const version = `${await appSummariesVersion(c.services.db)}|${routesVersion(c.services.proxy)}`;
  const last = listed.get(c.services);
  if (last?.version === version) return last.body;
  // Read after the version: a change in between is seen as a new version on the next request.
  const body = JSON.stringify({ apps: (await listAppSummaries(c.services.db)).map((a) => appJson(a, c.services.proxy)) });
  listed.set(c.services, { version, body });
  return body;
}

const actor = (c: Context) => ({ userId: c.auth?.user.id ?? null, label: c.auth?.user.email ?? "api" });

export function appRoutes(r: Router): void {
  r.get("/api/v1/apps", { auth: "viewer" }, async (c) => {
    return new Response(await appList(c), { headers: { "content-type": "application/json;charset=utf-8" } });
  });

  r.post("/api/v1/apps", { auth: "admin" }, async (c) => {
    const raw = await readJson(c, z.record(z.string(), z.unknown(), { error: "the body must be a JSON object" }));
    // From a GitHub repository: its https clone URL (cloned with the user's token as a header) and default branch.
    let fromGitHub: { fullName: string; accountId: string } | null = null;
    if (raw.github !== undefined) {
      const picked = ownerRepo.safeParse(raw.github);
      if (!picked.success) throw validationError(picked.error, "body");
      const { info, accountId } = await viaGitHub(() => userRepo(c.services, c.auth?.user.id, picked.data.owner, picked.data.repo));
      raw.repoUrl = info.cloneUrl;
      raw.branch ??= info.defaultBranch;
      fromGitHub = { fullName: info.fullName, accountId };
    }
    const { github: _picked, ...rest } = raw;
    const parsed = createBody.safeParse(rest);
    if (!parsed.success) throw validationError(parsed.error, "body");
    const { deploy, ...body } = parsed.data;
    // Before the repository is asked (which takes a round trip): a taken name is the answer either way.
    if (await findAppByName(c.services.db, body.name)) throw conflict("app_exists", `An app named ${body.name} already exists.`);
    let created: Awaited<ReturnType<typeof createApp>>;
    try {
      created = await createApp(
        c.services,
        { ...body, ...(fromGitHub ? { githubRepo: fromGitHub.fullName, githubAccountId: fromGitHub.accountId } : {}) },
        { deploy: deploy === true, actor: actor(c) },
      );
    } catch (error) {
      if (error instanceof DomainTakenError) throw conflict("domain_taken", error.message);
      if (error instanceof RepositoryProblem) throw repositoryHttpError(error);
      if (error instanceof WebhookSetupFailed) {
        throw gitHubHttpError(error.reason, "The app was not created: its webhook could not be set up");
      }
      throw error;
    }
    const { app, job } = created;
    await audit(c, "app.created", `app:${app.name}`, { repoUrl: app.repoUrl, branch: app.branch });
    return Response.json({ app: await summary(c, app), job: job ? jobJson(job) : null }, { status: 201 });
  });

  r.get("/api/v1/apps/:app", { auth: "viewer" }, async (c) => Response.json({ app: await summary(c, await loadApp(c)) }));

  r.patch("/api/v1/apps/:app", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const raw = await readJson(c, z.record(z.string(), z.unknown()));
    if ("name" in raw) throw badRequest("name cannot be changed; create a new app instead.");
    const parsed = updateBody.safeParse(raw);
    if (!parsed.success) throw validationError(parsed.error, "body");
    const turning = parsed.data.autoDeploy;
    let job: Awaited<ReturnType<typeof changeApp>>["job"];
    try {
      ({ job } = await changeApp(c.services, app, parsed.data, actor(c)));
    } catch (error) {
      if (error instanceof DomainTakenError) throw conflict("domain_taken", error.message);
      if (!(error instanceof GitHubProblem)) throw error;
      throw gitHubHttpError(
        error,
        turning === undefined
          ? undefined
          : `Auto-deploy was not turned ${turning ? "on" : "off"}: the webhook could not be ${turning ? "created" : "removed"}`,
      );
    }
    await audit(c, "app.updated", `app:${app.name}`, { fields: Object.keys(parsed.data) });
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
          .trim()
          .superRefine((v, ctx) => {
            const problem = validateRef(v);
            if (problem) ctx.addIssue({ code: "custom", message: problem });
          })
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

  // Restart: the live release boots again in the idle slot and takes the traffic blue-green (after a
  // stop, the release that was live last comes back). Stop: both slots stop, workers included; the
  // app stays set up. Start: the restart job, which brings the last live release back.
  for (const action of ["restart", "stop", "start"] as const) {
    r.post(`/api/v1/apps/:app/${action}`, { auth: "deployer" }, async (c) => {
      const app = await loadApp(c);
      const kind = action === "stop" ? "stop" : "restart";
      const job = await c.services.orchestrator.enqueue({
        kind,
        appId: app.id,
        createdBy: c.auth?.user.id,
        trigger: c.auth?.user.email,
      });
      await audit(c, `app.${action}`, `app:${app.name}`, { jobId: job.id });
      return Response.json({ job: jobJson(job) }, { status: 202 });
    });
  }

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
    const job = await requestRollback(c.services, app, target, actor(c));
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
    const views = await slotsWithProcesses(c.services, app);
    return Response.json({ slots: views.map((v) => slotJson(v.slot, v.release, v.process)) });
  });

  r.get("/api/v1/apps/:app/slots/:color/logs", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { color } = readParams(c, z.object({ color: z.enum(SLOT_COLORS, { error: "must be blue or green" }) }));
    const { lines } = readQuery(c, z.object({ lines: z.coerce.number().int().min(1).max(5000).default(200) }));
    return Response.json({ lines: await slotLogs(c.services, app, color, lines) });
  });

  r.get("/api/v1/apps/:app/jobs", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const { limit } = readQuery(c, z.object({ limit: z.coerce.number().int().min(1).max(200).default(30) }));
    const rows = await listAppJobs(c.services.db, app.id, limit);
    return Response.json({ jobs: rows.map(jobJson) });
  });
}
