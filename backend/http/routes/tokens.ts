import { z } from "zod";
import { generateApiToken, hashToken } from "../../auth/sessions.ts";
import { deleteToken, insertToken, listTokens } from "../../db/queries/tokens.ts";
import { audit } from "../audit.ts";
import { readJson, readParams } from "../context.ts";
import { notFound } from "../errors.ts";
import { requireRole } from "../middleware/auth.ts";
import type { Router } from "../router.ts";
import { tokenJson } from "../shapes.ts";

const createBody = z.object({
  name: z.string({ error: "name is required" }).trim().min(1, "must not be empty").max(80, "must be at most 80 characters"),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});
const idParam = z.object({ id: z.uuid({ error: "must be a token id" }) });

/** Personal API tokens: each acts with its owner's role. */
export function tokenRoutes(r: Router): void {
  r.get("/api/v1/tokens", { auth: "viewer" }, async (c) => {
    const auth = requireRole(c, "viewer");
    const rows = await listTokens(c.services.db, auth.user.id);
    return Response.json({ tokens: rows.map(tokenJson) });
  });

  r.post("/api/v1/tokens", { auth: "viewer" }, async (c) => {
    const auth = requireRole(c, "viewer");
    const body = await readJson(c, createBody);
    const token = generateApiToken();
    const row = await insertToken(c.services.db, {
      userId: auth.user.id,
      name: body.name,
      tokenHash: hashToken(token),
      prefix: token.slice(0, 8),
      expiresAt: body.expiresInDays ? new Date(Date.now() + body.expiresInDays * 86_400_000) : null,
    });
    await audit(c, "token.created", `token:${row.id}`, { name: body.name });
    return Response.json({ token, ...tokenJson(row) }, { status: 201 });
  });

  r.delete("/api/v1/tokens/:id", { auth: "viewer" }, async (c) => {
    const auth = requireRole(c, "viewer");
    const { id } = readParams(c, idParam);
    if (!(await deleteToken(c.services.db, auth.user.id, id))) throw notFound("Token");
    await audit(c, "token.revoked", `token:${id}`);
    return new Response(null, { status: 204 });
  });
}
