import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { AuditEntry } from "../../backend/contract/api.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";

/**
 * The activity feed (`GET /api/v1/audit`) filtered by app, by kind of action (an action or its
 * group) and by user; each filter alone and together, pages with `before`, and bad filters refused
 * naming the parameter.
 */
describe(`activity feed filters (${TEST_DB})`, () => {
  let api: TestApi;
  let owner: string;
  let admin: string;
  let ownerId: string;
  let adminId: string;
  let repo: TestRepo;

  const feed = async (query: string, cookie = owner) => {
    const res = await api.request<{ entries: AuditEntry[] }>("GET", `/api/v1/audit?${query}`, { cookie });
    expect(res.status).toBe(200);
    return res.body.entries;
  };

  beforeAll(async () => {
    api = await createTestApi();
    owner = await api.setupOwner();
    ownerId = (await api.request("GET", "/api/v1/auth/me", { cookie: owner })).body.user.id;
    const created = await api.request("POST", "/api/v1/users", {
      cookie: owner,
      body: { email: "ada@example.com", name: "Ada", password: "correct-horse-battery", role: "admin" },
    });
    expect(created.status).toBe(201);
    adminId = created.body.user.id;
    admin = cookieFrom(
      (await api.request("POST", "/api/v1/auth/login", { body: { email: "ada@example.com", password: "correct-horse-battery" } })).headers,
    );

    // The owner creates "shop"; the admin creates "blog" and changes both.
    repo = await createRepo({ "index.html": "<h1>test</h1>" });
    for (const [cookie, name] of [
      [owner, "shop"],
      [admin, "blog"],
    ] as const) {
      const res = await api.request("POST", "/api/v1/apps", {
        cookie,
        body: { name, repoUrl: repo.url, deploy: false },
      });
      expect(res.status).toBe(201);
    }
    for (const name of ["shop", "blog"]) {
      const res = await api.request("PATCH", `/api/v1/apps/${name}`, { cookie: admin, body: { healthPath: "/up" } });
      expect(res.status).toBe(200);
    }
  });

  afterAll(async () => {
    await api?.close();
    repo?.cleanup();
  });

  test("by app: only the entries about that app, newest first", async () => {
    const shop = await feed("app=shop");
    expect(shop.map((e) => e.action)).toEqual(["app.updated", "app.created"]);
    expect(shop.every((e) => e.target === "app:shop")).toBe(true);
    expect(await feed("app=nothing-here")).toEqual([]);
  });

  test("by kind: an exact action, or every action of its group", async () => {
    const updated = await feed("action=app.updated");
    expect(updated.map((e) => e.target).sort()).toEqual(["app:blog", "app:shop"]);
    const group = await feed("action=app");
    expect(group.map((e) => e.action).sort()).toEqual(["app.created", "app.created", "app.updated", "app.updated"]);
    // The user was created by an action of another group; "app" is not a prefix of "application".
    expect(group.some((e) => e.action === "user.created")).toBe(false);
    // `_` is a character, not LIKE's wildcard: "a_p" matches nothing.
    expect(await feed("action=a_p")).toEqual([]);
    const auth = await feed("action=auth");
    expect(auth.length).toBeGreaterThan(0);
    expect(auth.every((e) => e.action.startsWith("auth."))).toBe(true);
  });

  test("by user, and the filters together", async () => {
    const byAdmin = await feed(`user=${adminId}`);
    expect(byAdmin.length).toBeGreaterThan(0);
    expect(byAdmin.every((e) => e.userId === adminId && e.actor === "ada@example.com")).toBe(true);
    expect(byAdmin.map((e) => e.action)).toContain("app.created");

    expect((await feed(`user=${ownerId}&app=blog`)).length).toBe(0);
    const adminOnShop = await feed(`user=${adminId}&app=shop&action=app`);
    expect(adminOnShop.map((e) => e.action)).toEqual(["app.updated"]);
    expect((await feed(`user=${ownerId}&app=shop&action=app`)).map((e) => e.action)).toEqual(["app.created"]);
  });

  test("pages: `before` continues a filtered list", async () => {
    const first = await feed("action=app&limit=2");
    expect(first.length).toBe(2);
    const rest = await feed(`action=app&limit=2&before=${first.at(-1)?.id}`);
    expect(rest.length).toBe(2);
    expect(new Set([...first, ...rest].map((e) => e.id)).size).toBe(4);
    expect(rest.every((e) => e.id < (first.at(-1)?.id ?? 0))).toBe(true);
  });

  test("bad filters are refused naming the parameter", async () => {
    for (const [query, field] of [
      ["app=Not%20An%20App", "app"],
      ["action=app.%25", "action"],
      ["user=someone", "user"],
      ["limit=0", "limit"],
    ] as const) {
      const res = await api.request("GET", `/api/v1/audit?${query}`, { cookie: owner });
      expect(res.status).toBe(400);
      expect(res.body.error.details.issues[0].path).toBe(field);
      expect(res.body.error.message).toContain(field);
    }
  });
});
