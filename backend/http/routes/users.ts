import { z } from "zod";
import { hashPassword, passwordSchema } from "../../auth/passwords.ts";
import type { Role } from "../../contract/api.ts";
import { listAudit } from "../../db/queries/audit.ts";
import { createUser, deleteUser, findUserByEmail, findUserById, listUsers, ROLES, updateUser } from "../../db/queries/users.ts";
import { APP_NAME_PATTERN } from "../../domain/apps.ts";
import { audit } from "../audit.ts";
import { readJson, readParams, readQuery } from "../context.ts";
import { badRequest, conflict, forbidden, notFound } from "../errors.ts";
import { hasRole, requireRole } from "../middleware/auth.ts";
import type { Router } from "../router.ts";
import { auditJson, userJson } from "../shapes.ts";

const role = z.enum(ROLES, { error: `must be one of ${ROLES.join(", ")}` });
const createBody = z.object({
  email: z.email({ error: "must be a valid email address" }).max(254),
  name: z.string({ error: "name is required" }).trim().min(1, "must not be empty").max(100),
  password: passwordSchema,
  role,
});
const patchBody = z
  .object({ role: role.optional(), name: z.string().trim().min(1).max(100).optional(), password: passwordSchema.optional() })
  .refine((v) => Object.keys(v).length > 0, "nothing to change");
const idParam = z.object({ id: z.uuid({ error: "must be a user id" }) });

/** Nobody hands out more power than they hold; only the owner makes admins, and there is one owner. */
function assertCanGrant(actor: Role, target: Role): void {
  if (target === "owner") throw forbidden("There is one owner; ownership cannot be granted.");
  if (target === "admin" && actor !== "owner") throw forbidden("Only the owner can grant the admin role.");
  if (!hasRole(actor, target)) throw forbidden(`You cannot grant the ${target} role.`);
}

export function userRoutes(r: Router): void {
  r.get("/api/v1/users", { auth: "admin" }, async (c) => {
    requireRole(c, "admin");
    return Response.json({ users: (await listUsers(c.services.db)).map(userJson) });
  });

  r.post("/api/v1/users", { auth: "admin" }, async (c) => {
    const auth = requireRole(c, "admin");
    const body = await readJson(c, createBody);
    assertCanGrant(auth.user.role, body.role);
    if (await findUserByEmail(c.services.db, body.email)) throw conflict("email_taken", `A user with email ${body.email} already exists.`);
    const user = await createUser(c.services.db, { ...body, passwordHash: await hashPassword(body.password) });
    await audit(c, "user.created", `user:${user.id}`, { email: user.email, role: user.role });
    return Response.json({ user: userJson(user) }, { status: 201 });
  });

  r.patch("/api/v1/users/:id", { auth: "admin" }, async (c) => {
    const auth = requireRole(c, "admin");
    const { id } = readParams(c, idParam);
    const body = await readJson(c, patchBody);
    const user = await findUserById(c.services.db, id);
    if (!user) throw notFound("User");
    const self = auth.user.id === user.id;
    if (self && body.password) {
      throw badRequest("Change your own password with POST /api/v1/auth/password; it asks for your current password.", {
        issues: [{ path: "password", message: "change your own password with POST /api/v1/auth/password" }],
      });
    }
    if (user.role === "owner" && !self) throw forbidden("Only the owner can change the owner's account.");
    if (user.role === "admin" && !self && auth.user.role !== "owner") throw forbidden("Only the owner can change another admin's account.");
    if (body.role && body.role !== user.role) {
      if (user.role === "owner") throw forbidden("The owner's role cannot be changed.");
      assertCanGrant(auth.user.role, body.role);
    }
    // Setting someone else's password is a reset: every session and API token of theirs goes.
    const password = body.password ? { hash: await hashPassword(body.password), revokeTokens: true } : undefined;
    const updated = await updateUser(c.services.db, id, {
      ...(body.role ? { role: body.role } : {}),
      ...(body.name ? { name: body.name } : {}),
      ...(password ? { password } : {}),
    });
    await audit(c, "user.updated", `user:${id}`, {
      fields: Object.keys(body),
      ...(body.role ? { role: body.role } : {}),
      ...(password?.revokeTokens ? { tokensRevoked: true } : {}),
    });
    return Response.json({ user: userJson(updated ?? user) });
  });

  r.delete("/api/v1/users/:id", { auth: "admin" }, async (c) => {
    const auth = requireRole(c, "admin");
    const { id } = readParams(c, idParam);
    const user = await findUserById(c.services.db, id);
    if (!user) throw notFound("User");
    if (user.role === "owner") throw forbidden("The owner cannot be deleted.");
    if (user.role === "admin" && auth.user.role !== "owner") throw forbidden("Only the owner can delete an admin.");
    await deleteUser(c.services.db, id);
    await audit(c, "user.deleted", `user:${id}`, { email: user.email });
    return new Response(null, { status: 204 });
  });

  r.get("/api/v1/audit", { auth: "admin" }, async (c) => {
    requireRole(c, "admin");
    const q = readQuery(
      c,
      z.object({
        before: z.coerce.number().int().positive().optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
        app: z.string().regex(APP_NAME_PATTERN, "must be an app's name").optional(),
        action: z
          .string()
          .regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/, "must be an action (app.deploy) or a kind of action (app)")
          .max(64)
          .optional(),
        user: z.uuid({ error: "must be a user's id" }).optional(),
      }),
    );
    return Response.json({ entries: (await listAudit(c.services.db, q)).map(auditJson) });
  });
}
