import { z } from "zod";
import { PACKAGE_MANAGERS, RUNTIMES } from "../../contract/api.ts";
import { appSettingsSchema } from "../../domain/app-settings.ts";
import { previewRepository, RepositoryProblem } from "../../jobs/repository.ts";
import { type Context, readQuery } from "../context.ts";
import { HttpError } from "../errors.ts";
import type { Router } from "../router.ts";

/** A repository or branch that cannot be used, as a 400 on that field (as the wizard shows field errors). */
export function repositoryHttpError(problem: RepositoryProblem): HttpError {
  return new HttpError(400, "validation_failed", `${problem.field}: ${problem.message}.`, {
    issues: [{ path: problem.field, message: problem.message }],
    ...(problem.field === "branch" ? { branches: problem.branches } : {}),
  });
}

const settings = appSettingsSchema.shape;
const detectQuery = z.object({
  repoUrl: settings.repoUrl,
  branch: settings.branch.default("main"),
  // As in the settings: empty means "detect".
  runtime: z
    .enum(["", ...RUNTIMES], { error: `must be one of ${RUNTIMES.join(", ")}, or empty to detect` })
    .optional()
    .transform((v) => v || null),
  installCommand: settings.installCommand,
  buildCommand: settings.buildCommand,
  startCommand: settings.startCommand,
  releaseCommand: settings.releaseCommand,
  rootDir: settings.rootDir.optional(),
  outputDir: settings.outputDir.optional(),
  // As in the settings: empty means "detect".
  packageManager: z
    .enum(["", ...PACKAGE_MANAGERS], { error: `must be one of ${PACKAGE_MANAGERS.join(", ")}, or empty to detect` })
    .optional()
    .transform((v) => v || null),
  bunVersion: settings.bunVersion.optional(),
  nodeVersion: settings.nodeVersion.optional(),
});

export function detectRoutes(r: Router): void {
  // Clones the branch's head into a temporary directory (removed after), as a deploy's fetch would.
  r.get("/api/v1/detect", { auth: "admin" }, async (c: Context) => {
    const { repoUrl, branch, ...overrides } = readQuery(c, detectQuery);
    try {
      const preview = await previewRepository(c.services, { repoUrl, branch, userId: c.auth?.user.id ?? null }, overrides);
      return Response.json(preview);
    } catch (error) {
      if (error instanceof RepositoryProblem) throw repositoryHttpError(error);
      throw error;
    }
  });
}
