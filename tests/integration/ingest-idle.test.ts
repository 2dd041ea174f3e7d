import { describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { eq, sql } from "drizzle-orm";
import { findNginx } from "../../backend/adapters/proxy/index.ts";
import { apps, requestStats, requestTotals, trafficSwitches } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createTestApi, type TestApi } from "../helpers/panel.ts";
import { waitFor } from "../helpers/wait.ts";

const nginx = findNginx();

/** `count` access-log lines of the app, as nginx writes them. */
function lines(app: string, count: number): string {
  let text = "";
  for (let i = 0; i < count; i++) {
    text += `${JSON.stringify({
      msec: Date.now() / 1000,
      host: `${app}.localhost`,
      status: i % 4 === 0 ? 500 : 200,
      request_time: 0.003,
      upstream: `unix:/x/${app}.sock`,
      upstream_time: "0.002",
      bytes_in: 80,
      bytes_out: 40,
    })}\n`;
  }
  return text;
}

async function counted(api: TestApi, appId: string): Promise<{ minutes: number; totals: number }> {
  const db = api.services.db;
  const [stats] = await db
    .select({ requests: sql<string | null>`sum(${requestStats.requests})` })
    .from(requestStats)
    .where(eq(requestStats.appId, appId));
  const [totals] = await db.select({ requests: requestTotals.requests }).from(requestTotals).where(eq(requestTotals.appId, appId));
  return { minutes: Number(stats?.requests ?? 0), totals: totals?.requests ?? 0 };
}

async function newApp(api: TestApi, name: string): Promise<{ id: string; log: string }> {
  const db = api.services.db;
  const [app] = await db
    .insert(apps)
    .values({ name, repoUrl: `https://example.com/${name}.git` })
    .returning();
  if (!app) throw new Error("no app");
  await db.insert(trafficSwitches).values({ appId: app.id, at: new Date(Date.now() - 3_600_000), color: "blue", kind: "deploy" });
  await api.services.events.publish({ type: "app.created", appId: app.id, app: name });
  const log = api.services.proxy.paths.accessLog(name);
  mkdirSync(dirname(log), { recursive: true });
  return { id: app.id, log };
}

describe.skipIf(!nginx)(`background ingestion between quiet passes (${TEST_DB})`, () => {
  test("lines written after idle passes, a new app's lines and a rotated log are each counted once", async () => {
    const api = await createTestApi({ background: true, config: { SWITCHYARD_INGEST_MS: "100" } });
    try {
      const first = await newApp(api, "quiet");
      writeFileSync(first.log, lines("quiet", 30));
      const exactly = (appId: string, n: number, what: string) =>
        waitFor(
          async () => {
            const c = await counted(api, appId);
            if (c.minutes > n || c.totals > n) throw new Error(`${what}: counted ${c.minutes}/${c.totals}, more than ${n}`);
            return c.minutes === n && c.totals === n;
          },
          { what, timeoutMs: 30_000, intervalMs: 100 },
        );
      await exactly(first.id, 30, "the first lines to be counted");

      // The ingester now has nothing to read; lines that arrive later are still found.
      appendFileSync(first.log, lines("quiet", 20));
      await exactly(first.id, 50, "lines appended to a settled log");

      // An app created after the logs settled: its log is read too.
      const second = await newApp(api, "later");
      writeFileSync(second.log, lines("later", 15));
      await exactly(second.id, 15, "the new app's lines");

      // Rotation: the old file's tail and the new file are both read.
      appendFileSync(first.log, lines("quiet", 5));
      renameSync(first.log, `${first.log}.1`);
      writeFileSync(first.log, lines("quiet", 7));
      await exactly(first.id, 62, "the rotated log and its successor");

      const still = await api.services.db.select({ n: requestTotals.requests }).from(requestTotals);
      expect(still.map((r) => r.n).sort((a, b) => a - b)).toEqual([15, 62]);
    } finally {
      await api.close();
    }
  }, 120_000);
});
