import { sql } from "drizzle-orm";
import { boolean, check, integer, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { apps } from "./apps.ts";

/**
 * An app's formation: how many instances of each process type run (`web` and the Procfile's other
 * lines). A type with no row runs one instance (web) or one instance (a worker named in the Procfile).
 */
export const processes = pgTable(
  "processes",
  {
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    /** `web`, or a Procfile process type (`worker`, `clock`…). */
    type: text("type").notNull(),
    instances: integer("instances").notNull().default(1),
    /** Stopped by hand (a worker): it stays stopped across deploys until started again. */
    stopped: boolean("stopped").notNull().default(false),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.appId, t.type] }), check("processes_instances_check", sql`${t.instances} between 0 and 32`)],
);

export type ProcessRow = typeof processes.$inferSelect;
