import { index, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { apps } from "./apps.ts";

/**
 * Who answers to a host name. `apps.domains` stays the list the API and nginx read; a trigger on
 * apps (migration 0005, `apps_domains_claim`) writes this table in the same statement, whichever
 * panel version writes the list, and the unique name makes two owners of one name impossible.
 */
export const domains = pgTable(
  "domains",
  {
    name: text("name").notNull(),
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("domains_name_idx").on(t.name), index("domains_app_idx").on(t.appId)],
);

export type Domain = typeof domains.$inferSelect;
