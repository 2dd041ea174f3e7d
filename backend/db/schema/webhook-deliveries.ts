import { sql } from "drizzle-orm";
import { boolean, index, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { apps } from "./apps.ts";
import { jobs } from "./jobs.ts";

/**
 * Every GitHub delivery with what became of it: `deployed`, `ignored: …`, `rejected: …`. The raw
 * body of a delivery whose signature checked out is kept so it can be run again.
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    deliveryId: text("delivery_id").notNull(),
    event: text("event").notNull(),
    appId: uuid("app_id").references(() => apps.id, { onDelete: "cascade" }),
    outcome: text("outcome").notNull(),
    jobId: uuid("job_id").references(() => jobs.id, { onDelete: "set null" }),
    ref: text("ref"),
    commitSha: text("commit_sha"),
    commitMessage: text("commit_message"),
    commitAuthor: text("commit_author"),
    verified: boolean("verified").notNull().default(false),
    payload: text("payload"),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Only verified deliveries are de-duplicated: anyone can send an unsigned one with a real id.
    uniqueIndex("webhook_deliveries_verified_delivery_idx").on(t.deliveryId).where(sql`${t.verified}`),
    index("webhook_deliveries_delivery_id_idx").on(t.deliveryId),
    index("webhook_deliveries_app_idx").on(t.appId, t.receivedAt),
    index("webhook_deliveries_unverified_idx").on(t.verified, t.receivedAt),
  ],
);

export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
