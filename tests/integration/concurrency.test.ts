import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, inArray, sql } from "drizzle-orm";
import { osFreePorts } from "../../backend/adapters/ports.ts";
import { assignFreshPort } from "../../backend/db/queries/ports.ts";
import { apps, domains, jobs, slots } from "../../backend/db/schema/index.ts";
import { conflictFromDatabase } from "../../backend/http/errors.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";

/** Apps are made from a real repository: creating one asks it for its branch first. */
let repo: TestRepo;
beforeAll(async () => {
  repo = await createRepo({ "index.html": "<h1>test</h1>" });
});
afterAll(() => repo?.cleanup());

/** Against PGlite the requests queue on its one connection; against Postgres they truly overlap. */
describe(`concurrent writes are settled by the database (${TEST_DB})`, () => {
  let api: TestApi;
  let cookie: string;

  beforeAll(async () => {
    api = await createTestApi();
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api?.close();
  });

  const create = (name: string, extra: Record<string, unknown> = {}) =>
    api.request("POST", "/api/v1/apps", { cookie, body: { name, repoUrl: repo.url, ...extra } });

  test("five creates of one name: one 201, four 409 app_exists, no 500", async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => create("same-name")));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409]);
    for (const a of answers.filter((x) => x.status === 409)) {
      expect(a.body.error).toMatchObject({ code: "app_exists", message: "An app named same-name already exists." });
    }
    const rows = await api.services.db.select().from(apps).where(eq(apps.name, "same-name"));
    expect(rows).toHaveLength(1);
  });

  test("six creates of different names: six 201, twelve slots with twelve different ports", async () => {
    const names = Array.from({ length: 6 }, (_, i) => `parallel-${i}`);
    const answers = await Promise.all(names.map((n) => create(n)));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201, 201]);
    const ids = answers.map((a) => a.body.app.id as string);
    const rows = await api.services.db.select({ port: slots.port }).from(slots).where(inArray(slots.appId, ids));
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((r) => r.port)).size).toBe(12);
  });

  test("four apps claiming one domain at once: one owner, three 409 domain_taken", async () => {
    const names = ["claim-a", "claim-b", "claim-c", "claim-d"];
    for (const n of names) expect((await create(n)).status).toBe(201);
    const answers = await Promise.all(
      names.map((n) => api.request("PATCH", `/api/v1/apps/${n}`, { cookie, body: { domains: ["shared.example.com"] } })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409]);
    for (const a of answers.filter((x) => x.status === 409)) expect(a.body.error.code).toBe("domain_taken");
    const owners = await api.services.db.select().from(domains).where(eq(domains.name, "shared.example.com"));
    expect(owners).toHaveLength(1);
    const listing = await api.services.db.select({ id: apps.id, domains: apps.domains }).from(apps).where(inArray(apps.name, names));
    const holding = listing.filter((a) => a.domains.includes("shared.example.com"));
    expect(holding.map((a) => a.id)).toEqual([owners[0]?.appId as string]);
    const winner = answers.find((a) => a.status === 200);
    expect(winner?.body.app.domains).toEqual(["shared.example.com"]);
  });

  test("a domain is freed when its app lets go of it or is deleted", async () => {
    expect((await create("first-owner", { domains: ["moving.example.com"] })).status).toBe(201);
    expect((await create("second-owner", { domains: ["moving.example.com"] })).status).toBe(409);
    const release = await api.request("PATCH", "/api/v1/apps/first-owner", { cookie, body: { domains: [] } });
    expect(release.status).toBe(200);
    expect((await create("second-owner", { domains: ["moving.example.com"] })).status).toBe(201);
    const gone = await api.request("DELETE", "/api/v1/apps/second-owner", { cookie, body: { confirm: "second-owner" } });
    expect(gone.status).toBe(204);
    const rows = await api.services.db.select().from(domains).where(eq(domains.name, "moving.example.com"));
    expect(rows).toHaveLength(0);
  });

  test("two self-updates queued at once: one job, the other refused as update_running", async () => {
    const enqueue = () => api.services.orchestrator.enqueue({ kind: "self-update", appId: null, params: { revision: "aaaaaaaaaaaa" } });
    const results = await Promise.allSettled([enqueue(), enqueue()]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    const conflict = conflictFromDatabase(refused.reason);
    expect(conflict?.status).toBe(409);
    expect(conflict?.code).toBe("update_running");
    const queued = await api.services.db
      .select()
      .from(jobs)
      .where(inArray(jobs.status, ["queued", "running"]))
      .then((rows) => rows.filter((j) => j.kind === "self-update"));
    expect(queued).toHaveLength(1);
  });

  test("fresh ports for slots starting at once never collide with each other or with held ports", async () => {
    const all = await api.services.db.select({ id: slots.id, port: slots.port }).from(slots);
    const picked = all.slice(0, 6);
    const before = new Set(all.map((s) => s.port));
    const ports = await Promise.all(picked.map((s) => assignFreshPort(api.services.db, s.id)));
    expect(new Set(ports).size).toBe(ports.length);
    const after = await api.services.db.select({ port: slots.port }).from(slots);
    expect(new Set(after.map((s) => s.port)).size).toBe(after.length);
    for (const port of ports) expect(port).toBeGreaterThan(0);
    // Each new port was free when chosen: none is a port another slot held before.
    const untouched = all.slice(6).map((s) => s.port);
    for (const port of ports) expect(untouched).not.toContain(port);
    expect(before.size).toBe(all.length);
  });
});

/** Two connections are needed to hold one write open while another waits on it: Postgres only. */
describe.skipIf(TEST_DB !== "postgres")("a port taken by a concurrent transaction is retried (postgres)", () => {
  let api: TestApi;
  let cookie: string;

  beforeAll(async () => {
    api = await createTestApi();
    cookie = await api.setupOwner();
  });
  afterAll(async () => {
    await api?.close();
  });

  test("the waiting write fails on the unique index, rolls back its savepoint and takes another port", async () => {
    for (const name of ["holder", "waiter"]) {
      expect((await api.request("POST", "/api/v1/apps", { cookie, body: { name, repoUrl: repo.url } })).status).toBe(201);
    }
    const rows = await api.services.db
      .select({ id: slots.id, app: apps.name, color: slots.color })
      .from(slots)
      .innerJoin(apps, eq(apps.id, slots.appId));
    const holder = rows.find((r) => r.app === "holder" && r.color === "blue")?.id as string;
    const waiter = rows.find((r) => r.app === "waiter" && r.color === "blue")?.id as string;
    const contested = osFreePorts(1)[0] as number;
    const offers: number[][] = [];
    const offer = (count: number) => {
      const ports = offers.length === 0 ? [contested] : osFreePorts(count);
      offers.push(ports);
      return ports;
    };
    let waiting: Promise<number> | null = null;
    await api.services.db.transaction(async (tx) => {
      await tx.update(slots).set({ port: contested }).where(eq(slots.id, holder));
      waiting = assignFreshPort(api.services.db, waiter, offer);
      // Commit only once the other write waits on this one's uncommitted port.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const [blocked] = (await api.services.db.execute(
          sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        )) as unknown as Array<{ n: number }>;
        if (Number(blocked?.n) > 0) break;
        if (Date.now() > deadline) throw new Error("the second write never waited on the first");
        await Bun.sleep(20);
      }
    });
    const port = await (waiting as unknown as Promise<number>);
    expect(offers.length).toBe(2);
    expect(port).not.toBe(contested);
    const [held] = await api.services.db.select({ port: slots.port }).from(slots).where(eq(slots.id, holder));
    const [got] = await api.services.db.select({ port: slots.port }).from(slots).where(eq(slots.id, waiter));
    expect(held?.port).toBe(contested);
    expect(got?.port).toBe(port);
  });
});
