import { z } from "zod";
import { productionEnvironment } from "../../db/queries/apps.ts";
import { readEnvVars, replaceEnvVars } from "../../db/queries/env.ts";
import { MAX_ENV_TOTAL_BYTES, validateEnvKey, validateEnvSize, validateEnvValue } from "../../domain/env.ts";
import { audit } from "../audit.ts";
import { readJson } from "../context.ts";
import { HttpError } from "../errors.ts";
import type { Router } from "../router.ts";
import { loadApp } from "./apps.ts";

export const MASK = "••••••••";
/** Room for a full environment (see MAX_ENV_TOTAL_BYTES) written with JSON escapes. */
const PUT_BODY_LIMIT = 4 * MAX_ENV_TOTAL_BYTES;

const putBody = z.object({
  vars: z
    .array(
      z.object({
        key: z.string({ error: "key is required" }),
        value: z.string().optional(),
        secret: z.boolean().default(false),
        /** Keep the stored value (a secret the client only saw masked). */
        keep: z.boolean().optional(),
      }),
    )
    .max(500, "at most 500 variables"),
});

function invalid(issues: Array<{ path: string; message: string }>): HttpError {
  return new HttpError(400, "validation_failed", `${issues[0]?.path}: ${issues[0]?.message}.`, { issues });
}

export function envRoutes(r: Router): void {
  r.get("/api/v1/apps/:app/env", { auth: "viewer" }, async (c) => {
    const app = await loadApp(c);
    const environment = await productionEnvironment(c.services.db, app.id);
    const vars = await readEnvVars(c.services.db, c.services.masterKey, environment.id);
    return Response.json({
      environment: environment.name,
      vars: vars.map((v) => ({ key: v.key, value: v.secret ? MASK : v.value, secret: v.secret })),
    });
  });

  r.put("/api/v1/apps/:app/env", { auth: "admin" }, async (c) => {
    const app = await loadApp(c);
    const body = await readJson(c, putBody, PUT_BODY_LIMIT);
    const issues: Array<{ path: string; message: string }> = [];
    const seen = new Set<string>();
    body.vars.forEach((v, i) => {
      const problem = validateEnvKey(v.key);
      if (problem) issues.push({ path: `vars.${i}.key`, message: problem });
      else if (seen.has(v.key)) issues.push({ path: `vars.${i}.key`, message: `${v.key} appears twice` });
      seen.add(v.key);
      const name = problem ? `variable ${i + 1}` : v.key;
      if (!v.keep && v.value === undefined) issues.push({ path: `vars.${i}.value`, message: `${name} needs a value` });
      const valueProblem = v.value === undefined ? null : validateEnvValue(name, v.value);
      if (valueProblem) issues.push({ path: `vars.${i}.value`, message: valueProblem });
    });
    if (issues.length > 0) throw invalid(issues);
    const environment = await productionEnvironment(c.services.db, app.id);
    // A masked secret sent back unchanged means "keep it".
    const vars = body.vars.map((v) => (v.secret && v.value === MASK ? { ...v, keep: true } : v));
    // The size of what the app would be started with: kept values count as stored.
    const stored = new Map((await readEnvVars(c.services.db, c.services.masterKey, environment.id)).map((v) => [v.key, v.value]));
    const sizeProblem = validateEnvSize(
      vars.map((v) => ({ key: v.key, value: (v.keep ? stored.get(v.key) : undefined) ?? v.value ?? "" })),
    );
    if (sizeProblem) throw invalid([{ path: "vars", message: sizeProblem }]);
    const change = await replaceEnvVars(c.services.db, c.services.masterKey, environment.id, vars);
    await audit(c, "env.updated", `app:${app.name}`, { ...change });
    const saved = await readEnvVars(c.services.db, c.services.masterKey, environment.id);
    return Response.json({
      vars: saved.map((v) => ({ key: v.key, value: v.secret ? MASK : v.value, secret: v.secret })),
      change,
      deployNeeded: change.added.length + change.changed.length + change.removed.length > 0,
    });
  });
}
