import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createSession } from "../../backend/auth/sessions.ts";
import type { Role } from "../../backend/db/schema/users.ts";
import { hasRole } from "../../backend/http/middleware/auth.ts";
import type { Route } from "../../backend/http/router.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createTestApi, ORIGIN, type TestApi } from "../helpers/panel.ts";
import { fillPath, isErrorShape, madeUpParam, textTable } from "../helpers/route-table.ts";

type Who = "unauthenticated" | Role;
type Credential = "token" | "cookie";
const WHO: Who[] = ["unauthenticated", "viewer", "deployer", "admin", "owner"];
const SAFE = new Set(["GET", "HEAD"]);

interface Row {
  route: string;
  auth: string;
  who: string;
  via: string;
  status: number;
  expected: string;
  code: string;
}

/**
 * Every route in the router table, for every role and for nobody, signed in by API token and by
 * cookie session: a role below the route's least role is a 403, nobody is a 401, a role at or
 * above it is never turned away (made-up ids may well be 404s).
 */
describe(`route × role matrix (${TEST_DB})`, () => {
  let api: TestApi;
  const users = new Map<Role, { id: string; token: string }>();

  beforeAll(async () => {
    api = await createTestApi();
    const cookie = await api.setupOwner();
    const me = await api.request("GET", "/api/v1/auth/me", { cookie });
    const ownerToken = (await api.request("POST", "/api/v1/tokens", { cookie, body: { name: "owner" } })).body.token;
    users.set("owner", { id: me.body.user.id, token: ownerToken });
    for (const role of ["viewer", "deployer", "admin"] as const) {
      const email = `${role}@example.com`;
      const created = await api.request("POST", "/api/v1/users", {
        token: ownerToken,
        body: { email, name: role, password: "correct-horse-battery", role },
      });
      expect(created.status).toBe(201);
      const login = await api.request("POST", "/api/v1/auth/login", { body: { email, password: "correct-horse-battery" } });
      const session = login.headers.getSetCookie()[0]?.split(";")[0] ?? "";
      const token = (await api.request("POST", "/api/v1/tokens", { cookie: session, body: { name: role } })).body.token;
      users.set(role, { id: created.body.user.id, token });
    }
  });
  afterAll(async () => {
    await api?.close();
  });

  /** One request as `who`: a fresh cookie session each time, so a route that signs out cannot spoil the next row. */
  async function call(route: Route, who: Who, via: Credential, options: { origin?: boolean } = {}) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const user = who === "unauthenticated" ? null : users.get(who);
    if (user && via === "token") headers.authorization = `Bearer ${user.token}`;
    if (user && via === "cookie") headers.cookie = `sy_session=${(await createSession(api.services.db, user.id)).token}`;
    if (options.origin ?? via === "cookie") headers.origin = ORIGIN;
    const path = fillPath(route, madeUpParam);
    const res = await api.app.fetch(
      new Request(`http://localhost:3000${path}`, { method: route.method, headers, ...(SAFE.has(route.method) ? {} : { body: "{}" }) }),
    );
    let body: unknown = null;
    if ((res.headers.get("content-type") ?? "").includes("text/event-stream")) await res.body?.cancel();
    else body = await res.json().catch(() => null);
    return { status: res.status, body: body as { error?: { code?: string } } | null };
  }

  test("each role gets exactly what the route's auth allows, by token and by cookie", async () => {
    const routes: Route[] = api.app.router.routes;
    expect(routes.length).toBeGreaterThan(30);
    const wrong: Row[] = [];
    let checked = 0;
    for (const route of routes) {
      for (const via of ["token", "cookie"] as const) {
        for (const who of WHO) {
          const res = await call(route, who, via);
          checked++;
          let expected: string;
          let ok: boolean;
          if (route.auth === "public") {
            expected = "not 401/403";
            ok = res.status !== 401 && res.status !== 403;
          } else if (who === "unauthenticated") {
            expected = "401";
            ok = res.status === 401 && isErrorShape(res.body);
          } else if (!hasRole(who, route.auth)) {
            expected = "403";
            ok = res.status === 403 && isErrorShape(res.body);
          } else {
            expected = "not 401/403";
            ok = res.status !== 401 && res.status !== 403 && res.status < 500;
          }
          if (!ok) {
            wrong.push({
              route: `${route.method} ${route.pattern}`,
              auth: route.auth,
              who,
              via,
              status: res.status,
              expected,
              code: res.body?.error?.code ?? "",
            });
          }
        }
      }
    }
    if (wrong.length > 0) console.error(`${wrong.length} of ${checked} answers were wrong:\n${textTable(wrong)}`);
    expect(wrong).toEqual([]);
  });

  test("a cookie without Origin is refused on every unsafe route; a token needs no Origin", async () => {
    const wrong: Row[] = [];
    for (const route of api.app.router.routes.filter((r: Route) => !SAFE.has(r.method))) {
      const cookie = await call(route, "owner", "cookie", { origin: false });
      if (cookie.status !== 403 || cookie.body?.error?.code !== "origin_required") {
        wrong.push({
          route: `${route.method} ${route.pattern}`,
          auth: route.auth,
          who: "owner",
          via: "cookie, no Origin",
          status: cookie.status,
          expected: "403 origin_required",
          code: cookie.body?.error?.code ?? "",
        });
      }
      const token = await call(route, "owner", "token", { origin: false });
      if (token.status === 401 || token.body?.error?.code?.startsWith("origin_")) {
        wrong.push({
          route: `${route.method} ${route.pattern}`,
          auth: route.auth,
          who: "owner",
          via: "token, no Origin",
          status: token.status,
          expected: "no origin check",
          code: token.body?.error?.code ?? "",
        });
      }
    }
    if (wrong.length > 0) console.error(textTable(wrong));
    expect(wrong).toEqual([]);
  });
});
