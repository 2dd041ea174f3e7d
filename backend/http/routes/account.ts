import { z } from "zod";
import { hashPassword, passwordSchema } from "../../auth/passwords.ts";
import { type AuthInfo, clearSessionCookie, publicSessionId } from "../../auth/sessions.ts";
import { describeDevice } from "../../auth/user-agent.ts";
import type * as contract from "../../contract/api.ts";
import { changePassword, deleteSession, deleteSessions, listSessions } from "../../db/queries/account.ts";
import { findUserById } from "../../db/queries/users.ts";
import type { Session } from "../../db/schema/index.ts";
import { audit } from "../audit.ts";
import { type Context, readJson, readParams, readQuery } from "../context.ts";
import { notFound, unauthenticated } from "../errors.ts";
import { requireRole } from "../middleware/auth.ts";
import { checkOwnPassword, reauthAttempt } from "../reauth.ts";
import type { Router } from "../router.ts";

const changePasswordBody = z
  .object({
    currentPassword: z.string().min(1, "must not be empty").max(256),
    newPassword: passwordSchema,
    signOutOtherSessions: z.boolean({ error: "must be true or false" }).default(true),
    revokeTokens: z.boolean({ error: "must be true or false" }).default(false),
  })
  .refine((v) => v.newPassword !== v.currentPassword, { path: ["newPassword"], message: "must differ from the current password" });

const sessionParam = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, "must be a session id") });
const signOutQuery = z.object({ all: z.enum(["1", "true", "0", "false"], { error: "must be 1 or 0" }).optional() });

function currentSessionId(auth: AuthInfo): string | null {
  return auth.kind === "session" ? auth.sessionId : null;
}

function sessionJson(s: Session, current: string | null): contract.AccountSession {
  return {
    id: publicSessionId(s.id),
    device: describeDevice(s.userAgent),
    userAgent: s.userAgent,
    ip: s.ip,
    createdAt: s.createdAt.toISOString(),
    lastSeenAt: s.lastSeenAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    current: s.id === current,
  };
}

function signOutHere(c: Context): void {
  c.responseHeaders.append("set-cookie", clearSessionCookie(c.services.config.publicUrl.protocol === "https:"));
}

export function accountRoutes(r: Router): void {
  r.post("/api/v1/auth/password", { auth: "viewer" }, async (c) => {
    const auth = requireRole(c, "viewer");
    const body = await readJson(c, changePasswordBody);
    const user = await findUserById(c.services.db, auth.user.id);
    if (!user) throw unauthenticated();
    await checkOwnPassword(c, user, body.currentPassword, reauthAttempt(c, user), {
      field: "currentPassword",
      during: "password-change",
      message: "Your current password is not right.",
    });
    const result = await changePassword(c.services.db, user.id, {
      passwordHash: await hashPassword(body.newPassword),
      signOutOthers: body.signOutOtherSessions,
      keep: currentSessionId(auth),
      revokeTokens: body.revokeTokens,
    });
    await audit(c, "auth.password_changed", `user:${user.id}`, { ...result });
    return Response.json(result satisfies contract.ChangePasswordResult);
  });

  r.get("/api/v1/auth/sessions", { auth: "viewer" }, async (c) => {
    const auth = requireRole(c, "viewer");
    const current = currentSessionId(auth);
    const rows = await listSessions(c.services.db, auth.user.id);
    return Response.json({ sessions: rows.map((s) => sessionJson(s, current)) } satisfies contract.SessionsResponse);
  });

  r.delete("/api/v1/auth/sessions/:id", { auth: "viewer" }, async (c) => {
    const auth = requireRole(c, "viewer");
    const { id } = readParams(c, sessionParam);
    // Only the caller's own sessions are looked at: anyone else's id is simply not found.
    const session = (await listSessions(c.services.db, auth.user.id)).find((s) => publicSessionId(s.id) === id);
    if (!session || !(await deleteSession(c.services.db, auth.user.id, session.id))) throw notFound("Session");
    const current = session.id === currentSessionId(auth);
    if (current) signOutHere(c);
    await audit(c, "auth.session_ended", `user:${auth.user.id}`, { session: id, device: describeDevice(session.userAgent), current });
    return Response.json({ signedOut: 1 } satisfies contract.SignedOutResponse);
  });

  r.delete("/api/v1/auth/sessions", { auth: "viewer" }, async (c) => {
    const auth = requireRole(c, "viewer");
    const { all } = readQuery(c, signOutQuery);
    const everywhere = all === "1" || all === "true";
    const signedOut = await deleteSessions(c.services.db, auth.user.id, everywhere ? null : currentSessionId(auth));
    if (everywhere) signOutHere(c);
    await audit(c, everywhere ? "auth.sessions_ended_all" : "auth.sessions_ended_others", `user:${auth.user.id}`, { signedOut });
    return Response.json({ signedOut } satisfies contract.SignedOutResponse);
  });
}
