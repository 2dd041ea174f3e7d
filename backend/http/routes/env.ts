import { z } from "zod";
import { productionEnvironment } from "../../db/queries/apps.ts";
import { readEnvVars, replaceEnvVars } from "../../db/queries/env.ts";
import { MAX_ENV_VALUE_BYTES, validateEnvKey } from "../../domain/env.ts";
import { audit } from "../audit.ts";
import { readJson } from "../context.ts";
import { HttpError } from "../errors.ts";
import type { Router } from "../router.ts";
import { loadApp } from "./apps.ts";

export const MASK = "••••••••";

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
    const body = await readJson(c, putBody);
    const issues: Array<{ path: string; message: string }> = [];
    const seen = new Set<string>();
    body.vars.forEach((v, i) => {
      const problem = validateEnvKey(v.key);
      if (problem) issues.push({ path: `vars.${i}.key`, message: problem });
      if (seen.has(v.key)) issues.push({ path: `vars.${i}.key`, message: `${v.key} appears twice` });
      seen.add(v.key);
      if (!v.keep && v.value === undefined) issues.push({ path: `vars.${i}.value`, message: `${v.key} needs a value` });
      if (v.value !== undefined && (v.value.includes("\0") || Buffer.byteLength(v.value) > MAX_ENV_VALUE_BYTES)) {
        issues.push({
          path: `vars.${i}.value`,
          message: `${v.key}'s value must have no NUL bytes and be at most ${MAX_ENV_VALUE_BYTES} bytes`,
        });
      }
    });
    if (issues.length > 0) {
      throw new HttpError(400, "validation_failed", `${issues[0]?.path}: ${issues[0]?.message}.`, { issues });
    }
    const environment = await productionEnvironment(c.services.db, app.id);
    // A masked secret sent back unchanged means "keep it".
    const vars = body.vars.map((v) => (v.secret && v.value === MASK ? { ...v, keep: true } : v));
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
